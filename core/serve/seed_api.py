"""The seed's /v1 API: infer (JSON with base64 or multipart upload), health, usage, cache/clear."""

from __future__ import annotations

import base64
import binascii
import json
import math
import time
from typing import Any

from fastapi import APIRouter, Header, Request, Response
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from core.deployments import iso_or_none
from core.serve.app import ServeState, json_error
from core.serve.images import decode_image, decoded
from core.serve.json_body import load_json
from core.serve.problems import ApiError
from core.serve.usage import Counts


class InferBody(BaseModel):
    """The seed's request body; thresholds default to the model's own (metadata.json)."""

    model_config = ConfigDict(extra="ignore")

    image: str = Field(description="the encoded image (JPEG, PNG, BMP or WebP), base64")
    confidence_threshold: float | None = Field(None, ge=0.0, le=1.0)
    iou_threshold: float | None = Field(None, ge=0.0, le=1.0)
    max_detections: int | None = Field(None, ge=1, le=10_000)


_BODY_SCHEMA = InferBody.model_json_schema()
_UPLOAD_SCHEMA = {
    "type": "object", "required": ["image"],
    "properties": {"image": {"type": "string", "format": "binary"},
                   "confidence_threshold": {"type": "number", "minimum": 0, "maximum": 1},
                   "iou_threshold": {"type": "number", "minimum": 0, "maximum": 1},
                   "max_detections": {"type": "integer", "minimum": 1, "maximum": 10000}},
}
_PREDICTIONS_SCHEMA = {"type": "object", "properties": {
    "predictions": {"type": "array", "items": {"type": "object", "properties": {
        "class": {"type": "string"}, "class_id": {"type": "integer"}, "confidence": {"type": "number"},
        "bbox": {"type": "array", "items": {"type": "number"}}}}},
    "latency_ms": {"type": "number"}, "model_version": {"type": "string"}}}
# The infer route reads its path parameter and key itself (FastAPI's parameter solving and response
# validation are a tenth of a request's fixed cost); these document them as the declared ones would.
_INFER_PARAMETERS = [
    {"name": "deployment_id", "in": "path", "required": True, "schema": {"type": "string"}},
    {"name": "authorization", "in": "header", "required": False, "schema": {"type": "string"},
     "description": "`Bearer <key>`: the deployment's API key"},
]
_ERRORS: dict[int | str, dict[str, Any]] = {
    401: json_error(401, "missing, invalid or revoked API key"),
    404: json_error(404, "no such deployment, or deleted"),
    409: json_error(409, "the deployment is not active"),
    413: json_error(413, "body over the size limit"),
    415: json_error(415, "not an image format the server decodes"),
    422: json_error(422, "malformed body or image"),
    429: json_error(429, "rate limit or monthly quota reached (see Retry-After)"),
}


def router(state: ServeState) -> APIRouter:
    api = APIRouter(prefix="/v1", tags=["seed API"])

    @api.post("/infer/{deployment_id}", responses={200: {"description": "predictions", "content": {
        "application/json": {"schema": _PREDICTIONS_SCHEMA}}}, **_ERRORS},
        openapi_extra={"parameters": _INFER_PARAMETERS, "requestBody": {"required": True, "content": {
            "application/json": {"schema": _BODY_SCHEMA},
            "multipart/form-data": {"schema": _UPLOAD_SCHEMA}}}})
    async def infer(request: Request) -> Response:
        """Predictions for one image: detectors give boxes (xyxy, image pixels), classifiers top-k."""
        info, caller = state.admit(request.path_params["deployment_id"], request.headers.get("authorization"))

        async def work() -> tuple[Response, float]:
            image, options = await _read_request(request)

            conf, iou = options.confidence_threshold, options.iou_threshold

            def decode() -> Any:
                return decode_image(image, state.settings.max_pixels, state.decode_budget)

            def run() -> tuple[list[dict[str, Any]], float]:
                model = state.models.get(info.id, info.package_dir)
                with decoded(image, state.settings.max_pixels, state.decode_budget) as rgb:
                    start = time.perf_counter()  # the image's memory stays reserved while the model runs
                    return model.predict(rgb, conf=conf, iou=iou), (time.perf_counter() - start) * 1000

            if state.settings.max_batch > 1:
                rgb, model = await state.off_loop(
                    lambda: (decode(), state.models.get(info.id, info.package_dir)))
                batcher = state.batcher(info.id, model)
                found, ms = await batcher.predict(rgb, conf, iou) if batcher else await state.off_loop(run)
            else:
                found, ms = await state.off_loop(run)
            if options.max_detections is not None:
                found = found[: options.max_detections]
            predictions = [_seed_prediction(p) for p in found]
            return _json_response({"predictions": predictions, "latency_ms": round(ms, 3),
                                   "model_version": info.model_version}), ms

        return await state.counted(info, caller, work)

    @api.get("/deployments/{deployment_id}/health", responses=_ERRORS)
    async def health(deployment_id: str) -> dict[str, Any]:
        """Whether the deployment answers: no key needed, nothing about its data is revealed."""
        info = state.catalog.require(deployment_id)
        reason = None if info.status == "active" else f"the deployment is {info.status}"
        if reason is None and not state.models.loaded(info.id):
            try:  # healthy means it can answer: load the model now (a failure is remembered a while)
                await state.off_loop(lambda: state.models.get(info.id, info.package_dir))
            except ApiError as exc:
                reason = exc.message
        batcher = state.batchers.get(info.id)
        return {"deployment_id": info.id, "status": info.status, "healthy": reason is None, "reason": reason,
                "model_loaded": state.models.loaded(info.id), "model_version": info.model_version,
                "batching": {"enabled": batcher is not None, "batches": batcher.batches if batcher else 0,
                             "requests": batcher.items if batcher else 0}}

    @api.get("/deployments/{deployment_id}/usage", responses=_ERRORS)
    async def usage(deployment_id: str, authorization: str | None = Header(None)) -> dict[str, Any]:
        """Totals and per-key monthly rows, from the server's memory (the database is written behind)."""
        info, _caller = state.admit_side(deployment_id, authorization)
        report = state.ledger.report(info.id)
        return {"deployment_id": info.id, **_usage_fields(report.totals),
                "keys": [{"key_id": key, "month": month, **_usage_fields(counts)}
                         for key, month, counts in report.rows]}

    @api.post("/deployments/{deployment_id}/cache/clear", responses=_ERRORS)
    async def clear_cache(deployment_id: str, authorization: str | None = Header(None)) -> dict[str, Any]:
        """Drop the loaded model; the next request loads the package again."""
        info, _caller = state.admit_side(deployment_id, authorization)
        return {"deployment_id": info.id, "cleared": state.unload(info.id)}

    return api


async def _read_request(request: Request) -> tuple[bytes, InferBody]:
    """The image bytes and options, from JSON (base64) or a multipart upload."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type == "multipart/form-data":
        try:
            form = await request.form(max_files=1, max_fields=10)
        except ApiError:
            raise
        except Exception as exc:  # python-multipart's parse errors
            raise ApiError(422, f"malformed multipart body: {exc}") from None
        upload = form.get("image")
        if upload is None or isinstance(upload, str):
            raise ApiError(422, "the multipart body needs a file field `image` (curl -F image=@photo.jpg)")
        data = await upload.read()
        fields = {k: v for k, v in form.items() if k != "image" and isinstance(v, str)}
        return data, _options({"image": "-", **fields})
    if content_type not in ("application/json", ""):
        raise ApiError(415, f"send application/json or multipart/form-data, not {content_type!r}")
    payload = load_json(await request.body(), 422)
    options = _options(payload)
    try:
        data = base64.b64decode(options.image, validate=True)
    except (binascii.Error, ValueError):
        raise ApiError(422, "`image` is not valid base64") from None
    return data, options


def _json_response(content: dict[str, Any]) -> Response:
    """JSON as JSONResponse writes it, numpy scalars as numbers (a wrapper may hand back np.float32)."""
    body = json.dumps(content, ensure_ascii=False, allow_nan=False, separators=(",", ":"),
                      default=lambda value: value.item() if hasattr(value, "item") else str(value))
    return Response(body.encode("utf-8"), media_type="application/json")


def _usage_fields(counts: Counts) -> dict[str, Any]:
    return {"request_count": counts.requests, "error_count": counts.errors,
            "total_inference_time_ms": round(counts.inference_ms, 3),
            "last_request_at": iso_or_none(counts.last_at)}


def _options(payload: Any) -> InferBody:
    if not isinstance(payload, dict):
        raise ApiError(422, "the body must be a JSON object with an `image` field")
    try:
        return InferBody.model_validate(payload)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ApiError(422, f"{where}: {first['msg']}") from None


def _seed_prediction(found: dict[str, Any]) -> dict[str, Any]:
    out = {"class": found["class_name"], "class_id": found["class_id"], "confidence": found["confidence"]}
    if "bbox" in found:
        out["bbox"] = found["bbox"]
    if not all(math.isfinite(v) for v in [out["confidence"], *out.get("bbox", [])]):
        raise ApiError(422, "the model's output for this image holds NaN or infinity, which JSON cannot "
                            "carry; the package may be broken")
    return out

