"""Fill a package's runtimes/ and README.md from its metadata.json."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

TEMPLATES = Path(__file__).resolve().parent / "templates"
PYTHON_FILES = ("model_wrapper.py", "requirements.txt", "example.py")
# every runtime's files, copied as they are: each wrapper reads metadata.json at run time
RUNTIME_FILES: dict[str, tuple[str, ...]] = {
    "python": PYTHON_FILES,
    "cpp": ("model_wrapper.h", "model_wrapper.cpp", "preprocessing.cpp", "postprocessing.cpp",
            "segmentation.cpp", "main.cpp", "CMakeLists.txt"),
    "swift": ("ModelWrapper.swift", "Preprocessing.swift", "Postprocessing.swift", "Package.swift",
              "ViewController.swift"),
    "kotlin": ("ModelWrapper.kt", "Preprocessing.kt", "Postprocessing.kt", "build.gradle", "MainActivity.kt"),
}


def write_python_runtime(package_dir: Path) -> list[Path]:
    """Copy the standalone Python wrapper; it reads everything from metadata.json."""
    target = package_dir / "runtimes" / "python"
    target.mkdir(parents=True, exist_ok=True)
    written = []
    for name in PYTHON_FILES:
        shutil.copyfile(TEMPLATES / "python" / name, target / name)
        written.append(target / name)
    return written


def write_runtimes(package_dir: Path) -> list[Path]:
    """runtimes/{python,cpp,swift,kotlin}/ for the package; the same files for every model,
    since each wrapper takes its whole behaviour from the package's metadata.json."""
    if not (package_dir / "metadata.json").is_file():
        raise FileNotFoundError(f"{package_dir} has no metadata.json")
    written = []
    for runtime, names in RUNTIME_FILES.items():
        target = package_dir / "runtimes" / runtime
        target.mkdir(parents=True, exist_ok=True)
        for name in names:
            shutil.copyfile(TEMPLATES / runtime / name, target / name)
            written.append(target / name)
    return written


def _runtime_sections(metadata: dict[str, Any], golden: dict[str, Any] | None) -> list[str]:
    """How to build and run each runtime, and check it against runtimes/golden/."""
    model_file = metadata["model_info"]["model_file"]
    lines = [
        "## Other runtimes",
        "",
        "Each wrapper reads `metadata.json` at run time (input size, resize, normalization, colour "
        "order, output layout, NMS, class names) and returns the Python wrapper's prediction shape.",
        "",
        "**C++** (`runtimes/cpp/`, OpenCV plus ONNX Runtime, or OpenCV's DNN module alone):",
        "",
        "```bash",
        "cmake -S runtimes/cpp -B build -DSLIPWAY_BACKEND=onnxruntime -DONNXRUNTIME_ROOT=<onnxruntime>",
        "# or: cmake -S runtimes/cpp -B build -DSLIPWAY_BACKEND=opencv_dnn",
        "cmake --build build --config Release",
        f"./build/slipway_example {model_file} metadata.json runtimes/golden/image.png",
        "```",
        "",
        "It prints one JSON line per image: `{\"image\": ..., \"predictions\": [...]}`, the predictions "
        "in the Python wrapper's shape (`rbox` and `polygon` for rotated boxes, `keypoints`, one segment "
        "per class with its `area` for semantic models); with `--masks` segmentation models compute "
        "masks too, printed as a summary (`height`, `width` and how many `pixels` they cover), not whole "
        "(`slipway::ModelWrapper::predict` returns them whole, `class_map` gives a semantic model's class "
        "of every pixel). With `--dump-tensor DIR` it runs no model and writes each image's input tensor "
        "instead, to compare preprocessing with another runtime (it equals the Python wrapper's); with "
        "`--decode` it decodes raw output tensors instead, to compare post-processing. "
        "The OpenCV DNN backend needs OpenCV 4.6 or newer with its `dnn` module. Slipway rewrites two "
        "forms of ONNX exports that OpenCV's importer misreads (a `Split` into unequal parts becomes "
        "`Slice`s, a constant broadcast over a leading axis is tiled), with the same results, checked "
        "by the parity gate; the sample YOLO11 detector and timm classifier give the Python wrapper's "
        "predictions on OpenCV 4.6 (the detector also runs on OpenCV 5). A graph OpenCV cannot read "
        "still fails at load (on 4.6: a detector exported with NMS in the graph, `--embed-nms`): use "
        "ONNX Runtime then.",
        "",
        "**Swift** (`runtimes/swift/`, Core ML + Vision, iOS 15 / macOS 12): add the folder as a local "
        "Swift package, bundle the `.mlpackage` and `metadata.json`; `ViewController.swift` is a sample "
        "screen. `ModelWrapper(modelURL:metadataURL:).predict(cgImage)`.",
        "",
        "**Kotlin** (`runtimes/kotlin/`, Android: LiteRT for `.tflite`, ONNX Runtime Android for "
        "`.onnx`): use `build.gradle` for the app module, put the model, `metadata.json` and an image in "
        "`assets/`; `MainActivity.kt` is a sample. `ModelWrapper(file, metadataJson).predict(bitmap)`.",
        "",
    ]
    if golden and golden.get("expected"):
        lines += [
            "**Checking an integration**: `runtimes/golden/image.png` with `expected.json`, the "
            f"predictions of {golden['source']} at conf {golden['conf']} and IoU {golden['iou']}. "
            "Run your integration on that image with the same thresholds: the same classes, and boxes "
            "within a pixel or two (resize implementations differ slightly between platforms).",
            "",
        ]
    elif golden:
        lines += [f"**Checking an integration**: {golden.get('reason', 'no golden predictions')}.", ""]
    return lines


def _describe_step(step: dict[str, Any]) -> str:
    """One preprocessing step in words, with every setting a reimplementation needs."""
    if step["op"] == "resize":
        h, w = step.get("size") or (None, None)
        how = {
            "exact": f"resize to {w}x{h}",
            "shortest_edge": f"resize the shorter side to {step.get('edge')}"
            + (f" (the longer side at most {step['max_edge']})" if step.get("max_edge") else ""),
            "longest_edge": f"resize the longer side to {step.get('edge')}",
            "fit": f"resize to fit in {w}x{h}, aspect ratio kept",
        }[step["mode"]]
        sampler = "as PIL resamples" if step.get("antialias", True) else "as OpenCV's cv2.resize does"
        multiple = f", then each side rounded up to a multiple of {step['multiple_of']}" \
            if step.get("multiple_of") else ""
        return f"{how} ({step.get('interpolation', 'bilinear')} {sampler}; sizes rounded the " \
               f"'{step.get('rule', 'floor')}' way{multiple})"
    if step["op"] == "center_crop":
        fill = step.get("fill", [0, 0, 0])
        if step.get("fraction"):
            fh, fw = step["fraction"]
            return (f"center-crop floor({fw:.6g} x s) by floor({fh:.6g} x s), s the shorter side "
                    f"(smaller images padded with {fill} first)")
        h, w = step["size"]
        return f"center-crop {w}x{h} (smaller images padded with {fill} first)"
    target = f"{step['size'][1]}x{step['size'][0]}" if step.get("size") else \
        f"a multiple of {step.get('multiple_of')}"
    return f"pad to {target} ({step.get('position', 'center')}) with {step.get('fill', [114, 114, 114])}"


def _describe_preprocessing(pre: dict[str, Any]) -> str:
    if "steps" in pre:
        how = ", then ".join(_describe_step(step) for step in pre["steps"]) or "no resize"
    else:  # a schema-1 package: one resize object
        h, w = pre["resize"]["size"]
        how = f"{pre['resize']['method']} to {w}x{h}"
    norm = pre["normalize"]
    color = pre.get("format", {}).get("color_space", "RGB")
    if pre.get("embedded"):
        return f"{how}; the model takes uint8 {color} pixels and normalizes them itself"
    return (
        f"{how}; {color}; x * {norm['scale']:.6g}, minus mean {norm['mean']}, divided by std "
        f"{norm['std']} (mean and std in RGB order); NCHW float32"
    )


PIP_RUNTIME = {
    ".onnx": "onnxruntime",
    ".torchscript": "torch",
    ".xml": "openvino",
    ".tflite": "ai-edge-litert",
    ".mlpackage": "coremltools  # macOS only",
    ".engine": "tensorrt torch  # NVIDIA GPU",
}


def _describe_parity(parity: dict[str, Any], task: dict[str, Any]) -> str:
    if parity.get("status") == "not_run":
        checks = ", ".join(name for name, ok in parity.get("structure_checks", {}).items() if ok)
        return (f"**Not run**: {parity.get('reason')}. Verified here without a runtime: {checks}. "
                "Check predictions on a Mac before shipping.")
    return (
        f"Checked on {parity.get('images', 0)} real images with {parity.get('runtime', '?')} "
        f"at {parity.get('precision', 'fp32')}: {task.get('metric', 'agreement')} "
        f"{task.get('value', 0):.1%}; "
        + "; ".join(
            f"`{name}` max abs diff {o['max_abs_diff']:.3g} "
            + (f"(tolerance {o['tolerance']:.3g})" if o["tolerance"] is not None
               else "(reported, not gating)")
            for name, o in parity.get("outputs", {}).items()
        )
        + "."
    )


def _speed_note(speed: dict[str, Any]) -> str:
    """The speed gate's finding, in words (its numbers are in metadata.json)."""
    if not speed["judged"]:
        return f"Speed not judged on the exporting machine: {speed['reason']}."
    line = (f"Speed on the exporting machine: {speed['optimized_ms']:.2f} ms per run against "
            f"{speed['float_ms']:.2f} ms for the float model ({speed['speedup']:.2f}×, "
            f"with this package's runtime)")
    if speed.get("kept_for") == "size":
        line += "; not faster, kept for its smaller file (goal: size)"
    return line + "."


def _optimization_notes(metadata: dict[str, Any]) -> list[str]:
    lines: list[str] = []
    quant = (metadata.get("optimization_stats") or {}).get("quantization")
    if quant:
        line = f"Quantized: {quant['method']}"
        if quant.get("quant_format"):
            line += (f" ({quant['quant_format']}, per-channel {quant['per_channel']}, "
                     f"{quant['calibration_images']} calibration images, {quant['calibration_method']})")
        kept = quant.get("kept_in_float") or []
        if kept:
            line += f"; {len(kept)} node(s) kept in float (see metadata.json)"
        lines += [line + ".", ""]
    speed = (metadata.get("optimization_stats") or {}).get("speed")
    if speed:
        lines += [_speed_note(speed), ""]
    validation = metadata.get("validation")
    if validation:
        lines += [f"Validated on {validation['images']} labeled images: {validation['metric']} "
                  f"{validation['original']:.4f} (original) → {validation['exported']:.4f} (this model), "
                  f"drop {validation['accuracy_drop']:.4f} (limit {validation['accuracy_drop_max']}). "
                  "Details: validation_results.json.", ""]
    return (["## Optimization and validation", "", *lines]) if lines else []


def _format_notes(metadata: dict[str, Any]) -> list[str]:
    runtime = metadata.get("runtime", {})
    if "openvino" in runtime:
        hint = runtime["openvino"]["INFERENCE_PRECISION_HINT"]
        return ["## OpenVINO precision", "",
                f"Parity was checked with `INFERENCE_PRECISION_HINT={hint}`; the Python wrapper sets "
                "it. Without it OpenVINO computes in bf16 on CPUs with AMX or AVX512-BF16, faster "
                "but with outputs that differ by around 1%.", ""]
    if "tensorrt" in runtime:
        return ["## TensorRT engine", "",
                "The engine runs only on the GPU model and TensorRT version that built it. On "
                "another machine rebuild it from `model.onnx` with `./build_engine.sh` (trtexec).",
                ""]
    return []


def render_build_engine(metadata: dict[str, Any]) -> str:
    """build_engine.sh: rebuild model.engine from model.onnx on the target GPU with trtexec."""
    trt = metadata["runtime"]["tensorrt"]
    spec = metadata["input_spec"]
    name, shape = spec["name"], spec["shape"]
    flags = [f"--memPoolSize=workspace:{int(trt['workspace_size_gb'] * 1024)}M"]
    if trt["precision"] == "fp16":
        flags.append("--fp16")
    if isinstance(shape[0], str):  # dynamic batch: one profile from 1 to max_batch_size
        rest = "x".join(str(d) for d in shape[1:])
        top = trt["max_batch_size"]
        flags += [f"--minShapes={name}:1x{rest}", f"--optShapes={name}:{max(1, top // 2)}x{rest}",
                  f"--maxShapes={name}:{top}x{rest}"]
    lines = [
        "#!/usr/bin/env bash",
        "# Rebuild model.engine for this machine's GPU from model.onnx (needs TensorRT's trtexec).",
        "set -euo pipefail",
        'cd "$(dirname "$0")"',
        'TRTEXEC="${TRTEXEC:-trtexec}"',
        'command -v "$TRTEXEC" >/dev/null || { echo "trtexec not found: install TensorRT" >&2; exit 1; }',
        '"$TRTEXEC" --onnx=model.onnx --saveEngine=model.engine ' + " ".join(flags) + ' "$@"',
        "",
    ]
    return "\n".join(lines)


def render_readme(metadata: dict[str, Any], golden: dict[str, Any] | None = None) -> str:
    """README.md; golden: what runtimes/golden/ holds (source, conf, iou) or why it is empty."""
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
    runtime = PIP_RUNTIME[Path(model_file).suffix]
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
        _describe_parity(parity, task),
        "",
        *_optimization_notes(metadata),
        *_format_notes(metadata),
        *_runtime_sections(metadata, golden),
        "`metadata.json` describes everything above in machine-readable form; "
        "`export.log` records how this package was made.",
        "",
    ]
    return "\n".join(lines)
