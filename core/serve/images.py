"""Guarded image decoding: known formats only, pixel count checked before the pixels are decoded.

The header of each accepted format is read by hand (a few bytes), so a
decompression bomb is refused without allocating its pixels; OpenCV then decodes.
"""

from __future__ import annotations

import struct

import cv2
import numpy as np

from core.serve.problems import ApiError

MAX_PIXELS = 40_000_000  # about a 7,000 x 6,000 photo


def sniff_format(data: bytes) -> str | None:
    if data.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if data.startswith(b"BM"):
        return "bmp"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    return None


def header_size(data: bytes, kind: str) -> tuple[int, int] | None:
    """(width, height) from the header, or None when the header does not say (decoded size checked)."""
    try:
        if kind == "png":
            width, height = struct.unpack(">II", data[16:24])
            return width, height
        if kind == "bmp":
            width, height = struct.unpack("<ii", data[18:26])
            return abs(width), abs(height)
        if kind == "jpeg":
            return _jpeg_size(data)
    except struct.error:
        raise ApiError(422, f"the {kind.upper()} header is truncated") from None
    return None


def _jpeg_size(data: bytes) -> tuple[int, int] | None:
    pos = 2
    while pos + 9 < len(data):
        if data[pos] != 0xFF:
            return None
        marker = data[pos + 1]
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:
            pos += 2
            continue
        length = struct.unpack(">H", data[pos + 2 : pos + 4])[0]
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):  # start of frame
            height, width = struct.unpack(">HH", data[pos + 5 : pos + 9])
            return width, height
        pos += 2 + length
    return None


def decode_image(data: bytes, max_pixels: int = MAX_PIXELS) -> np.ndarray:
    """Encoded bytes → RGB uint8 H x W x 3; 415 for an unknown format, 422 for a bad or huge image."""
    if not data:
        raise ApiError(422, "the image is empty")
    kind = sniff_format(data)
    if kind is None:
        raise ApiError(415, "unsupported image format: send JPEG, PNG, BMP or WebP bytes")
    size = header_size(data, kind)
    if size is not None and size[0] * size[1] > max_pixels:
        raise ApiError(422, f"the image is {size[0]}x{size[1]} pixels; the limit is {max_pixels:,} pixels")
    array = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), cv2.IMREAD_COLOR)
    if array is None or array.size == 0:
        raise ApiError(422, f"the {kind.upper()} image could not be decoded (corrupt or truncated)")
    if array.shape[0] * array.shape[1] > max_pixels:
        raise ApiError(422, f"the image has {array.shape[0] * array.shape[1]:,} pixels; "
                            f"the limit is {max_pixels:,}")
    return cv2.cvtColor(array, cv2.COLOR_BGR2RGB)
