"""What this machine can do, asked without importing heavy libraries into the caller.

The CLI and the app decide what to offer before any job exists, within a second or
two, so nothing here imports torch. What only torch can tell (whether its build has
XNNPACK for PyTorch Mobile's passes) is asked once in a child process and cached in
the data directory, keyed by torch's version.
"""

from __future__ import annotations

import json
import subprocess
import sys
from functools import cache
from importlib import metadata
from importlib.util import find_spec
from pathlib import Path

from core.paths import cache_dir


def installed(module: str) -> bool:
    try:
        return find_spec(module) is not None
    except (ImportError, ValueError):  # a parent package that is not installed
        return False


def cuda_gpu_present() -> bool:
    """An NVIDIA driver with at least one GPU, probed without importing torch."""
    gpus = Path("/proc/driver/nvidia/gpus")
    return gpus.is_dir() and any(gpus.iterdir())


@cache
def cpu_flags() -> frozenset[str]:
    try:
        text = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return frozenset()
    for line in text.splitlines():
        if line.startswith("flags"):
            return frozenset(line.partition(":")[2].split())
    return frozenset()


def cpu_computes_bf16() -> bool:
    """OpenVINO's CPU plugin computes in bf16 with AVX512-BF16 or AMX; elsewhere it cannot."""
    return bool({"avx512_bf16", "amx_bf16"} & cpu_flags())


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


_XNNPACK_PROBE = "import torch; print(bool(getattr(torch._C, '_is_xnnpack_enabled', lambda: False)()))"


def torch_has_xnnpack() -> bool:
    """PyTorch Mobile's passes need XNNPACK, which some builds (the CUDA wheels) leave out."""
    version = _version("torch")
    if version is None:
        return False
    cache_file = cache_dir() / "probes.json"
    try:
        known = json.loads(cache_file.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        known = {}
    key = f"xnnpack/torch-{version}"
    if key not in known:
        try:
            run = subprocess.run([sys.executable, "-c", _XNNPACK_PROBE], capture_output=True, text=True,
                                 timeout=120, check=False)
        except (OSError, subprocess.TimeoutExpired):
            return False
        known[key] = run.returncode == 0 and run.stdout.strip() == "True"
        cache_file.write_text(json.dumps(known, indent=1), encoding="utf-8")
    return bool(known[key])
