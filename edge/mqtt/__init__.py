"""The gate's MQTT link: outbox delivery, status, telemetry and the administrators' console."""
