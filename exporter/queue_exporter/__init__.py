"""Redis job queue library and Prometheus exporter for redis-queue-stack."""
