"""Fill a package's runtimes/ and README.md from its metadata.json."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

TEMPLATES = Path(__file__).resolve().parent / "templates"
PYTHON_FILES = ("model_wrapper.py", "requirements.txt", "example.py")


def write_python_runtime(package_dir: Path) -> list[Path]:
    """Copy the standalone Python wrapper; it reads everything from metadata.json."""
    target = package_dir / "runtimes" / "python"
    target.mkdir(parents=True, exist_ok=True)
    written = []
    for name in PYTHON_FILES:
        shutil.copyfile(TEMPLATES / "python" / name, target / name)
        written.append(target / name)
    return written


def _describe_preprocessing(pre: dict[str, Any]) -> str:
    resize = pre["resize"]
    h, w = resize["size"]
    how = {
        "letterbox": f"letterbox to {w}x{h} (keep aspect ratio, pad with {resize.get('fill_value', 114)})",
        "resize": f"resize to {w}x{h}",
        "shorter_side_center_crop": (
            f"resize the shorter side to {int(min(h, w) / resize.get('crop_pct', 1.0))}, "
            f"center-crop {w}x{h}"
        ),
    }[resize["method"]]
    norm = pre["normalize"]
    if pre.get("embedded"):
        return f"{how}; the model takes uint8 RGB pixels (NHWC) and normalizes them itself"
    return (
        f"{how} ({resize.get('interpolation', 'linear')}); RGB; x * {norm['scale']:.6g}, "
        f"minus mean {norm['mean']}, divided by std {norm['std']}; NCHW float32"
    )


def render_readme(metadata: dict[str, Any]) -> str:
    info = metadata["model_info"]
    parity = metadata["parity"]
    task = parity.get("task_agreement", {})
    model_file = info["model_file"]
    classes = ", ".join(c["name"] for c in metadata["classes"][:20])
    if len(metadata["classes"]) > 20:
        classes += f", … ({len(metadata['classes'])} in total)"
    outputs = "\n".join(
        f"| `{o['name']}` | {o.get('shape')} | {o.get('dtype', 'float32')} |"
        for o in metadata["output_spec"]["outputs"]
    )
    runtime = "onnxruntime" if model_file.endswith(".onnx") else "torch"
    lines = [
        f"# {info['model_name']} ({info['task_type'].replace('_', ' ')}), {info['export_format']}",
        "",
        f"Exported by Slipway from `{metadata['source']['checkpoint_name']}` "
        f"({info['framework']} {metadata['source']['framework_version']}).",
        "",
        "## Run it",
        "",
        "```bash",
        f"pip install numpy opencv-python-headless {runtime}",
        "python runtimes/python/example.py path/to/image.jpg",
        "```",
        "",
        "```python",
        "import sys; sys.path.insert(0, 'runtimes/python')",
        "from model_wrapper import ModelWrapper",
        f"model = ModelWrapper('{model_file}', 'metadata.json')",
        "print(model.predict('image.jpg'))",
        "```",
        "",
        "## Input",
        "",
        f"`{metadata['input_spec']['name']}`: {metadata['input_spec']['shape']} "
        f"{metadata['input_spec']['dtype']}. Preprocessing: "
        f"{_describe_preprocessing(metadata['preprocessing'])}.",
        "",
        "## Outputs",
        "",
        "| name | shape | dtype |",
        "|---|---|---|",
        outputs,
        "",
        f"Classes: {classes}.",
        "",
        "## Parity with the original model",
        "",
        f"Checked on {parity.get('images', 0)} real images with {parity.get('runtime', '?')}: "
        f"{task.get('metric', 'agreement')} {task.get('value', 0):.1%}; "
        + "; ".join(
            f"`{name}` max abs diff {o['max_abs_diff']:.3g} (tolerance {o['tolerance']:.3g})"
            for name, o in parity.get("outputs", {}).items()
        )
        + ".",
        "",
        "`metadata.json` describes everything above in machine-readable form; "
        "`export.log` records how this package was made.",
        "",
    ]
    return "\n".join(lines)
