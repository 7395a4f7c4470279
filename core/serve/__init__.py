"""The local inference endpoint behind ``slipway serve``.

    app.py          the FastAPI app factory and its lifespan (usage flusher, executor)
    seed_api.py     the seed's /v1 API (infer, health, usage, cache/clear)
    kserve.py       KServe v2 / Open Inference Protocol routes
    tensor_codec.py v2 tensors: JSON data and the binary tensor extension
    auth.py         bearer keys, tiers, the in-memory rate limiter and monthly quota
    catalog.py      deployment status and package lookups with a short TTL
    model_cache.py  one loaded wrapper per deployment
    batching.py     dynamic batching of concurrent requests (off by default)
    runner.py       uvicorn: bind, announce, graceful SIGTERM
    images.py       guarded image decoding
    usage.py        buffered usage writes
    problems.py     the HTTP error every route raises

FastAPI and uvicorn are imported only here, so other commands stay fast.
"""
