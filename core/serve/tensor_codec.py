"""KServe v2 tensors: the JSON form and Triton's binary tensor extension.

A binary request is a JSON header of ``Inference-Header-Content-Length`` bytes
followed by the raw bytes of every input whose ``parameters.binary_data_size``
is set, in the order the inputs are listed. A response is binary in the same way
when the request asks (``binary_data_output`` or an output's ``binary_data``).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from core.serve.json_body import load_json
from core.serve.problems import ApiError
from core.triton import DATATYPES, datatype_of

HEADER_LENGTH = "inference-header-content-length"
MAX_DIM = 2**31 - 1
MAX_TENSOR_BYTES = 2**31  # more than any body the server accepts


@dataclass
class InferRequest:
    id: str | None
    inputs: dict[str, np.ndarray]
    outputs: list[str] | None  # None: all outputs
    binary_outputs: set[str] = field(default_factory=set)
    binary_default: bool = False


def parse_request(body: bytes, header_length: str | None) -> InferRequest:
    if header_length is not None:
        try:
            size = int(header_length)
        except ValueError:
            raise ApiError(400, "Inference-Header-Content-Length must be an integer") from None
        if not 0 < size <= len(body):
            raise ApiError(400, f"Inference-Header-Content-Length {size} does not fit the "
                                f"{len(body)}-byte body")
        header_bytes, binary = body[:size], memoryview(body)[size:]
    else:
        header_bytes, binary = body, memoryview(b"")
    header = load_json(bytes(header_bytes), 400)
    if not isinstance(header, dict) or not isinstance(header.get("inputs"), list) or not header["inputs"]:
        raise ApiError(400, "the request needs an `inputs` list with at least one tensor")
    offset = 0
    inputs: dict[str, np.ndarray] = {}
    for item in header["inputs"]:
        array, used = _read_input(item, binary, offset)
        offset += used
        inputs[item["name"]] = array
    if offset != len(binary):
        raise ApiError(400, f"{len(binary) - offset} bytes of binary data are not claimed by any input")
    params: dict[str, Any] = header["parameters"] if isinstance(header.get("parameters"), dict) else {}
    outputs, binary_outputs = None, set()
    if header.get("outputs") is not None:
        if not isinstance(header["outputs"], list):
            raise ApiError(400, "`outputs` must be a list")
        outputs = []
        for item in header["outputs"]:
            if not isinstance(item, dict) or not isinstance(item.get("name"), str):
                raise ApiError(400, "every requested output needs a `name`")
            outputs.append(item["name"])
            out_params = item.get("parameters")
            if isinstance(out_params, dict) and out_params.get("binary_data") is True:
                binary_outputs.add(item["name"])
    request_id = header.get("id")
    return InferRequest(id=str(request_id) if request_id is not None else None, inputs=inputs,
                        outputs=outputs, binary_outputs=binary_outputs,
                        binary_default=params.get("binary_data_output") is True)


def _read_input(item: Any, binary: memoryview, offset: int) -> tuple[np.ndarray, int]:
    if not isinstance(item, dict) or not isinstance(item.get("name"), str):
        raise ApiError(400, "every input needs a `name`")
    name = item["name"]
    datatype, shape = item.get("datatype"), item.get("shape")
    if not isinstance(datatype, str) or datatype not in DATATYPES:
        raise ApiError(400, f"input {name!r}: unsupported datatype {datatype!r}; "
                            f"use one of {', '.join(DATATYPES)}")
    if (not isinstance(shape, list) or not all(isinstance(d, int) and not isinstance(d, bool)
                                               and 0 <= d <= MAX_DIM for d in shape) or len(shape) > 8):
        raise ApiError(400, f"input {name!r}: `shape` must be a list of at most 8 integers "
                            f"from 0 to {MAX_DIM}")
    dtype = DATATYPES[datatype]
    count = math.prod(shape)  # Python integers: no 64-bit wrap-around
    if count * dtype.itemsize > MAX_TENSOR_BYTES:
        raise ApiError(400, f"input {name!r}: shape {shape} of {datatype} would hold "
                            f"{count * dtype.itemsize:,} bytes; the limit is {MAX_TENSOR_BYTES:,}")
    params: dict[str, Any] = item["parameters"] if isinstance(item.get("parameters"), dict) else {}
    size = params.get("binary_data_size")
    if size is not None:
        if not isinstance(size, int) or size < 0 or offset + size > len(binary):
            raise ApiError(400, f"input {name!r}: binary_data_size {size!r} runs past the body")
        if size != count * dtype.itemsize:
            raise ApiError(400, f"input {name!r}: {size} bytes do not hold shape {shape} of {datatype}")
        array = np.frombuffer(binary[offset : offset + size], dtype=dtype).reshape(shape)
        return array, size
    if "data" not in item:
        raise ApiError(400, f"input {name!r} has neither `data` nor binary data")
    try:
        array = np.asarray(item["data"], dtype=dtype)
    except (ValueError, TypeError, OverflowError):
        raise ApiError(400, f"input {name!r}: `data` is not a list of {datatype} numbers") from None
    if array.size != count:
        raise ApiError(400, f"input {name!r}: {array.size} values do not fill shape {shape}")
    return array.reshape(shape), 0


def encode_response(model_name: str, version: str, request: InferRequest,
                    outputs: dict[str, np.ndarray]) -> tuple[bytes, dict[str, str]]:
    """The response body and its headers (binary extension when the request asked for it)."""
    described, chunks = [], []
    for name, array in outputs.items():
        array = np.ascontiguousarray(array)
        entry: dict[str, Any] = {"name": name, "datatype": datatype_of(str(array.dtype)),
                                 "shape": list(array.shape)}
        if request.binary_default or name in request.binary_outputs:
            raw = array.tobytes()
            entry["parameters"] = {"binary_data_size": len(raw)}
            chunks.append(raw)
        else:
            if array.dtype.kind in "fc" and not np.isfinite(array).all():
                raise ApiError(422, f"output {name!r} holds NaN or infinity, which JSON cannot carry; "
                                    "ask for it in binary (parameters.binary_data_output: true)")
            entry["data"] = array.reshape(-1).tolist()
        described.append(entry)
    body: dict[str, Any] = {"model_name": model_name, "model_version": version, "outputs": described}
    if request.id is not None:
        body["id"] = request.id
    header = json.dumps(body, separators=(",", ":"), allow_nan=False).encode()
    if not chunks:
        return header, {"content-type": "application/json"}
    return b"".join([header, *chunks]), {"content-type": "application/octet-stream",
                                         HEADER_LENGTH: str(len(header))}
