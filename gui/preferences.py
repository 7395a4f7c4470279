"""The app's own preferences (theme, default export options), JSON in the data directory.

Storage settings are core's (``core.settings``); these only shape the desktop app.
"""

from __future__ import annotations

import json
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from core.cli_serve import DEFAULT_PORT
from core.paths import data_dir
from core.spec import ExportFormat

PREFERENCES_FILE = "gui-preferences.json"
MOST_PARALLEL_EXPORTS = 16
LONGEST_TIMEOUT_MIN = 7 * 24 * 60


class Preferences(BaseModel):
    model_config = ConfigDict(extra="ignore")

    theme: Literal["light", "dark"] = "light"
    default_format: ExportFormat = "onnx"
    default_opset: int = 17
    endpoint_port: Annotated[int, Field(ge=0, le=65535)] = DEFAULT_PORT  # the endpoint server; 0: any
    removed_samples: list[str] = []  # bundled samples the user took out of the library
    # Settings → Jobs (gui.job_queue): exports at once (0: automatic for this machine) and the
    # minutes one may run before it is stopped (0: no limit)
    max_parallel_exports: Annotated[int, Field(ge=0, le=MOST_PARALLEL_EXPORTS)] = 0
    export_timeout_min: Annotated[int, Field(ge=0, le=LONGEST_TIMEOUT_MIN)] = 0

    @classmethod
    def load(cls) -> Preferences:
        path = data_dir() / PREFERENCES_FILE
        try:
            return cls.model_validate(json.loads(path.read_text(encoding="utf-8")))
        except (OSError, ValueError, ValidationError):
            return cls()  # missing or unreadable preferences: the defaults, never a crash

    def save(self) -> None:
        path = data_dir() / PREFERENCES_FILE
        path.parent.mkdir(parents=True, exist_ok=True)
        part = path.with_name(path.name + ".part")
        part.write_text(self.model_dump_json(indent=2), encoding="utf-8")
        part.replace(path)
