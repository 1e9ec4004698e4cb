"""Codes as images to print: PNG at a phone's, a flyer's or a poster's size, or SVG."""

from __future__ import annotations

import io

import segno

from siyu.entries import errors
from siyu.entries.enums import CodeKind

PRINT_SIZES = (430, 860, 1280)  # px: a phone screen, a flyer, a poster (WeChat's width range)
MP_CODE_WIDTH = 1280  # the largest WeChat draws, so every print size scales down from it


def code_image(
    kind: CodeKind, url: str | None, image: bytes | None, *, fmt: str, size: int
) -> tuple[bytes, str]:
    """The code as PNG (size px square) or SVG. OA codes are drawn from the url WeChat encoded
    in them (what showqrcode draws); Mini Program codes are WeChat's own PNG (no SVG)."""
    if fmt not in ("png", "svg"):
        raise errors.IMAGE_FORMAT("formats: png, svg")
    if size not in PRINT_SIZES:
        sizes = ", ".join(map(str, PRINT_SIZES))
        raise errors.IMAGE_SIZE(f"sizes: {sizes}", sizes=sizes)
    if kind == CodeKind.mp_code:
        if fmt == "svg" or image is None:
            raise errors.IMAGE_UNAVAILABLE("Mini Program codes are drawn by WeChat as PNG only")
        return image, "image/png"
    if not url:
        raise errors.IMAGE_UNAVAILABLE("the code has no image")
    qr = segno.make(url, error="m", micro=False)
    out = io.BytesIO()
    if fmt == "svg":
        qr.save(out, kind="svg", scale=10, border=4, xmldecl=False)
        return out.getvalue(), "image/svg+xml"
    modules = qr.symbol_size(scale=1, border=4)[0]
    qr.save(out, kind="png", scale=max(1, size // modules), border=4)
    return out.getvalue(), "image/png"
