"""The v2 tensor codec against tritonclient's own encoder and decoder (no server needed)."""

from __future__ import annotations

import numpy as np
import pytest
import tritonclient.http as triton
from tritonclient.http._utils import _get_inference_request

from core.serve.problems import ApiError
from core.serve.tensor_codec import encode_response, parse_request


def _request(array: np.ndarray, datatype: str, binary: bool) -> tuple[bytes, str | None]:
    given = triton.InferInput("x", list(array.shape), datatype)
    given.set_data_from_numpy(array, binary_data=binary)
    wanted = [triton.InferRequestedOutput("y", binary_data=binary)]
    body, size = _get_inference_request([given], "", wanted, 0, 0, 0, 0, None, None)
    return body, None if size is None else str(size)


@pytest.mark.parametrize("binary", [True, False])
@pytest.mark.parametrize(
    ("dtype", "datatype"), [(np.float32, "FP32"), (np.uint8, "UINT8"), (np.int64, "INT64")]
)
def test_tritonclient_requests_decode_and_responses_encode_both_ways(
    binary: bool, dtype: type, datatype: str
) -> None:
    array = (np.arange(24).reshape(2, 3, 4) % 7).astype(dtype)
    body, header_length = _request(array, datatype, binary)
    parsed = parse_request(body, header_length)
    np.testing.assert_array_equal(parsed.inputs["x"], array)
    assert parsed.inputs["x"].dtype == dtype
    assert parsed.outputs == ["y"] and (("y" in parsed.binary_outputs) is binary)
    payload, headers = encode_response("m", "1", parsed, {"y": array * 2})
    result = triton.InferResult.from_response_body(
        payload,
        header_length=headers.get("inference-header-content-length")
        and int(headers["inference-header-content-length"]),
    )
    np.testing.assert_array_equal(result.as_numpy("y"), array * 2)


_HEADER = b'{"inputs": [{"name": "x", "datatype": "FP32", "shape": [1], "data": [1]}]}'


@pytest.mark.parametrize(
    ("body", "header_length", "message"),
    [
        (b"[]", None, "inputs"),
        (b'{"inputs": [{"name": "x", "datatype": "FP32", "shape": [2], "data": [1]}]}', None, "do not fill"),
        (b'{"inputs": [{"name": "x", "datatype": "FP32", "shape": [-1], "data": []}]}', None, "shape"),
        (b'{"inputs": [{"name": "x", "datatype": "FP32", "shape": [1]}]}', None, "neither"),
        (_HEADER + b"xx", str(len(_HEADER)), "not claimed"),
        (b"{}", "abc", "integer"),
        (b'{"inputs": [{"name": "x", "datatype": {}, "shape": [], "data": [null]}]}', None, "datatype"),
    ],
)
def test_malformed_requests_are_400_with_a_reason(
    body: bytes, header_length: str | None, message: str
) -> None:
    with pytest.raises(ApiError) as caught:
        parse_request(body, header_length)
    assert caught.value.status == 400 and message in caught.value.message
