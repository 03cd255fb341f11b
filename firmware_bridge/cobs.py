"""Consistent Overhead Byte Stuffing (Cheshire & Baker, 1999): removes every 0x00 from a payload
so 0x00 can delimit frames. Overhead: 1 byte per started 254 bytes of payload.
"""
from __future__ import annotations

from firmware_bridge.errors import RemoteProtocolError


def encode(data: bytes) -> bytes:
    """COBS-encode `data` (no trailing delimiter)."""
    out = bytearray()
    start = 0
    n = len(data)
    while True:
        zero = data.find(0, start, start + 254)
        if zero == -1:
            block = data[start:start + 254]
            if len(block) == 254:  # full block without zero: code 0xFF, no implied zero
                out.append(0xFF)
                out += block
                start += 254
                if start >= n:
                    break  # a full last block needs no terminator: 0xFF implies no zero
                continue
            out.append(len(block) + 1)
            out += block
            break
        out.append(zero - start + 1)
        out += data[start:zero]
        start = zero + 1
        if start > n:
            break
    return bytes(out)


def decode(data: bytes) -> bytes:
    """Decode one COBS block (delimiter already removed); RemoteProtocolError on bad stuffing."""
    if not data:
        raise RemoteProtocolError("cobs", "empty frame")
    out = bytearray()
    i = 0
    n = len(data)
    while i < n:
        code = data[i]
        if code == 0:
            raise RemoteProtocolError("cobs", f"zero code byte at {i}")
        end = i + code
        if end > n:
            raise RemoteProtocolError("cobs", f"block of {code - 1} bytes overruns frame of {n}")
        block = data[i + 1:end]
        if 0 in block:
            raise RemoteProtocolError("cobs", "zero inside block")
        out += block
        i = end
        if code != 0xFF and i < n:
            out.append(0)
    return bytes(out)
