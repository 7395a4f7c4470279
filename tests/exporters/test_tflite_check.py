"""A TFLite converter that 'succeeds' without writing a loadable model is a failed export."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.errors import InternalError
from exporters.steps.tflite import check_tflite


def test_missing_empty_or_garbage_tflite_files_fail(tmp_path: Path) -> None:
    with pytest.raises(InternalError, match="wrote no model file"):
        check_tflite(tmp_path / "model.tflite")
    empty = tmp_path / "empty.tflite"
    empty.write_bytes(b"")
    with pytest.raises(InternalError, match="wrote no model file"):
        check_tflite(empty)
    garbage = tmp_path / "garbage.tflite"
    garbage.write_bytes(b"TFL3" + bytes(200))
    with pytest.raises(InternalError, match="cannot load"):
        check_tflite(garbage)
