"""The endpoint's FastAPI app: shared state, error rendering, body limit, the usage writer's life.

``create_app(db)`` builds the app; ``slipway serve`` (core/cli_serve.py) runs it
on uvicorn. Every error leaves as ``{"error": message}`` with a 4xx status; the
catch-all 500 handler exists for bugs and is what the fuzz test looks for.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from core.db import Database
from core.deployments import DeploymentService
from core.serve.auth import Caller, KeyChecker, Limiter
from core.serve.batching import Batcher, can_batch
from core.serve.catalog import Catalog, DeploymentInfo
from core.serve.host_guard import LOOPBACK_NAMES, HostGuard
from core.serve.images import DECODE_BUDGET_BYTES, MAX_PIXELS, DecodeBudget
from core.serve.model_cache import ModelCache
from core.serve.problems import ApiError
from core.serve.store import load_usage, load_windows
from core.serve.usage import UsageLedger
from core.serve.writer import INTERVAL_S, BackgroundWriter

log = logging.getLogger("slipway.serve")
T = TypeVar("T")
MAX_BODY_BYTES = 32 * 1024 * 1024


@dataclass
class ServeSettings:
    threads: int = 2  # ONNX Runtime intra-op threads per model
    workers: int = 2  # inference calls in flight at once (a thread pool off the event loop)
    ttl_s: float = 0.5  # how stale deployment status and key checks may be (a revocation lands within 1 s)
    flush_interval_s: float = INTERVAL_S  # how often the background writer stores usage and windows
    max_body_bytes: int = MAX_BODY_BYTES
    max_pixels: int = MAX_PIXELS
    decode_budget_bytes: int = DECODE_BUDGET_BYTES  # decoders in flight, all requests together
    enforce_limits: bool = True  # tiers' rate limits and quotas (off: counted, never refused)
    max_batch: int = 1  # dynamic batching of /v1 requests when above 1 (models with a dynamic batch axis)
    batch_window_ms: float = 2.0  # how long a request waits for others to batch with
    allowed_hosts: tuple[str, ...] = LOOPBACK_NAMES  # Host header names answered ("*": any)


class ServeState:
    """Everything the routes share.

    The database is read here, once, before the server listens (usage so far, the
    last server's rate windows); after that only the background writer touches it,
    besides the catalog's and key checker's TTL-cached lookups.
    """

    def __init__(self, db: Database, settings: ServeSettings) -> None:
        self.settings = settings
        self.service = DeploymentService(db)
        self.catalog = Catalog(db, ttl=settings.ttl_s)
        self.keys = KeyChecker(self.service, ttl=settings.ttl_s)
        self.ledger = UsageLedger()
        self.ledger.load(*load_usage(db))
        self.limiter = Limiter(self.ledger, enforce=settings.enforce_limits, windows=load_windows(db))
        self.writer = BackgroundWriter(db, self.ledger, self.limiter, settings.flush_interval_s)
        self.models = ModelCache(settings.threads)
        self.decode_budget = DecodeBudget(settings.decode_budget_bytes)
        self.executor = ThreadPoolExecutor(max_workers=settings.workers, thread_name_prefix="infer")
        self.batchers: dict[str, Batcher | None] = {}

    def batcher(self, deployment_id: str, model: Any) -> Batcher | None:
        """The deployment's batcher, when batching is on and the model can batch."""
        if self.settings.max_batch <= 1:
            return None
        if deployment_id not in self.batchers:
            self.batchers[deployment_id] = (
                Batcher(model, self.executor, self.settings.max_batch, self.settings.batch_window_ms)
                if can_batch(model) else None)
        return self.batchers[deployment_id]

    def unload(self, deployment_id: str) -> bool:
        self.batchers.pop(deployment_id, None)
        return self.models.clear(deployment_id)

    async def off_loop(self, fn: Callable[[], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(self.executor, fn)

    def admit(self, deployment_id: str, authorization: str | None) -> tuple[DeploymentInfo, Caller]:
        """Known deployment (404), valid key (401), active (409), within limits (429).

        Runs on the event loop: status and keys come from TTL caches, so a database
        read (a fraction of a millisecond on SQLite WAL) happens once per TTL per key.
        """
        info, caller = self.authorize(deployment_id, authorization)
        if info.status != "active":
            self.unload(info.id)  # a deactivated deployment gives its memory back
        self.catalog.require_active(info)
        self.limiter.admit(info.id, caller)
        return info, caller

    def admit_side(self, deployment_id: str, authorization: str | None) -> tuple[DeploymentInfo, Caller]:
        """Known deployment (404), valid key (401), within the key's per-minute limit (429).

        For the keyed routes that run no inference (usage, cache/clear, v2 model metadata,
        readiness, config): they take a place in the key's window like inference does,
        but are not counted in usage or the monthly quota.
        """
        info, caller = self.authorize(deployment_id, authorization)
        self.limiter.admit(info.id, caller, inference=False)
        return info, caller

    def authorize(self, deployment_id: str, authorization: str | None) -> tuple[DeploymentInfo, Caller]:
        info = self.catalog.require(deployment_id)
        return info, self.keys.check(info.id, authorization)

    async def counted(self, info: DeploymentInfo, caller: Caller,
                      work: Callable[[], Awaitable[tuple[T, float]]]) -> T:
        """Run an admitted request's work and count it (as an error if it raises)."""
        try:
            result, inference_ms = await work()
        except Exception:  # a 4xx, a 503, or a bug's 500: every admitted request is counted
            self.ledger.add(info.id, caller.key_id, error=True)
            raise
        self.ledger.add(info.id, caller.key_id, inference_ms=inference_ms)
        return result


class BodyLimit:
    """Refuse bodies over the limit with 413, by Content-Length or while streaming."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app, self.limit = app, limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope["headers"]:
            if name == b"content-length" and value.isdigit() and int(value) > self.limit:
                await _too_large(self.limit, scope, receive, send)
                return
        seen = 0

        async def limited() -> Message:
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > self.limit:
                raise ApiError(413, f"the request body is over the {self.limit:,}-byte limit")
            return message

        await self.app(scope, limited, send)


async def _too_large(limit: int, scope: Scope, receive: Receive, send: Send) -> None:
    response = JSONResponse({"error": f"the request body is over the {limit:,}-byte limit"}, 413,
                            headers={"connection": "close"})
    await response(scope, receive, send)


def create_app(db: Database, settings: ServeSettings | None = None) -> FastAPI:
    from core.serve import docs_page, kserve, seed_api

    settings = settings or ServeSettings()
    state = ServeState(db, settings)

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        state.writer.start()
        try:
            yield
        finally:
            written = await asyncio.to_thread(state.writer.stop)
            log.info("usage written on shutdown: %d requests", written)
            state.executor.shutdown(wait=True, cancel_futures=True)

    app = FastAPI(title="Slipway local endpoint", version="1", lifespan=lifespan,
                  docs_url=None, redoc_url=None,  # both load from a CDN; docs_page serves /docs
                  # no OpenTelemetry: its per-request provider checks cost more than a key check
                  telemetry={"tracing": False, "metrics": False, "logs": False},
                  description="The seed's /v1 inference API and KServe v2 (Open Inference Protocol) "
                              "for every active platform_endpoint deployment.")
    app.state.serve = state
    app.include_router(seed_api.router(state))
    app.include_router(kserve.router(state))
    docs_page.install(app)
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _internal_error)
    app.add_middleware(BodyLimit, limit=settings.max_body_bytes)
    app.add_middleware(HostGuard, allowed=settings.allowed_hosts)  # outermost: checked first
    return app


async def _api_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiError)
    return JSONResponse({"error": exc.message}, exc.status, headers=exc.headers)


async def _validation_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    parts = []
    for err in exc.errors()[:5]:
        where = ".".join(str(p) for p in err.get("loc", ()) if p != "body")
        parts.append(f"{where}: {err.get('msg', 'invalid')}" if where else str(err.get("msg")))
    return JSONResponse({"error": "; ".join(parts) or "invalid request"}, 422)


async def _http_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    return JSONResponse({"error": str(exc.detail)}, exc.status_code, headers=exc.headers)


async def _internal_error(_request: Request, exc: Exception) -> JSONResponse:
    log.error("internal error", exc_info=exc)
    return JSONResponse({"error": f"internal error: {type(exc).__name__}"}, 500)


def json_error(status: int, message: str) -> dict[str, Any]:
    """An OpenAPI response entry for an error answer."""
    return {"description": message, "content": {"application/json": {"schema": {
        "type": "object", "properties": {"error": {"type": "string"}}, "required": ["error"]}}}}
