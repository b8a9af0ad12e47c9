"""`emon serve`: the engine as a 24/7 service (MQTT, storage, delivery, HTTP API)."""
