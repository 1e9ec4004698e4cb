"""A tiny valid PNG (a blank square) standing in for WeChat's Mini Program code images."""

from __future__ import annotations

import struct
import zlib


def _chunk(kind: bytes, data: bytes) -> bytes:
    crc = zlib.crc32(kind + data) & 0xFFFFFFFF
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)


def blank_png(width: int) -> bytes:
    """A white `width`×`width` 1-bit grayscale PNG: small to send, real to decode."""
    header = struct.pack(">IIBBBBB", width, width, 1, 0, 0, 0, 0)
    row = b"\x00" + b"\xff" * ((width + 7) // 8)  # filter byte, then white pixels
    pixels = zlib.compress(row * width, 9)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", pixels)
        + _chunk(b"IEND", b"")
    )
