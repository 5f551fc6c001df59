"""The queue library: jobs, queues, reliable consumption and the one-round-trip snapshot read.

Producers, workers, queuectl, the exporter and the operator import it; it needs redis-py and
nothing of aiohttp, so a worker installs `redis-queue-stack` without extras."""
