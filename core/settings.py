"""The app's own settings: where packages are stored and where exports run. JSON in the data directory.

No secrets live here. S3 credentials come from boto3's chain (environment,
``~/.aws`` profiles, SSO, instance roles); a setting left empty falls back to
boto3's own configuration (AWS_PROFILE, AWS_ENDPOINT_URL, AWS_REGION).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from core.errors import BadInput
from core.paths import data_dir
from core.storage import LocalStorage, Storage
from core.storage.base import PRESIGN_DEFAULT_S

SETTINGS_FILE = "settings.json"


class Settings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    storage_backend: Literal["local", "s3"] = "local"
    local_storage_dir: str | None = Field(default=None, description="default: <data dir>/storage")
    s3_bucket: str | None = None
    s3_prefix: str = ""
    s3_endpoint_url: str | None = Field(default=None,
                                        description="S3-compatible servers; empty: AWS / AWS_ENDPOINT_URL")
    s3_region: str | None = None
    s3_profile: str | None = Field(default=None,
                                   description="a profile of ~/.aws/config; empty: AWS_PROFILE / default")
    presign_expiry_s: int = Field(default=PRESIGN_DEFAULT_S, ge=1, le=7 * 24 * 3600)
    multipart_threshold_mb: int = Field(default=8, ge=5, le=5 * 1024)
    run_exports_on: Literal["local", "cluster"] = "local"
    cluster_address: str | None = Field(default=None, description="a Ray Jobs API, e.g. http://HOST:8265")

    @classmethod
    def path(cls) -> Path:
        return data_dir() / SETTINGS_FILE

    @classmethod
    def load(cls) -> Settings:
        path = cls.path()
        if not path.exists():
            return cls()
        try:
            return cls.model_validate(json.loads(path.read_text(encoding="utf-8")))
        except (ValueError, ValidationError) as err:
            raise BadInput(f"{path} is not valid settings: {err}") from None

    def save(self) -> Path:
        path = self.path()
        part = path.with_name(path.name + ".part")
        part.write_text(self.model_dump_json(indent=2) + "\n", encoding="utf-8")
        part.replace(path)
        return path

    def local_storage(self) -> LocalStorage:
        root = Path(self.local_storage_dir).expanduser() if self.local_storage_dir else data_dir() / "storage"
        return LocalStorage(root)

    def s3_storage(self, bucket: str | None = None, prefix: str | None = None) -> Storage:
        """An S3Storage from these settings; ``bucket``/``prefix`` override (``--upload s3://b/p``)."""
        from core.storage.s3 import MIB, S3Storage

        name = bucket or self.s3_bucket
        if not name:
            raise BadInput("no S3 bucket is set: give --upload s3://bucket/prefix or set one in Settings")
        size = self.multipart_threshold_mb * MIB
        return S3Storage(name, self.s3_prefix if prefix is None else prefix,
                         endpoint_url=self.s3_endpoint_url, region=self.s3_region, profile=self.s3_profile,
                         multipart_threshold=size, multipart_chunksize=size)

    def export_cluster(self) -> str | None:
        """The Ray cluster the app's exports run on (its normalised address), or None: here."""
        if self.run_exports_on != "cluster":
            return None
        from core.cluster import resolve_address

        if not (self.cluster_address or "").strip():
            raise BadInput("exports are set to run on a Ray cluster but no address is given in Settings")
        return resolve_address(self.cluster_address)

    def storage(self) -> Storage:
        return self.s3_storage() if self.storage_backend == "s3" else self.local_storage()

    def test_connection(self) -> tuple[bool, str]:
        """(ok, a sentence for the settings page) — never raises for a bad setting."""
        try:
            return True, self.storage().test_connection()
        except BadInput as err:
            return False, err.message
        except Exception as err:  # an unexpected library failure is still an answer, not a crash
            return False, f"{type(err).__name__}: {err}"
