"""``make bench``: the queue exporter against Debian's redis_exporter on the same Redis."""
