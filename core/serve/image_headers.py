"""Image headers read by hand: the format, its width and height, before any pixel is decoded.

Each reader walks its format's structure the way the decoder behind OpenCV does
(libjpeg's marker scan with fill and extraneous bytes, PNG's leading IHDR,
WebP's VP8 / VP8L / VP8X chunks, BMP's info header), so a decompression bomb
is measured from the same fields the decoder will trust. A header that cannot
be read is a 422; a format that is not listed here is a 415.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from core.serve.problems import ApiError

FORMATS = ("JPEG", "PNG", "BMP", "WebP")

# JPEG frame markers (SOF0-SOF15 less DHT, JPG and DAC) and which of them are progressive
_SOF = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
_PROGRESSIVE = frozenset({0xC2, 0xC6, 0xCA, 0xCE})
_STANDALONE = frozenset({0x01, *range(0xD0, 0xD8)})  # TEM, RST0-7: no length field


@dataclass(frozen=True)
class ImageHeader:
    kind: str  # jpeg | png | bmp | webp
    width: int
    height: int
    work_bytes_per_pixel: int  # the decoder's working memory besides its output

    @property
    def pixels(self) -> int:
        return self.width * self.height


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


def read_header(data: bytes) -> ImageHeader:
    """The image's format and size from its header; 415 for other formats, 422 for a bad header."""
    kind = sniff_format(data)
    if kind is None:
        names = f"{', '.join(FORMATS[:-1])} or {FORMATS[-1]}"
        raise ApiError(415, f"unsupported image format: send {names} bytes")
    try:
        header = _READERS[kind](data)
    except (struct.error, IndexError):
        raise ApiError(422, f"the {kind.upper()} header is truncated") from None
    if header.width <= 0 or header.height <= 0:
        raise ApiError(422, f"the {kind.upper()} header gives an empty size "
                            f"({header.width}x{header.height})")
    return header


def _bad(kind: str, why: str) -> ApiError:
    return ApiError(422, f"the {kind} header is invalid: {why}")


def _jpeg(data: bytes) -> ImageHeader:
    """libjpeg's marker walk: skip extraneous bytes and 0xFF fill bytes, then segments by length."""
    pos, end = 2, len(data)
    while True:
        pos = data.find(b"\xff", pos)
        if pos < 0:
            raise _bad("JPEG", "no frame header (SOF) before the end of the data")
        while pos < end and data[pos] == 0xFF:  # fill bytes
            pos += 1
        if pos >= end:
            raise _bad("JPEG", "no frame header (SOF) before the end of the data")
        marker = data[pos]
        pos += 1
        if marker == 0x00 or marker in _STANDALONE:  # a stuffed 0xFF00, or a marker without a segment
            continue
        if marker in (0xD8, 0xD9, 0xDA):
            raise _bad("JPEG", f"marker 0xFF{marker:02X} comes before the frame header")
        (length,) = struct.unpack(">H", data[pos : pos + 2])
        if length < 2:
            raise _bad("JPEG", f"segment 0xFF{marker:02X} has length {length}")
        if marker in _SOF:
            height, width = struct.unpack(">HH", data[pos + 3 : pos + 7])
            # libjpeg keeps the DCT coefficients of the whole image for progressive scans
            return ImageHeader("jpeg", width, height, 6 if marker in _PROGRESSIVE else 0)
        pos += length


def _png(data: bytes) -> ImageHeader:
    length, kind = struct.unpack(">I4s", data[8:16])
    if kind != b"IHDR" or length != 13:
        raise _bad("PNG", "the first chunk is not IHDR")
    width, height, depth = struct.unpack(">IIB", data[16:25])
    # rows are converted as they are read; 16-bit samples need wider row buffers
    return ImageHeader("png", width, height, 4 if depth == 16 else 1)


def _bmp(data: bytes) -> ImageHeader:
    (info_size,) = struct.unpack("<I", data[14:18])
    if info_size == 12:  # OS/2 BITMAPCOREHEADER: 16-bit sizes
        width, height = struct.unpack("<HH", data[18:22])
    elif info_size >= 40:
        width, height = struct.unpack("<ii", data[18:26])
    else:
        raise _bad("BMP", f"unknown info header size {info_size}")
    return ImageHeader("bmp", abs(width), abs(height), 1)


def _webp(data: bytes) -> ImageHeader:
    chunk = data[12:16]
    if chunk == b"VP8X":
        flags = data[20]
        if flags & 0x02:
            raise ApiError(415, "animated WebP is not supported: send a still image")
        width = int.from_bytes(data[24:27], "little") + 1
        height = int.from_bytes(data[27:30], "little") + 1
        inner = _webp_frame(data, 30)
        if inner is None:
            raise _bad("WebP", "the extended file holds no VP8 or VP8L image")
        if (inner.width, inner.height) != (width, height):
            raise _bad("WebP", f"the image ({inner.width}x{inner.height}) does not match its "
                               f"canvas ({width}x{height})")
        return ImageHeader("webp", width, height, inner.work_bytes_per_pixel)
    frame = _webp_frame(data, 12)
    if frame is None:
        raise _bad("WebP", f"unknown chunk {chunk!r}")
    return frame


def _webp_frame(data: bytes, start: int) -> ImageHeader | None:
    """The first VP8 or VP8L chunk from ``start`` on (chunks walked by their sizes)."""
    pos = start
    while pos + 8 <= len(data):
        chunk, size = data[pos : pos + 4], struct.unpack("<I", data[pos + 4 : pos + 8])[0]
        body = pos + 8
        if chunk == b"VP8 ":
            if data[body + 3 : body + 6] != b"\x9d\x01\x2a":
                raise _bad("WebP", "the VP8 frame has no start code")
            width, height = struct.unpack("<HH", data[body + 6 : body + 10])
            return ImageHeader("webp", width & 0x3FFF, height & 0x3FFF, 2)  # YUV planes
        if chunk == b"VP8L":
            if data[body] != 0x2F:
                raise _bad("WebP", "the VP8L frame has no signature")
            (bits,) = struct.unpack("<I", data[body + 1 : body + 5])
            # decoded as 32-bit ARGB before it becomes BGR
            return ImageHeader("webp", (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1, 4)
        pos = body + size + (size & 1)
    return None


_READERS = {"jpeg": _jpeg, "png": _png, "bmp": _bmp, "webp": _webp}
