"""MQTT building blocks of the dog <-> station link (docs/mqtt.md).

Pure cores: `topics` (the tree), `schema` (payload contracts), `signing` (command envelopes),
`store_forward` (the dog's on-disk outbox). Thin I/O shell: `client` (paho adapter).
Every error raised here derives from `errors.MqttLinkError`.
"""
