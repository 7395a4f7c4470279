"""KServe v2 / Open Inference Protocol; the model name is the deployment id.

The infer route takes the model's raw input tensor (what metadata.json's
``input_spec`` describes: preprocessed NCHW float32, or uint8 NHWC with
preprocessing embedded) and returns the raw outputs, as Triton does. Server
health and metadata need no key; everything under ``/v2/models/{name}`` needs the
deployment's ``Authorization: Bearer`` key like the /v1 API (tritonclient sends
it with ``headers=``), so one key policy covers both protocols.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
from fastapi import APIRouter, Header, Request, Response

from core.errors import BadInput
from core.metadata import read_metadata
from core.serve.app import ServeState, json_error
from core.serve.catalog import DeploymentInfo
from core.serve.problems import ApiError, without_paths
from core.serve.tensor_codec import HEADER_LENGTH, InferRequest, encode_response, parse_request
from core.triton import DATATYPES, datatype_of, dims, platform

SERVER = {"name": "slipway", "version": "1", "extensions": ["binary_tensor_data"]}
_ERRORS: dict[int | str, dict[str, Any]] = {
    400: json_error(400, "malformed request, wrong tensor name, shape or datatype"),
    401: json_error(401, "missing, invalid or revoked API key"),
    404: json_error(404, "no such model (deployment)"),
    409: json_error(409, "the deployment is not active"),
    413: json_error(413, "body over the size limit"),
    429: json_error(429, "rate limit or monthly quota reached (see Retry-After)"),
}
_TENSOR = {"type": "object", "required": ["name", "datatype", "shape"], "properties": {
    "name": {"type": "string"}, "datatype": {"type": "string", "enum": list(DATATYPES)},
    "shape": {"type": "array", "items": {"type": "integer", "minimum": 0}},
    "data": {"type": "array"}, "parameters": {"type": "object"}}}
_INFER_BODY = {"requestBody": {"required": True, "content": {
    "application/json": {"schema": {"type": "object", "required": ["inputs"], "properties": {
        "id": {"type": "string"}, "parameters": {"type": "object"},
        "inputs": {"type": "array", "items": _TENSOR},
        "outputs": {"type": "array", "items": {"type": "object", "properties": {
            "name": {"type": "string"}, "parameters": {"type": "object"}}}}}}},
    "application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}}}


def router(state: ServeState) -> APIRouter:
    api = APIRouter(prefix="/v2", tags=["KServe v2"])

    @api.get("")
    async def server_metadata() -> dict[str, Any]:
        return SERVER

    @api.get("/health/live")
    async def live() -> dict[str, bool]:
        return {"live": True}

    @api.get("/health/ready")
    async def ready() -> dict[str, bool]:
        return {"ready": True}

    @api.get("/models/{name}", responses=_ERRORS)
    async def model_metadata(name: str, authorization: str | None = Header(None)) -> dict[str, Any]:
        info, _ = state.admit_side(name, authorization)
        meta = _metadata(info.package_dir)
        return {"name": info.id, "versions": ["1"], "platform": _platform(meta),
                "inputs": [_tensor_meta(meta["input_spec"])],
                "outputs": [_tensor_meta(o) for o in meta["output_spec"]["outputs"]]}

    @api.get("/models/{name}/ready", responses=_ERRORS)
    async def model_ready(name: str, authorization: str | None = Header(None)) -> dict[str, Any]:
        info, _ = state.admit_side(name, authorization)
        state.catalog.require_active(info)
        await state.off_loop(lambda: state.models.get(info.id, info.package_dir))  # 503 when it cannot load
        return {"name": info.id, "ready": True}

    @api.get("/models/{name}/config", responses=_ERRORS)
    async def model_config(name: str, authorization: str | None = Header(None)) -> dict[str, Any]:
        """Triton's model configuration, as JSON."""
        info, _ = state.admit_side(name, authorization)
        meta = _metadata(info.package_dir)
        return {"name": info.id, "platform": _platform(meta), "max_batch_size": 0,
                "input": [_tensor_config(meta["input_spec"])],
                "output": [_tensor_config(o) for o in meta["output_spec"]["outputs"]]}

    @api.post("/models/{name}/infer", responses=_ERRORS, openapi_extra=_INFER_BODY)
    async def infer(name: str, request: Request, authorization: str | None = Header(None)) -> Response:
        """Raw tensors in, raw outputs out (JSON or the binary tensor extension)."""
        info, caller = state.admit(name, authorization)

        async def work() -> tuple[Response, float]:
            body = await request.body()
            parsed = parse_request(body, request.headers.get(HEADER_LENGTH))
            outputs, ms = await state.off_loop(lambda: _run(state, info, parsed))
            payload, headers = encode_response(info.id, "1", parsed, outputs)
            return Response(payload, headers=headers), ms

        return await state.counted(info, caller, work)

    return api


def _run(state: ServeState, info: DeploymentInfo,
         request: InferRequest) -> tuple[dict[str, np.ndarray], float]:
    model = state.models.get(info.id, info.package_dir)
    spec = model.metadata["input_spec"]
    tensor = _checked_input(request, spec)
    names = [o["name"] for o in model.metadata["output_spec"]["outputs"]]
    wanted = request.outputs if request.outputs is not None else names
    unknown = [n for n in wanted if n not in names]
    if unknown:
        raise ApiError(400, f"unknown output {unknown[0]!r}; the model has {', '.join(names)}")
    start = time.perf_counter()
    try:
        raw = model.runtime(np.ascontiguousarray(tensor))
    except Exception as exc:  # the runtime's own message says what it disliked
        raise ApiError(400, f"the model rejected the input: {str(exc)[:300]}") from None
    ms = (time.perf_counter() - start) * 1000
    by_name = dict(zip(names, raw, strict=False))
    return {n: np.asarray(by_name[n]) for n in wanted}, ms


def _checked_input(request: InferRequest, spec: dict[str, Any]) -> np.ndarray:
    name, expected_type = spec["name"], datatype_of(spec["dtype"])
    if list(request.inputs) != [name]:
        raise ApiError(400, f"the model takes one input named {name!r}; got {list(request.inputs)}")
    tensor = request.inputs[name]
    datatype = datatype_of(str(tensor.dtype))
    if datatype != expected_type:
        raise ApiError(400, f"input {name!r} must be {expected_type}, not {datatype}")
    shape = spec["shape"]
    fits = len(tensor.shape) == len(shape) and all(
        got >= 1 and (not isinstance(want, int) or want <= 0 or got == want)
        for got, want in zip(tensor.shape, shape, strict=True))
    if not fits:
        raise ApiError(400, f"input {name!r} must have shape {shape}, got {list(tensor.shape)}")
    return tensor


def _metadata(package_dir: Path) -> dict[str, Any]:
    try:
        meta = read_metadata(package_dir / "metadata.json").to_json()
        if not [meta["input_spec"]["name"], *(o["name"] for o in meta["output_spec"]["outputs"])][1:]:
            raise KeyError("output_spec.outputs")
    except BadInput as exc:
        reason = exc.message
    except (KeyError, IndexError, TypeError) as exc:
        reason = f"metadata.json lacks {exc}"
    else:
        return meta
    raise ApiError(503, "the deployment's package cannot be served: "
                        + without_paths(reason, {package_dir: "the package"})) from None


def _platform(meta: dict[str, Any]) -> str:
    return platform(str(meta["model_info"]["export_format"]))


def _tensor_meta(spec: dict[str, Any]) -> dict[str, Any]:
    return {"name": spec["name"], "datatype": datatype_of(spec["dtype"]), "shape": dims(spec["shape"])}


def _tensor_config(spec: dict[str, Any]) -> dict[str, Any]:
    return {"name": spec["name"], "data_type": f"TYPE_{datatype_of(spec['dtype'])}",
            "dims": dims(spec["shape"])}
