"""The Sparkplug B dialect: the payload schema (sparkplug_b.proto, compiled by
protoc), payloads (payload.py) and the Edge Node (node.py)."""
