"""Malformed requests get a 4xx with a message, never a 500, and the server keeps serving."""

from __future__ import annotations

import base64
import json
import struct
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from core.samples import sample
from tests.core.serve.conftest import start_server

pytestmark = pytest.mark.slow  # needs the session's real exports


def _png_header(width: int, height: int) -> bytes:
    """A PNG signature and IHDR chunk claiming a size, without the pixels."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    chunk = b"IHDR" + ihdr
    return b"\x89PNG\r\n\x1a\n" + struct.pack(">I", len(ihdr)) + chunk + struct.pack(">I", zlib.crc32(chunk))


def test_bad_requests_get_4xx_with_a_message(
    deploy: Callable[..., dict[str, Any]], slipway_home: Path
) -> None:
    det = deploy("det-onnx", tier="enterprise")
    server = start_server(slipway_home, "--max-body-mb", "1")
    try:
        auth = {"Authorization": f"Bearer {det['api_key']}"}
        v1 = f"{server.url}/v1/infer/{det['id']}"
        v2 = f"{server.url}/v2/models/{det['id']}/infer"
        jpeg = sample("shapes-yolo11n").image_files()[0].read_bytes()

        def b64(data: bytes) -> str:
            return base64.b64encode(data).decode()

        short_header = json.dumps(
            {
                "inputs": [
                    {
                        "name": "images",
                        "shape": [1, 3, 320, 320],
                        "datatype": "FP32",
                        "parameters": {"binary_data_size": 8},
                    }
                ]
            }
        ).encode()
        cases: list[tuple[str, str, dict[str, Any], int]] = [
            (
                "v1 malformed JSON",
                v1,
                {"content": b"{not json", "headers": {"content-type": "application/json"}},
                422,
            ),
            ("v1 JSON list", v1, {"json": [1, 2]}, 422),
            ("v1 missing image", v1, {"json": {"confidence_threshold": 0.2}}, 422),
            ("v1 threshold out of range", v1, {"json": {"image": b64(jpeg), "confidence_threshold": 7}}, 422),
            ("v1 bad base64", v1, {"json": {"image": "***"}}, 422),
            ("v1 not an image", v1, {"json": {"image": b64(b"hello, this is text")}}, 415),
            ("v1 truncated JPEG", v1, {"json": {"image": b64(jpeg[:200])}}, 422),
            ("v1 decompression bomb", v1, {"json": {"image": b64(_png_header(100_000, 100_000))}}, 422),
            ("v1 upload without image", v1, {"files": {"photo": ("x.jpg", jpeg)}}, 422),
            (
                "v1 wrong content type",
                v1,
                {"content": b"abc", "headers": {"content-type": "text/plain"}},
                415,
            ),
            ("v1 body over the limit", v1, {"json": {"image": "A" * (2 * 1024 * 1024)}}, 413),
            ("v2 not JSON", v2, {"content": b"\x00\x01garbage"}, 400),
            ("v2 no inputs", v2, {"json": {"inputs": []}}, 400),
            (
                "v2 wrong data type",
                v2,
                {
                    "json": {
                        "inputs": [
                            {"name": "images", "shape": [1, 3, 320, 320], "datatype": "FP32", "data": ["a"]}
                        ]
                    }
                },
                400,
            ),
            (
                "v2 too few values",
                v2,
                {
                    "json": {
                        "inputs": [
                            {
                                "name": "images",
                                "shape": [1, 3, 320, 320],
                                "datatype": "FP32",
                                "data": [1.0, 2.0],
                            }
                        ]
                    }
                },
                400,
            ),
            (
                "v2 unknown datatype",
                v2,
                {"json": {"inputs": [{"name": "images", "shape": [1], "datatype": "BYTES", "data": ["x"]}]}},
                400,
            ),
            (
                "v2 header length past body",
                v2,
                {"content": b'{"inputs": []}', "headers": {"Inference-Header-Content-Length": "999"}},
                400,
            ),
            (
                "v2 binary size mismatch",
                v2,
                {
                    "content": short_header + b"\x00" * 8,
                    "headers": {"Inference-Header-Content-Length": str(len(short_header))},
                },
                400,
            ),
        ]
        for name, url, request, expected in cases:
            answer = httpx.post(url, headers={**auth, **request.pop("headers", {})}, timeout=60, **request)
            assert answer.status_code == expected, f"{name}: {answer.status_code} {answer.text[:200]}"
            assert answer.json()["error"], name
        ok = httpx.post(v1, json={"image": b64(jpeg)}, headers=auth, timeout=60)
        assert ok.status_code == 200, "the server still serves after the bad requests"
    finally:
        assert server.stop() == 0
