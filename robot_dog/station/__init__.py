"""Station: MQTT ingest -> storage, live video relay, and the web viewer."""
