"""MQTT building blocks of the dog <-> station link (docs/mqtt.md).

Pure cores: `topics` (the tree), `schema` (payload contracts), `signing` (command envelopes),
`store_forward` (the dog's on-disk outbox). Thin I/O shell: `client` (paho adapter).
Around it: `broker` (a local Mosquitto from a generated config: demo, tests, benchmarks) and
`private_file` (the outbox's and the station's databases are created 0600).
Every error of the link derives from `errors.MqttLinkError` (starting a broker: `broker.BrokerError`).
"""
