"""Recognise a checkpoint's framework and task without running any of its code.

A pickled ``.pt`` file can execute arbitrary code when it is loaded, so the GUI
and the CLI host never load one. Instead they read the pickle's opcode stream
(``pickletools.genops`` decodes it without executing anything) and look at the
classes it would import: ``ultralytics.nn.tasks.DetectionModel`` says a lot.
Only the worker process ever unpickles a checkpoint.
"""

from __future__ import annotations

import io
import json
import pickletools
import struct
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from core.errors import BadInput

HF_WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin", "model.safetensors.index.json")
ULTRALYTICS_TASKS = {
    "DetectionModel": "detect",
    "ClassificationModel": "classify",
    "SegmentationModel": "segment",
    "PoseModel": "pose",
    "OBBModel": "obb",
    "RTDETRDetectionModel": "detect",
}
_PICKLE_PROTOCOL_OPS = {"PROTO", "FRAME"}


# Hugging Face heads, by the suffix of the architecture's class name
# (PerceiverForImageClassificationLearned, DeiTForImageClassificationWithTeacher, ...)
HF_HEADS = {
    "ForImageClassification": "classify",
    "ForObjectDetection": "detect",
    "ForSemanticSegmentation": "semantic",
}


def hf_task(architecture: str | None) -> str | None:
    """The task of a Hugging Face head class; None when config.json names none (or another head)."""
    for head, task in HF_HEADS.items():
        if architecture and head in architecture:
            return task
    return None


@dataclass(frozen=True)
class CheckpointInfo:
    """What can be told about a checkpoint from its bytes alone."""

    path: Path
    framework: str  # ultralytics | timm | huggingface
    task: str | None  # None when only loading the model can tell
    kind: str  # ultralytics-pickle | state-dict | timm-train | hf-directory | safetensors
    globals: frozenset[str] = field(default_factory=frozenset)
    model_type: str | None = None  # HF config model_type
    architecture: str | None = None  # HF config architectures[0], e.g. "DetrForObjectDetection"


def _pickle_globals(data: bytes) -> set[str]:
    """Names of the classes and functions a pickle would import, read from its opcodes."""
    names: set[str] = set()
    strings: list[str] = []
    try:
        for op, arg, _pos in pickletools.genops(io.BytesIO(data)):
            if op.name in ("GLOBAL", "INST") and isinstance(arg, str):
                names.add(arg.replace(" ", "."))
            elif op.name == "STACK_GLOBAL" and len(strings) >= 2:
                names.add(f"{strings[-2]}.{strings[-1]}")
            elif isinstance(arg, str) and op.name not in _PICKLE_PROTOCOL_OPS:
                strings.append(arg)
            if op.name == "STOP":
                break
    except (ValueError, struct.error, EOFError) as err:
        raise BadInput(f"the checkpoint's pickle data is corrupt or truncated ({err})") from None
    return names


def _read_torch_pickle(path: Path) -> bytes:
    """The main pickle of a ``torch.save`` file, zip (current) or legacy format."""
    head = path.read_bytes()[:4] if path.stat().st_size else b""
    if not head:
        raise BadInput(f"{path.name} is empty")
    if head.startswith(b"PK"):
        try:
            with zipfile.ZipFile(path) as archive:
                pickles = [n for n in archive.namelist() if n.endswith("/data.pkl") or n == "data.pkl"]
                if not pickles:
                    raise BadInput(f"{path.name} is a zip archive but not a PyTorch checkpoint")
                return archive.read(pickles[0])
        except zipfile.BadZipFile:
            raise BadInput(f"{path.name} is truncated or corrupt (unreadable zip archive)") from None
        except (zipfile.LargeZipFile, OSError, EOFError) as err:
            raise BadInput(f"{path.name} could not be read: {err}") from None
    if head[:1] == b"\x80":  # legacy torch.save: a bare pickle stream
        return path.read_bytes()
    raise BadInput(
        f"{path.name} is not a PyTorch checkpoint (expected a torch.save zip archive or pickle)"
    )


def _classify_pickle(path: Path, names: set[str]) -> CheckpointInfo:
    frozen = frozenset(names)
    for name in names:
        module, _, cls = name.rpartition(".")
        if module.startswith("ultralytics.") and cls in ULTRALYTICS_TASKS:
            task = ULTRALYTICS_TASKS[cls]
            return CheckpointInfo(path, "ultralytics", task, "ultralytics-pickle", frozen)
    if any(n.startswith("transformers.") for n in names):
        raise BadInput(
            f"{path.name} is a pickled Hugging Face model; export the model directory "
            "written by save_pretrained() instead"
        )
    if any(n.startswith("timm.") for n in names):
        return CheckpointInfo(path, "timm", "classify", "timm-module", frozen)
    tensor_only = all(
        n.startswith(("torch.", "collections.OrderedDict", "_codecs.", "builtins.", "numpy."))
        for n in names
    )
    if tensor_only:
        if not any("rebuild_tensor" in n or "rebuild_parameter" in n for n in names):
            raise BadInput(f"{path.name} holds no model weights (no tensors in the pickle)")
        return CheckpointInfo(path, "timm", "classify", "state-dict", frozen)
    foreign = sorted(n for n in names if not n.startswith(("torch.", "collections.", "builtins.")))
    raise BadInput(
        f"{path.name} is a pickled object of unknown kind ({', '.join(foreign[:3])}); "
        "expected an Ultralytics checkpoint, a timm state dict or a Hugging Face directory"
    )


def _safetensors_keys(path: Path) -> list[str]:
    with path.open("rb") as fh:
        raw_len = fh.read(8)
        if len(raw_len) != 8:
            raise BadInput(f"{path.name} is truncated (no safetensors header)")
        (length,) = struct.unpack("<Q", raw_len)
        if length > 100_000_000 or length > path.stat().st_size:
            raise BadInput(f"{path.name} is not a valid safetensors file (bad header length)")
        try:
            header = json.loads(fh.read(length))
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise BadInput(f"{path.name} is not a valid safetensors file (bad header)") from None
    return [k for k in header if k != "__metadata__"]


def _inspect_hf_dir(path: Path) -> CheckpointInfo:
    config_file = path / "config.json"
    if not config_file.is_file():
        raise BadInput(f"{path} is a directory without config.json; not a Hugging Face model")
    if not any((path / w).exists() for w in HF_WEIGHT_FILES):
        raise BadInput(f"{path} has a config.json but no weights ({' or '.join(HF_WEIGHT_FILES[:2])})")
    try:
        config = json.loads(config_file.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise BadInput(f"{config_file} is not valid JSON: {err}") from None
    if not isinstance(config, dict):
        raise BadInput(f"{config_file} is not a JSON object")
    model_type = config.get("model_type")
    architectures = config.get("architectures") or []
    architecture = str(architectures[0]) if isinstance(architectures, list) and architectures else None
    return CheckpointInfo(path, "huggingface", hf_task(architecture), "hf-directory",
                          model_type=model_type, architecture=architecture)



# image processors whose resize always ends square at ``size["shortest_edge"]`` (a crop_pct
# resize-then-crop below 384, a warp at or above it)
_SQUARE_AT_SHORTEST_EDGE = ("ConvNextImageProcessor", "ConvNextImageProcessorFast")


def _pair(size: object) -> tuple[int, int] | None:
    if isinstance(size, int):
        return size, size
    if isinstance(size, dict) and isinstance(size.get("height"), int) and isinstance(size.get("width"), int):
        return size["height"], size["width"]
    return None


def hf_processor_size(model_dir: Path) -> tuple[int, int] | None:
    """The (height, width) a Hugging Face image processor's output always has, read from its
    preprocessor_config.json; None when it follows each image (DETR's shortest/longest edge)
    or the file does not say. The worker reads the processor itself; this is the up-front
    view the CLI and the app check options against."""
    try:
        config = json.loads((Path(model_dir) / "preprocessor_config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(config, dict):
        return None
    crop = _pair(config.get("crop_size"))
    if config.get("do_center_crop") and crop is not None:
        return crop
    if config.get("do_resize", True) is False:
        return None
    size = config.get("size")
    if _pair(size) is not None:
        return _pair(size)
    if isinstance(size, dict) and config.get("image_processor_type") in _SQUARE_AT_SHORTEST_EDGE:
        edge = size.get("shortest_edge")
        return (edge, edge) if isinstance(edge, int) else None
    return None


def inspect_checkpoint(path: Path) -> CheckpointInfo:
    """Tell the framework, task and kind of a checkpoint, or say clearly why not."""
    path = Path(path)
    if not path.exists():
        raise BadInput(f"checkpoint not found: {path}")
    if path.is_dir():
        return _inspect_hf_dir(path)
    suffix = path.suffix.lower()
    if suffix == ".safetensors":
        if (path.parent / "config.json").is_file():
            return _inspect_hf_dir(path.parent)
        if not _safetensors_keys(path):
            raise BadInput(f"{path.name} holds no tensors")
        return CheckpointInfo(path, "timm", "classify", "safetensors")
    if suffix in (".pt", ".pth", ".bin", ".ckpt"):
        return _classify_pickle(path, _pickle_globals(_read_torch_pickle(path)))
    raise BadInput(
        f"{path.name}: unrecognised checkpoint type '{suffix or 'no suffix'}' "
        "(expected .pt, .pth, .safetensors or a Hugging Face model directory)"
    )
