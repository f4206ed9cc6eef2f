"""The edge agent: probes devices and publishes their statuses over MQTT."""
