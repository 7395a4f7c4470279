"""Where packages go: a local folder (default) or an S3 bucket, with the seed's key layout.

``S3Storage`` lives in ``core.storage.s3`` and imports boto3 only when one is made.
"""

from __future__ import annotations

from core.storage.archive import extract_zip, unsafe_members
from core.storage.base import (
    PRESIGN_DEFAULT_S,
    ProgressCallback,
    Storage,
    StoredObject,
    check_key,
    container_package_key,
    edge_package_key,
    export_key,
    export_prefix,
    triton_model_key,
    triton_model_prefix,
)
from core.storage.local import LocalStorage
from core.storage.s3 import S3Storage, parse_s3_url

__all__ = [
    "PRESIGN_DEFAULT_S", "LocalStorage", "ProgressCallback", "S3Storage", "Storage", "StoredObject",
    "check_key", "container_package_key", "edge_package_key", "export_key", "export_prefix",
    "extract_zip", "parse_s3_url", "triton_model_key", "triton_model_prefix", "unsafe_members",
]
