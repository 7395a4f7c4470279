"""gui → core ← exporters. Which package may import which is import-linter's contracts
(pyproject.toml, run by `make lint`); here is what they cannot see: exporters/ imports
the ML libraries inside functions only, and the GUI process never loads torch."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

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


def test_ray_is_imported_lazily_and_never_at_start_up() -> None:
    for path in (ROOT / "core").rglob("*.py"):
        for module, top in imports_of(path):
            where = path.relative_to(ROOT)
            assert not (top and module.split(".")[0] == "ray"), f"{where}: top-level {module}"
    code = ("import sys, gui.app, gui.main_window, core.cli, core.jobs, core.cluster, core.benchmark; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] == 'ray'))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
