"""The MQTT API: topics, payloads, the connection, and the outbox drain."""
