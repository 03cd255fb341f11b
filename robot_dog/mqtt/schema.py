"""Payload contracts: JSON Schemas (draft 2020-12) for every JSON message of the tree.

The canonical files live next to this module in `schemas/` (found through importlib.resources,
so they load from an installed package); docs/schemas/ is a copy a test keeps identical.
Every payload carries its schema version in `v`. Size is checked before parsing: a broker or a
peer cannot make us parse megabytes of JSON.
"""
from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Iterable
from functools import cache
from importlib import resources
from importlib.resources.abc import Traversable
from typing import TYPE_CHECKING, Any

import fastjsonschema

# jsonschema (with attrs, referencing, rpds: +4.6 MB RSS) loads on the slow path only, when a
# payload is refused: the uplink and the bodycam validate and need never load it.
if TYPE_CHECKING:
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import ValidationError

from robot_dog.mqtt.errors import MqttLinkError
from robot_dog.mqtt.topics import Kind

_LOGGER = logging.getLogger(__name__)

#: Schema name -> largest accepted payload, bytes.
MAX_BYTES: dict[str, int] = {
    "telemetry": 16 * 1024,
    "event": 16 * 1024,
    "command": 8 * 1024,
    "result": 4 * 1024,
}
#: Binary kinds have no schema, only a size cap (a 640x480 JPEG is ~30-80 KiB).
MAX_BINARY_BYTES: dict[Kind, int] = {Kind.VIDEO: 512 * 1024, Kind.AUDIO: 64 * 1024,
                                     Kind.VOICE: 4 * 1024, Kind.STATUS: 16}
#: Which schema a topic kind carries.
SCHEMA_OF_KIND: dict[Kind, str] = {
    Kind.TELEMETRY: "telemetry", Kind.EVENTS: "event", Kind.CMD: "command", Kind.RESULT: "result",
}
NAMES = tuple(MAX_BYTES)
#: Deepest nesting of arrays/objects accepted in any JSON input (ours go 3 deep). CPython's
#: parser recurses once per level: 1,000 levels end in RecursionError, which is no ValueError
#: and ended paho's network thread. Checked before parsing, in C-speed passes.
MAX_DEPTH = 32


class SchemaError(MqttLinkError, ValueError):
    """A payload broke its contract. `field` is a dotted path ("battery.percent", "" = root)."""

    def __init__(self, schema: str, field: str, reason: str):
        self.schema, self.field, self.reason = schema, field, reason
        where = f" field {field!r}" if field else ""
        super().__init__(f"{schema}:{where} {reason}")


class PayloadTooLarge(SchemaError):
    """Refused before parsing."""


class TooDeep(SchemaError):
    """Nested deeper than MAX_DEPTH: refused before parsing."""


def schema_files() -> Traversable:
    """The directory (Traversable) holding the canonical schema files."""
    return resources.files("robot_dog.mqtt").joinpath("schemas")


@cache
def load(name: str) -> dict[str, Any]:
    """The schema document `name` (one of NAMES)."""
    if name not in MAX_BYTES:
        raise KeyError(f"no schema {name!r}; known: {', '.join(NAMES)}")
    doc: dict[str, Any] = json.loads(schema_files().joinpath(f"{name}.json").read_text(encoding="utf-8"))
    return doc


@cache
def _validator(name: str) -> Draft202012Validator:
    from jsonschema import Draft202012Validator
    doc = load(name)
    Draft202012Validator.check_schema(doc)
    return Draft202012Validator(doc)


def _path(parts: Iterable[str | int]) -> str:
    out = ""
    for p in parts:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out


def _field_of(error: ValidationError) -> str:
    base = _path(error.absolute_path)
    extra: list[str] = []
    if error.validator == "required" and isinstance(error.instance, dict):
        extra = [k for k in error.validator_value if k not in error.instance][:1]
    elif error.validator == "additionalProperties" and isinstance(error.instance, dict):
        allowed = error.schema.get("properties", {})
        extra = sorted(k for k in error.instance if k not in allowed)[:1]
    return _path([*error.absolute_path, *extra]) if extra else base


@cache
def _fast(name: str) -> Callable[[Any], Any]:
    # Compiled to Python code: ~10x faster than jsonschema, which the station needs at
    # 10,000 telemetry messages/s. The schemas use only keywords both libraries share.
    return fastjsonschema.compile(load(name))


def check(name: str, obj: Any) -> None:
    """Raise SchemaError naming the first offending field if `obj` breaks schema `name`."""
    try:
        _fast(name)(obj)
        return
    except fastjsonschema.JsonSchemaException as exc:
        fast_reason = str(exc)
    # Slow path, only for bad payloads: jsonschema names the offending field precisely.
    errors = sorted(_validator(name).iter_errors(obj), key=lambda e: (len(e.absolute_path), e.path))
    if errors:
        error = errors[0]
        raise SchemaError(name, _field_of(error), error.message)
    raise SchemaError(name, "", fast_reason)  # the two validators disagree: refuse, to be safe


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        seen: set[str] = set()
        dup = ""
        for key, _ in pairs:
            if key in seen:
                dup = key
                break
            seen.add(key)
        raise ValueError(f"duplicate key {dup!r}")
    return obj


def _no_constants(token: str) -> Any:
    raise ValueError(f"{token} is not JSON")


# One decoder, built once: json.loads with hooks would build a JSONDecoder per call.
_STRICT = json.JSONDecoder(object_pairs_hook=_no_duplicates, parse_constant=_no_constants)


# A JSON string (brackets inside it do not nest) or one bracket.
_NESTING = re.compile(rb'"(?:[^"\\]|\\.)*"|[\[\]{}]', re.DOTALL)


def check_depth(payload: bytes, max_depth: int = MAX_DEPTH, name: str = "payload") -> None:
    """Raise TooDeep if arrays/objects in `payload` nest deeper than `max_depth`."""
    if payload.count(b"[") + payload.count(b"{") <= max_depth:
        return  # the common case: too few brackets to nest that deep, no scan
    depth = 0
    for match in _NESTING.finditer(payload):
        token = match.group()
        if token in (b"[", b"{"):
            depth += 1
            if depth > max_depth:
                raise TooDeep(name, "", f"nested deeper than {max_depth} levels")
        elif token in (b"]", b"}"):
            depth -= 1


def strict_loads_text(payload: bytes, max_bytes: int, name: str = "payload") -> tuple[Any, str]:
    """strict_loads, also returning the decoded UTF-8 text (stored as is by the station)."""
    if len(payload) > max_bytes:
        raise PayloadTooLarge(name, "", f"{len(payload)} bytes exceeds the limit of {max_bytes}")
    check_depth(payload, MAX_DEPTH, name)
    try:
        text = payload.decode("utf-8")
        return _STRICT.decode(text), text
    except (UnicodeDecodeError, ValueError) as exc:
        raise SchemaError(name, "", f"not valid JSON: {exc}") from None
    except RecursionError:  # unreachable after check_depth; never let it reach a network thread
        raise TooDeep(name, "", "nested too deep for the parser") from None


def strict_loads(payload: bytes, max_bytes: int, name: str = "payload") -> Any:
    """Parse JSON that is UTF-8, at most `max_bytes` and MAX_DEPTH deep, without NaN/Infinity
    or duplicate keys. The one decoder for every JSON input from outside (MQTT and HTTP).

    Duplicate keys matter for signed payloads: two parsers must never disagree on a value.
    """
    return strict_loads_text(payload, max_bytes, name)[0]


def decode_text(name: str, payload: bytes) -> tuple[dict[str, Any], str]:
    """decode, also returning the payload's text: validated once, never re-encoded."""
    obj, text = strict_loads_text(payload, MAX_BYTES[name], name)
    check(name, obj)
    return obj, text


def decode(name: str, payload: bytes) -> dict[str, Any]:
    """Bytes off the wire -> validated dict, or SchemaError / PayloadTooLarge."""
    obj = strict_loads(payload, MAX_BYTES[name], name)
    check(name, obj)
    if not isinstance(obj, dict):  # every schema's top level is an object; said twice for types
        raise SchemaError(name, "", "not a JSON object")
    return obj


def encode(name: str, obj: dict[str, Any]) -> bytes:
    """Validated dict -> compact UTF-8 JSON; raises like decode so a bad sender fails loudly."""
    check(name, obj)
    data = json.dumps(obj, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode()
    if len(data) > MAX_BYTES[name]:
        raise PayloadTooLarge(name, "", f"{len(data)} bytes exceeds the limit of {MAX_BYTES[name]}")
    return data
