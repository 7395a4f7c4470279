"""Build the desktop installer: a PyInstaller one-folder app that is also its own export worker.

``python build_installer.py [--extras onnx,torchscript,openvino] [--dist DIR]`` writes
``DIST/slipway/slipway`` (default DIST: ``build/installer/dist``). This file is
also the frozen app's entry script: inside the bundle ``run_frozen`` dispatches

- ``slipway --worker --spec S --out D``  the export worker (``core.launch.worker_command``
  starts exactly this when ``sys.frozen`` is set);
- ``slipway --self-test``  a headless check: Qt starts offscreen, the bundled sample
  detector is exported to ONNX through the worker, the package predicts boxes, exit 0;
- anything else  ``gui.launcher`` (no arguments: the app; otherwise the CLI).

The dispatch lives here rather than in ``gui/launcher.py`` because the GUI package
may not import ``exporters`` (tests/test_architecture.py); the bundle needs both.

Variants are chosen by extras. The torch-based frameworks (Ultralytics, timm) are
always in: every export starts from a PyTorch checkpoint. Formats whose libraries
are left out are excluded from the analysis, so the bundle stays smaller and the
capability matrix inside the app reports them as unavailable.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent
APP_NAME = "slipway"

# extra → the top-level modules it brings into the bundle
EXTRA_MODULES: dict[str, list[str]] = {
    "onnx": ["onnxslim"],  # onnx and onnxruntime are base dependencies (core uses them)
    "torchscript": [],  # torch itself, always in
    "openvino": ["openvino"],
    "huggingface": ["transformers", "optimum"],
    "tflite": ["tensorflow", "tf_keras", "keras", "onnx2tf", "ai_edge_litert", "sng4onnx",
               "onnx_graphsurgeon"],
    "coreml": ["coremltools"],
    "optimize": ["onnxconverter_common", "torch_pruning", "nncf"],
    "s3": ["boto3", "botocore"],
    "serve": ["fastapi", "uvicorn", "starlette"],
}
DEFAULT_EXTRAS = ("onnx", "torchscript", "openvino", "serve")
# never useful in the desktop bundle (or GPU-only / large and optional)
ALWAYS_EXCLUDED = ["triton", "jax", "jaxlib", "tensorrt", "IPython", "jupyter", "notebook", "pytest",
                   "PyInstaller", "tkinter", "torch.utils.tensorboard", "tensorboard"]
DATA_FOLDERS = ["resources/samples", "wrappers/templates", "core/db/migrations"]


def excluded_modules(extras: list[str]) -> list[str]:
    """Modules to keep out of the bundle for a choice of extras (pure: the test asserts on it)."""
    unknown = sorted(set(extras) - set(EXTRA_MODULES))
    if unknown:
        raise SystemExit(f"unknown extras {unknown}; choose from {sorted(EXTRA_MODULES)}")
    kept = {module for extra in extras for module in EXTRA_MODULES[extra]}
    dropped = {module for extra, modules in EXTRA_MODULES.items() if extra not in extras
               for module in modules}
    return sorted((dropped - kept) | set(ALWAYS_EXCLUDED))


def pyinstaller_arguments(extras: list[str], dist: Path, work: Path) -> list[str]:
    args = ["--noconfirm", "--clean", "--onedir", "--name", APP_NAME, "--log-level", "WARN",
            "--distpath", str(dist), "--workpath", str(work), "--specpath", str(work),
            "--paths", str(ROOT)]
    for folder in DATA_FOLDERS:
        args += ["--add-data", f"{ROOT / folder}{os.pathsep}{folder}"]
    for package in ("core", "gui", "exporters", "wrappers"):
        args += ["--collect-submodules", package]
    args += ["--collect-data", "ultralytics", "--hidden-import", "sqlalchemy.dialects.sqlite",
             "--hidden-import", "alembic", "--hidden-import", "cv2"]
    for module in excluded_modules(extras):
        args += ["--exclude-module", module]
    return [*args, str(Path(__file__).resolve())]


def folder_size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())


def build(extras: list[str], dist: Path) -> Path:
    import PyInstaller.__main__

    work = dist.parent / "work"
    started = time.monotonic()
    PyInstaller.__main__.run(pyinstaller_arguments(extras, dist, work))
    app = dist / APP_NAME / APP_NAME
    summary = {"executable": str(app), "extras": extras, "build_s": round(time.monotonic() - started, 1),
               "size_bytes": folder_size(dist / APP_NAME)}
    (dist / f"{APP_NAME}-build.json").write_text(json.dumps(summary, indent=2), encoding="utf-8")
    print(json.dumps(summary))
    return app


# ---- inside the bundle ----------------------------------------------------------------------------

def self_test() -> int:
    """Headless check of a built app: Qt, the database, a real ONNX export through the worker."""
    os.environ["SLIPWAY_HOME"] = tempfile.mkdtemp(prefix="slipway-self-test-")
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtWidgets import QApplication, QLabel

    import gui.app  # noqa: F401  the app's module graph imports in the bundle
    from core.cli import main as cli_main
    from core.inference import open_package
    from core.samples import sample

    app = QApplication.instance() or QApplication([APP_NAME])
    label = QLabel("Slipway self-test")
    label.show()
    app.processEvents()
    if label.grab().isNull():
        print("self-test: Qt could not render offscreen", file=sys.stderr)
        return 1
    detector = sample("shapes-yolo11n")
    out = Path(os.environ["SLIPWAY_HOME"]) / "self-test-export"
    spec = Path(os.environ["SLIPWAY_HOME"]) / "spec.json"
    spec.write_text(json.dumps({"checkpoint": str(detector.checkpoint), "export_format": "onnx",
                                "parity": {"images": str(detector.images), "max_images": 4}}),
                    encoding="utf-8")
    started = time.monotonic()
    code = cli_main(["export", "--spec", str(spec), "--out", str(out), "--json"])
    if code != 0:
        print(f"self-test: the export failed with exit code {code}", file=sys.stderr)
        return 1
    boxes = open_package(out).predict(str(detector.image_files()[0]))
    child = _predict_child_answers(out, detector.image_files()[0])
    passed = bool(boxes) and child
    print(json.dumps({"self_test": "passed" if passed else "failed", "boxes": len(boxes),
                      "predict_child": child, "export_s": round(time.monotonic() - started, 1)}))
    return 0 if passed else 1


def _predict_child_answers(package: Path, image: Path) -> bool:
    """The GUI's prediction child, started as the GUI starts it, runs the package once."""
    import subprocess

    import numpy as np

    from core.inference import wrapper_module
    from core.launch import predict_command

    scratch = Path(os.environ["SLIPWAY_HOME"])
    np.save(scratch / "image.npy", wrapper_module().ModelWrapper.load_image(image))
    request = {"package": str(package), "image": str(scratch / "image.npy"), "out": str(scratch / "out.npz")}
    answer = subprocess.run(predict_command(), input=json.dumps(request) + "\n", capture_output=True,
                            text=True, timeout=300)
    lines = answer.stdout.strip().splitlines()
    return bool(lines) and json.loads(lines[-1]).get("ok") is True


def run_frozen(argv: list[str]) -> int:
    if argv[:1] == ["--worker"]:
        from exporters.worker import main as worker_main

        code = worker_main(argv[1:])
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)  # as `python -m exporters`: skip torch's slow interpreter teardown
    if argv[:1] == ["--inspect"]:  # `slipway inspect`'s child (core.launch.inspect_command)
        from exporters.inspect import main as inspect_main

        return inspect_main(argv[1:])
    if argv[:1] == ["--facts"]:  # `slipway describe` and the Inspect dialog (core.launch.facts_command)
        from exporters.facts import main as facts_main

        return facts_main(argv[1:])
    if argv[:1] == ["--evaluate"]:  # the Evaluate view's child (core.launch.evaluate_command)
        from exporters.evaluate_process import main as evaluate_main

        return evaluate_main(argv[1:])
    if argv[:1] == ["--original"]:  # the Compare view's original-model child (core.launch.original_command)
        from exporters.original_process import main as original_main

        return original_main()
    if argv[:1] == ["--predict"]:  # the GUI's prediction child (core.launch.predict_command)
        from core.predict_process import main as predict_main

        return predict_main()
    if argv[:1] == ["--cluster-run"]:  # the app's cluster export conductor (core.launch.cluster_run_command)
        from core.cluster_run import main as cluster_run_main

        return cluster_run_main(argv[1:])
    if argv[:1] == ["--self-test"]:
        return self_test()
    from gui.launcher import main as launcher_main

    return launcher_main(argv)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Build the one-folder desktop app with PyInstaller.")
    parser.add_argument("--extras", default=",".join(DEFAULT_EXTRAS),
                        help=f"comma-separated, from {sorted(EXTRA_MODULES)} (default %(default)s)")
    parser.add_argument("--dist", type=Path, default=ROOT / "build" / "installer" / "dist")
    args = parser.parse_args(argv)
    extras = [e.strip() for e in args.extras.split(",") if e.strip()]
    excluded_modules(extras)  # reject unknown extras before the long build starts
    build(extras, args.dist.resolve())
    return 0


if __name__ == "__main__":
    if getattr(sys, "frozen", False):
        sys.exit(run_frozen(sys.argv[1:]))
    sys.exit(main())
