"""``/docs``: the API described from the OpenAPI schema, as one self-contained page.

FastAPI's own /docs loads Swagger UI from a CDN, which a machine without internet
cannot reach, and no installed package ships Swagger UI's assets. This page needs
nothing but the server: every operation with its summary, parameters and answers,
read from ``/openapi.json`` (linked from the page for tools that import it).
"""

from __future__ import annotations

from html import escape
from typing import Any

from fastapi import FastAPI
from fastapi.responses import HTMLResponse

METHODS = ("get", "post", "put", "patch", "delete")
STYLE = ("body{font-family:sans-serif;margin:2em;max-width:60em;color:#222}"
         "code{background:#f3f3f3;padding:1px 4px}h2{margin-top:1.6em}"
         ".op{border:1px solid #ddd;border-radius:6px;padding:.6em 1em;margin:.6em 0}"
         ".m{display:inline-block;min-width:4em;font-weight:bold}")


def render(schema: dict[str, Any]) -> str:
    info = schema.get("info", {})
    title, version = escape(info.get("title", "API")), escape(str(info.get("version", "")))
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>{title}"
             f"</title><style>{STYLE}</style></head><body>",
             f"<h1>{title} <small>{version}</small></h1>",
             f"<p>{escape(info.get('description', ''))}</p>",
             "<p>The machine-readable schema: <a href='openapi.json'>openapi.json</a>. Keyed routes take "
             "<code>Authorization: Bearer &lt;key&gt;</code>.</p>"]
    by_tag: dict[str, list[str]] = {}
    for path, item in schema.get("paths", {}).items():
        for method in METHODS:
            if method not in item:
                continue
            op = item[method]
            params = ", ".join(escape(p["name"]) for p in op.get("parameters", []) if p.get("in") != "header")
            answers = ", ".join(escape(code) for code in op.get("responses", {}))
            by_tag.setdefault((op.get("tags") or ["API"])[0], []).append(
                f"<div class='op'><span class='m'>{method.upper()}</span> <code>{escape(path)}</code>"
                f"<div>{escape(op.get('summary', ''))}</div>"
                + (f"<div>parameters: {params}</div>" if params else "")
                + (f"<div>answers: {answers}</div>" if answers else "") + "</div>")
    for tag, ops in by_tag.items():
        parts += [f"<h2>{escape(tag)}</h2>", *ops]
    parts.append("</body></html>")
    return "".join(parts)


def install(app: FastAPI) -> None:
    """Serve ``/docs`` from the app's own schema (the app is built with docs_url=None)."""

    @app.get("/docs", include_in_schema=False)
    async def docs() -> HTMLResponse:
        return HTMLResponse(render(app.openapi()))
