"""Kopf operator that runs a durable Redis queue for each RedisQueue resource."""
