"""Keep the ML libraries off the network and out of the user's home directory.

Must run before any of them is imported. Ultralytics probes DNS on import, checks
for Arial.ttf online and pip-installs missing packages; Hugging Face reaches the
hub; OpenVINO and NNCF send telemetry; several libraries write settings under
$HOME. Every worker calls :func:`configure_offline` first.
"""

from __future__ import annotations

import os
import shutil
from importlib.util import find_spec
from pathlib import Path

_FLAGS = {
    "YOLO_OFFLINE": "1",
    "YOLO_AUTOINSTALL": "False",
    "ULTRALYTICS_SKIP_REQUIREMENTS_CHECKS": "1",
    "YOLO_VERBOSE": "False",
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "HF_DATASETS_OFFLINE": "1",
    "HF_HUB_DISABLE_TELEMETRY": "1",
    "DO_NOT_TRACK": "1",
    "TF_CPP_MIN_LOG_LEVEL": "2",
    "TOKENIZERS_PARALLELISM": "false",
    "USE_TF": "0",  # transformers would import TensorFlow (slow, and it crashes beside triton)
    "USE_FLAX": "0",
    "PYTHONWARNINGS": "ignore::DeprecationWarning",
}


def _provide_font(config_dir: Path) -> None:
    """Ultralytics wants Arial.ttf and downloads it when missing; give it a bundled font."""
    target = config_dir / "Ultralytics" / "Arial.ttf"
    if target.exists():
        return
    spec = find_spec("matplotlib")
    if spec is None or spec.origin is None:
        return
    font = Path(spec.origin).parent / "mpl-data" / "fonts" / "ttf" / "DejaVuSans.ttf"
    if font.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(font, target)
        shutil.copyfile(font, target.with_name("Arial.Unicode.ttf"))


def configure_offline(cache: Path) -> None:
    """Set the environment so no library reaches the network or writes to $HOME."""
    cache.mkdir(parents=True, exist_ok=True)
    for key, value in _FLAGS.items():
        os.environ.setdefault(key, value)
    dirs = {
        "YOLO_CONFIG_DIR": cache / "ultralytics",
        "HF_HOME": cache / "huggingface",
        "TORCH_HOME": cache / "torch",
        "KERAS_HOME": cache / "keras",
        "MPLCONFIGDIR": cache / "matplotlib",
        "XDG_CACHE_HOME": cache / "xdg",
    }
    for key, path in dirs.items():
        path.mkdir(parents=True, exist_ok=True)
        os.environ[key] = str(path)
    _provide_font(dirs["YOLO_CONFIG_DIR"])
    _private_home(cache / "home")


def _private_home(home: Path) -> None:
    """The worker's $HOME: whatever a library still writes there stays in Slipway's cache.

    OpenVINO and NNCF send telemetry unless a consent file under $HOME says no
    (they read no environment variable); it is written here, declined.
    """
    consent = home / "intel" / "openvino_telemetry"
    if not consent.exists():
        consent.parent.mkdir(parents=True, exist_ok=True)
        consent.write_text("0")
    os.environ["HOME"] = str(home)
