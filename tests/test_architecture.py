"""gui → core ← exporters: the GUI and core never import heavy ML libraries or exporters."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
HEAVY = {"torch", "torchvision", "tensorflow", "ultralytics", "timm", "transformers", "optimum",
         "coremltools", "openvino", "nncf", "tensorrt", "onnxslim"}


def imports_of(path: Path) -> list[tuple[str, bool]]:
    """(module, at module level?) for every import in a file."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    top_level = {id(n) for n in tree.body}
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(a.name, id(node) in top_level) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.module, id(node) in top_level))
    return found


@pytest.mark.parametrize("package", ["core", "gui", "wrappers"])
def test_no_heavy_or_exporter_imports(package: str) -> None:
    for path in (ROOT / package).rglob("*.py"):
        if "templates" in path.parts:
            continue  # the standalone wrapper imports torch lazily for TorchScript
        for module, _ in imports_of(path):
            root = module.split(".")[0]
            assert root not in HEAVY, f"{path.relative_to(ROOT)} imports {module}"
            assert root != "exporters", f"{path.relative_to(ROOT)} imports {module}"
            if package == "core":
                assert root not in ("gui", "PySide6"), f"{path.relative_to(ROOT)} imports {module}"


def test_exporters_import_ml_libraries_lazily() -> None:
    for path in (ROOT / "exporters").rglob("*.py"):
        for module, top in imports_of(path):
            if top:
                assert module.split(".")[0] not in HEAVY, f"{path.relative_to(ROOT)}: top-level {module}"


def test_the_gui_process_never_loads_torch() -> None:
    code = ("import sys, gui.app, core.cli, core.jobs, core.inference; "
            f"print(sorted(m for m in sys.modules if m.split('.')[0] in {HEAVY!r}))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
