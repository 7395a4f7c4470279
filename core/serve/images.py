"""Guarded image decoding: known formats only, size and memory checked before any pixel is decoded.

The header of each accepted format is read by hand (core/serve/image_headers.py),
so a decompression bomb is refused without allocating its pixels. What the
decoder may then use (its output plus its working buffers) is reserved from a
:class:`DecodeBudget` shared by the requests in flight, so two large images at
once wait for each other instead of doubling the server's memory.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import cv2
import numpy as np

from core.serve.image_headers import read_header
from core.serve.problems import ApiError

__all__ = ["DECODE_BUDGET_BYTES", "MAX_PIXELS", "DecodeBudget", "decode_image", "decoded", "limit_decoder"]

MAX_PIXELS = 40_000_000  # about a 7,000 x 6,000 photo
DECODE_BUDGET_BYTES = 256 * 1024 * 1024  # decoders in flight, all requests together
_MB = 1024 * 1024
# the 3-byte output and one working copy of it (preprocessing), measured: 206 MB for 36 Mpx
BYTES_PER_PIXEL = 6


class DecodeBudget:
    """Bytes that decoders in flight may hold together; a request waits for its share."""

    def __init__(self, total_bytes: int = DECODE_BUDGET_BYTES, wait_s: float = 30.0) -> None:
        self.total = total_bytes
        self.wait_s = wait_s
        self._used = 0
        self._cond = threading.Condition()

    @property
    def used(self) -> int:
        return self._used

    @contextmanager
    def reserve(self, nbytes: int) -> Iterator[None]:
        if nbytes > self.total:
            raise ApiError(422, f"the image needs about {nbytes // _MB} MB to decode; the server decodes "
                                f"images of up to {self.total // _MB} MB")
        with self._cond:
            if not self._cond.wait_for(lambda: self._used + nbytes <= self.total, timeout=self.wait_s):
                raise ApiError(503, "the server is busy decoding other large images; retry shortly",
                               {"Retry-After": "1"})
            self._used += nbytes
        try:
            yield
        finally:
            with self._cond:
                self._used -= nbytes
                self._cond.notify_all()


_SHARED_BUDGET = DecodeBudget()


def limit_decoder(max_pixels: int) -> None:
    """OpenCV's own pixel limit, a second line behind the header checks (read on its first decode)."""
    os.environ["OPENCV_IO_MAX_IMAGE_PIXELS"] = str(max_pixels)


def decode_image(data: bytes, max_pixels: int = MAX_PIXELS,
                 budget: DecodeBudget | None = None) -> np.ndarray:
    """Encoded bytes → RGB uint8 H x W x 3; 415 for an unknown format, 422 for a bad or huge image."""
    with decoded(data, max_pixels, budget) as rgb:
        return rgb


@contextmanager
def decoded(data: bytes, max_pixels: int = MAX_PIXELS,
            budget: DecodeBudget | None = None) -> Iterator[np.ndarray]:
    """The decoded image, its memory reserved from the budget until the block ends (run the model in it)."""
    if not data:
        raise ApiError(422, "the image is empty")
    header = read_header(data)
    if header.pixels > max_pixels:
        raise ApiError(422, f"the image is {header.width}x{header.height} pixels; "
                            f"the limit is {max_pixels:,} pixels")
    with (budget or _SHARED_BUDGET).reserve(header.pixels * (BYTES_PER_PIXEL + header.work_bytes_per_pixel)):
        try:
            array = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), cv2.IMREAD_COLOR)
        except cv2.error:
            array = None
        if array is None or array.size == 0:
            raise ApiError(422, f"the {header.kind.upper()} image could not be decoded "
                                "(corrupt or truncated)")
        if array.shape[0] * array.shape[1] > max_pixels:  # the decoder disagreed with the header
            raise ApiError(422, f"the image has {array.shape[0] * array.shape[1]:,} pixels; "
                                f"the limit is {max_pixels:,}")
        yield cv2.cvtColor(array, cv2.COLOR_BGR2RGB, dst=array)  # in place: no second copy
