"""What building a package produced."""

from __future__ import annotations

import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class PackageResult:
    kind: str  # download | edge-ios | edge-android | container
    out_dir: Path
    zip_path: Path
    metadata: dict[str, Any]
    warnings: list[str] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)

    def members(self) -> list[str]:
        with zipfile.ZipFile(self.zip_path) as archive:
            return archive.namelist()

    def summary(self) -> dict[str, Any]:
        return {"type": self.kind, "out_dir": str(self.out_dir), "zip": str(self.zip_path),
                "zip_size_bytes": self.zip_path.stat().st_size, "warnings": self.warnings, **self.extra}
