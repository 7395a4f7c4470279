"""Ready-to-run calls of a local endpoint deployment: its URL, a curl line and a Python script.

The key's secret is never stored, so a snippet carries it only when the caller
still holds it (just issued); otherwise it reads ``SLIPWAY_API_KEY`` from the
environment. The Python script uses Triton's own client (``tritonclient[http]``)
over the KServe v2 API and asks the server for the model's input first, so it
fits every deployment without knowing its shapes.
"""

from __future__ import annotations

import shlex
from urllib.parse import urlsplit

KEY_VARIABLE = "SLIPWAY_API_KEY"
DEFAULT_BASE = "http://127.0.0.1:8000"


def infer_url(base_url: str | None, deployment_id: str) -> str:
    return f"{(base_url or DEFAULT_BASE).rstrip('/')}/v1/infer/{deployment_id}"


def curl_snippet(base_url: str | None, deployment_id: str, secret: str | None = None,
                 image: str = "image.jpg") -> str:
    """A shell line that posts an image (base64 in JSON, read from stdin: no argument-length limit)."""
    return (f"printf '{{\"image\": \"%s\"}}' \"$(base64 < {shlex.quote(image)} | tr -d '\\n')\" | "
            f"curl -sS -X POST {shlex.quote(infer_url(base_url, deployment_id))} "
            f"-H {_bearer_header(secret)} -H 'Content-Type: application/json' --data-binary @-")


def _bearer_header(secret: str | None) -> str:
    if secret:
        return shlex.quote(f"Authorization: Bearer {secret}")
    return f'"Authorization: Bearer ${KEY_VARIABLE}"'


def python_snippet(base_url: str | None, deployment_id: str, secret: str | None = None) -> str:
    """A tritonclient script: the model's input from its metadata, one inference, the outputs' shapes."""
    host = urlsplit(base_url or DEFAULT_BASE).netloc
    key = repr(secret) if secret else f"os.environ[{KEY_VARIABLE!r}]"
    return f'''import os

import numpy as np
import tritonclient.http as httpclient
from tritonclient.utils import triton_to_np_dtype

MODEL = {deployment_id!r}
headers = {{"Authorization": "Bearer " + {key}}}
client = httpclient.InferenceServerClient({host!r})
meta = client.get_model_metadata(MODEL, headers=headers)
spec = meta["inputs"][0]
shape = [1 if d < 0 else d for d in spec["shape"]]
tensor = httpclient.InferInput(spec["name"], shape, spec["datatype"])
tensor.set_data_from_numpy(np.zeros(shape, dtype=triton_to_np_dtype(spec["datatype"])))  # your input here
result = client.infer(MODEL, [tensor], headers=headers)
for output in meta["outputs"]:
    print(output["name"], result.as_numpy(output["name"]).shape)
'''
