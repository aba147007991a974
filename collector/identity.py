"""How a collector is known to the broker: its shared-subscription group and its client id (the defaults of
`gatepost collector run` too, which reads them from here without importing the MQTT client)."""

GROUP = "collectors"
CLIENT_ID = "gatepost-collector-1"
