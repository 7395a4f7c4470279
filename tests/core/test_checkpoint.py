"""Recognising checkpoints from their bytes, without running any of their code."""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import pytest

from core.checkpoint import inspect_checkpoint
from core.errors import BadInput
from core.samples import sample


def test_samples_are_recognised() -> None:
    det = inspect_checkpoint(sample("shapes-yolo11n").checkpoint)
    assert (det.framework, det.task, det.kind) == ("ultralytics", "detect", "ultralytics-pickle")
    timm = inspect_checkpoint(sample("digits-timm").checkpoint)
    assert (timm.framework, timm.kind) == ("timm", "state-dict")
    hf = inspect_checkpoint(sample("digits-hf").checkpoint)
    assert (hf.framework, hf.kind, hf.model_type) == ("huggingface", "hf-directory", "resnet")


def test_hf_safetensors_file_points_to_its_directory() -> None:
    info = inspect_checkpoint(sample("digits-hf").checkpoint / "model.safetensors")
    assert info.framework == "huggingface"


@pytest.mark.parametrize("task", ["classify", "segment", "pose"])
def test_ultralytics_tasks(tmp_path: Path, task: str) -> None:
    from exporters.offline import configure_offline

    configure_offline(tmp_path / "cache")
    from ultralytics import YOLO

    suffix = {"classify": "-cls", "segment": "-seg", "pose": "-pose"}[task]
    path = tmp_path / "m.pt"
    YOLO(f"yolo11n{suffix}.yaml").save(str(path))
    assert inspect_checkpoint(path).task == task


class _Exploit:
    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (os.system, ("touch pwned-by-pickle",))


def test_a_malicious_pickle_is_not_executed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "evil.pt"
    path.write_bytes(pickle.dumps(_Exploit(), protocol=4))
    with pytest.raises(BadInput, match="unknown kind"):
        inspect_checkpoint(path)
    assert not (tmp_path / "pwned-by-pickle").exists()


def test_truncated_checkpoint(tmp_path: Path) -> None:
    data = sample("shapes-yolo11n").checkpoint.read_bytes()
    path = tmp_path / "cut.pt"
    path.write_bytes(data[: len(data) // 3])
    with pytest.raises(BadInput, match="truncated or corrupt"):
        inspect_checkpoint(path)


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("empty.pt", b"", "empty"),
        ("text.pt", b"hello, this is not a model", "not a PyTorch checkpoint"),
        ("model.onnx", b"\x08\x07", "unrecognised checkpoint type"),
        ("bad.safetensors", b"\x01\x02", "truncated"),
    ],
)
def test_garbage_files(tmp_path: Path, name: str, content: bytes, message: str) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(BadInput, match=message):
        inspect_checkpoint(path)


def test_a_pt_that_holds_no_weights(tmp_path: Path) -> None:
    import torch

    path = tmp_path / "numbers.pt"
    torch.save([1, 2, 3], path)
    with pytest.raises(BadInput, match="no model weights"):
        inspect_checkpoint(path)


def test_directories_that_are_not_models(tmp_path: Path) -> None:
    with pytest.raises(BadInput, match="without config"):
        inspect_checkpoint(tmp_path)
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(BadInput, match="no weights"):
        inspect_checkpoint(tmp_path)
