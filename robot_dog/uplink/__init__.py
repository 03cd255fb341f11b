"""Dog-side MQTT uplink: telemetry, video and status to the station."""
