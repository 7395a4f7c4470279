"""Triton's vocabulary in one place: data types, dims and platforms.

The container package's config.pbtxt and the local endpoint's KServe v2 API (model
metadata, model config, tensors) both speak it. Data types are the v2 names ("FP32")
of numpy dtypes as metadata.json writes them ("float32"); config.pbtxt prefixes them
with ``TYPE_``. A format's Triton platform and the file name Triton's model
repository wants are its descriptor's (core/formats).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from core import formats
from core.errors import Unsupported

DATATYPES: dict[str, np.dtype[Any]] = {
    "BOOL": np.dtype(np.bool_), "UINT8": np.dtype(np.uint8), "UINT16": np.dtype(np.uint16),
    "UINT32": np.dtype(np.uint32), "UINT64": np.dtype(np.uint64), "INT8": np.dtype(np.int8),
    "INT16": np.dtype(np.int16), "INT32": np.dtype(np.int32), "INT64": np.dtype(np.int64),
    "FP16": np.dtype(np.float16), "FP32": np.dtype(np.float32), "FP64": np.dtype(np.float64),
}
_BY_NUMPY = {str(dtype): name for name, dtype in DATATYPES.items()} | {"bfloat16": "BF16"}


def datatype_of(dtype: str) -> str:
    """metadata.json's numpy dtype name ("float32") → the v2 datatype ("FP32")."""
    return _BY_NUMPY.get(str(dtype).lower(), str(dtype).upper())


def config_data_type(dtype: str, tensor: str) -> str:
    """config.pbtxt's data_type ("TYPE_FP32"); a dtype Triton has none for is refused."""
    if str(dtype).lower() not in _BY_NUMPY:
        raise Unsupported(f"tensor {tensor!r} has dtype {dtype!r}, which has no Triton data type")
    return f"TYPE_{datatype_of(dtype)}"


def is_dynamic(dim: Any) -> bool:
    return isinstance(dim, str) or dim is None or int(dim) <= 0


def dims(shape: list[Any]) -> list[int]:
    """Triton's dims: -1 for every dynamic axis."""
    return [-1 if is_dynamic(d) else int(d) for d in shape]


def platform(export_format: str) -> str:
    """Triton's platform name for a format (the format's own name when Triton has none)."""
    return formats.get(export_format).triton_platform or export_format


def repository_file(export_format: str) -> str | None:
    """The file Triton's model repository wants for a format (None: not servable there)."""
    return formats.get(export_format).triton_model_file
