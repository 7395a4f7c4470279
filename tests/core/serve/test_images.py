"""Guarded decoding: formats sniffed, sizes checked from the header before any pixel is decoded,
decoders' memory reserved from a budget."""

from __future__ import annotations

import struct
import zlib

import cv2
import numpy as np
import pytest

from core.samples import sample
from core.serve.image_headers import read_header
from core.serve.images import DecodeBudget, decode_image
from core.serve.problems import ApiError
from tests.core.serve import bombs


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
        (b"\xff\xd8\xff\xe0" + b"\x00" * 40, 422, "header is invalid"),
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


@pytest.mark.parametrize("name", sorted(bombs.BOMBS))
def test_every_bomb_is_measured_from_its_header(name: str) -> None:
    data = bombs.BOMBS[name](3000)
    header = read_header(data)
    assert (header.width, header.height) == (3000, 3000)
    with pytest.raises(ApiError) as caught:
        decode_image(data, max_pixels=3000 * 3000 - 1)
    assert caught.value.status == 422 and "3000x3000" in caught.value.message


def test_small_images_of_every_format_still_decode() -> None:
    image = np.full((6, 9, 3), (10, 20, 30), np.uint8)
    for ext, params in ((".jpg", []), (".png", []), (".bmp", []), (".webp", [cv2.IMWRITE_WEBP_QUALITY, 101]),
                        (".webp", [cv2.IMWRITE_WEBP_QUALITY, 80])):
        ok, data = cv2.imencode(ext, image, params)
        assert ok
        assert read_header(data.tobytes()).pixels == 54, ext
        assert decode_image(data.tobytes()).shape == (6, 9, 3), ext
    assert decode_image(bombs.jpeg_with_fill_byte(16)).shape == (16, 16, 3)  # fill bytes are legal
    assert decode_image(bombs.webp_extended(16)).shape == (16, 16, 3)


@pytest.mark.parametrize(
    ("data", "status", "words"),
    [
        (b"GIF89a" + b"\x00" * 20, 415, "unsupported"),
        (b"II*\x00" + b"\x00" * 20, 415, "unsupported"),  # TIFF: OpenCV reads it, the server does not
        (b"\xff\xd8\xff\xda\x00\x08" + b"\x00" * 20, 422, "before the frame header"),
        (b"\xff\xd8\xff\xe0\x00\x10JFIF", 422, "no frame header"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\x0dIDAT" + b"\x00" * 17, 422, "IHDR"),
        (b"RIFF\x20\x00\x00\x00WEBPVP8X\x0a\x00\x00\x00\x02" + b"\x00" * 9, 415, "animated"),
        (b"RIFF\x20\x00\x00\x00WEBPJUNK" + b"\x00" * 12, 422, "unknown chunk"),
        (b"\x89PNG\r\n\x1a\n\x00\x00", 422, "truncated"),
    ],
)
def test_headers_that_cannot_be_trusted_are_refused(data: bytes, status: int, words: str) -> None:
    with pytest.raises(ApiError) as caught:
        decode_image(data)
    assert caught.value.status == status and words in caught.value.message, caught.value.message


def test_bmp_sizes_from_both_info_headers() -> None:
    core = b"BM" + b"\x00" * 12 + struct.pack("<IHH", 12, 40_000, 40_000)
    assert (read_header(core).width, read_header(core).height) == (40_000, 40_000)
    info = b"BM" + b"\x00" * 12 + struct.pack("<Iii", 40, 30_000, -30_000)
    assert (read_header(info).width, read_header(info).height) == (30_000, 30_000)


def test_decode_budget_refuses_what_cannot_fit_and_waits_for_what_can() -> None:
    ok, data = cv2.imencode(".png", np.zeros((100, 100, 3), np.uint8))
    assert ok
    small = DecodeBudget(total_bytes=100 * 100 * 6)  # an 8-bit PNG needs 6 + 1 bytes a pixel
    with pytest.raises(ApiError) as caught:
        decode_image(data.tobytes(), budget=small)
    assert caught.value.status == 422 and "to decode" in caught.value.message
    budget = DecodeBudget(total_bytes=100 * 100 * 7, wait_s=0.2)
    # another request holds a byte: this one waits, then gives up
    with budget.reserve(1), pytest.raises(ApiError) as busy:
        decode_image(data.tobytes(), budget=budget)
    assert busy.value.status == 503 and busy.value.headers["Retry-After"] == "1"
    assert decode_image(data.tobytes(), budget=budget).shape == (100, 100, 3)
    assert budget.used == 0
