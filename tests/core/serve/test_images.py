"""Guarded decoding: formats sniffed, sizes checked from the header before any pixel is decoded."""

from __future__ import annotations

import struct
import zlib

import cv2
import numpy as np
import pytest

from core.samples import sample
from core.serve.images import decode_image
from core.serve.problems import ApiError


def _png_claiming(width: int, height: int) -> bytes:
    ihdr = b"IHDR" + struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + struct.pack(">I", 13) + ihdr + struct.pack(">I", zlib.crc32(ihdr))


def test_decodes_jpeg_and_png_to_rgb() -> None:
    path = sample("shapes-yolo11n").image_files()[0]
    rgb = decode_image(path.read_bytes())
    expected = cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)
    np.testing.assert_array_equal(rgb, expected)
    ok, png = cv2.imencode(".png", np.full((5, 7, 3), (10, 20, 30), np.uint8))
    assert ok
    assert decode_image(png.tobytes())[0, 0].tolist() == [30, 20, 10]  # BGR written, RGB read


@pytest.mark.parametrize(
    ("data", "status", "words"),
    [
        (b"", 422, "empty"),
        (b"GIF89a....", 415, "unsupported"),
        (_png_claiming(50_000, 50_000), 422, "limit"),
        (_png_claiming(10, 10), 422, "could not be decoded"),
        (b"\xff\xd8\xff\xe0" + b"\x00" * 40, 422, "could not be decoded"),
    ],
)
def test_refuses_unknown_huge_and_broken_images(data: bytes, status: int, words: str) -> None:
    with pytest.raises(ApiError) as caught:
        decode_image(data)
    assert caught.value.status == status and words in caught.value.message


def test_jpeg_header_size_is_checked_before_decoding() -> None:
    ok, jpeg = cv2.imencode(".jpg", np.zeros((40, 30, 3), np.uint8))
    assert ok
    assert decode_image(jpeg.tobytes(), max_pixels=1200).shape == (40, 30, 3)
    with pytest.raises(ApiError, match="30x40"):
        decode_image(jpeg.tobytes(), max_pixels=1199)
