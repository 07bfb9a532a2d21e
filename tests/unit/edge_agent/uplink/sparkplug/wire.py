"""An independent Sparkplug B decoder for the tests: the protobuf wire format read by
hand, with the field numbers and types of the Sparkplug 3.0 specification's schema typed
in here from the specification (not from edge-agent's .proto or generated code).

`decode(data)` gives a dict: {"timestamp", "seq", "metrics": [{"name", "timestamp",
"datatype", "is_historical", "is_null", "value", "properties": {key: value}}]}.
"""

from __future__ import annotations

import struct
from typing import Any

# field number -> (name, kind); kind: varint, bool, str, bytes, double, float, or a schema
PROPERTY_VALUE = {1: ("type", "varint"), 2: ("is_null", "bool"), 3: ("value", "varint"),
                  4: ("value", "varint"), 5: ("value", "float"), 6: ("value", "double"),
                  7: ("value", "bool"), 8: ("value", "str")}  # fmt: skip
PROPERTY_SET = {1: ("keys", "str"), 2: ("values", PROPERTY_VALUE)}
METRIC = {1: ("name", "str"), 2: ("alias", "varint"), 3: ("timestamp", "varint"),
          4: ("datatype", "varint"), 5: ("is_historical", "bool"), 6: ("is_transient", "bool"),
          7: ("is_null", "bool"), 9: ("properties", PROPERTY_SET), 10: ("value", "varint"),
          11: ("value", "varint"), 12: ("value", "float"), 13: ("value", "double"),
          14: ("value", "bool"), 15: ("value", "str"), 16: ("value", "bytes")}  # fmt: skip
PAYLOAD = {1: ("timestamp", "varint"), 2: ("metrics", METRIC), 3: ("seq", "varint"),
           4: ("uuid", "str"), 5: ("body", "bytes")}  # fmt: skip
REPEATED = {"metrics", "keys", "values"}


def _varint(buf: bytes, i: int) -> tuple[int, int]:
    shift = result = 0
    while True:
        b = buf[i]
        i += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, i
        shift += 7


def _message(buf: bytes, schema: dict[int, tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    i = 0
    while i < len(buf):
        key, i = _varint(buf, i)
        num, wire = key >> 3, key & 7
        if wire == 0:
            raw: Any
            raw, i = _varint(buf, i)
        elif wire == 1:
            raw, i = buf[i : i + 8], i + 8
        elif wire == 5:
            raw, i = buf[i : i + 4], i + 4
        elif wire == 2:
            n, i = _varint(buf, i)
            raw, i = buf[i : i + n], i + n
        else:
            raise ValueError(f"wire type {wire} not expected")
        name, kind = schema[num]
        if isinstance(kind, dict):
            value: Any = _message(raw, kind)
        elif kind == "varint":
            value = raw
        elif kind == "bool":
            value = bool(raw)
        elif kind == "str":
            value = raw.decode()
        elif kind == "double":
            value = struct.unpack("<d", raw)[0]
        elif kind == "float":
            value = struct.unpack("<f", raw)[0]
        else:
            value = bytes(raw)
        if name in REPEATED:
            out.setdefault(name, []).append(value)
        else:
            out[name] = value
    return out


def decode(data: bytes) -> dict[str, Any]:
    msg = _message(data, PAYLOAD)
    for m in msg.setdefault("metrics", []):
        props = m.pop("properties", {})
        m["properties"] = {
            k: v.get("value") for k, v in zip(props.get("keys", []), props.get("values", []),
                                              strict=True)
        }  # fmt: skip
        if m.get("datatype") == 3 and isinstance(m.get("value"), int):  # Int32 in uint32
            m["value"] = m["value"] - (1 << 32) if m["value"] >= 1 << 31 else m["value"]
    return msg


def metrics(data: bytes) -> dict[str, dict[str, Any]]:
    """Metrics by name (names are unique within a payload)."""
    return {m["name"]: m for m in decode(data)["metrics"]}
