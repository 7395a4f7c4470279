from __future__ import annotations

import json
from pathlib import Path

from core import protocol
from core.errors import EXIT_CODES, BadInput, ValidationFailed


def test_free_text_becomes_a_log_event() -> None:
    assert protocol.decode("Ultralytics 8.4 🚀 Python")["type"] == "log"
    assert protocol.decode('{"type": "bogus"}')["type"] == "log"
    assert protocol.decode('{"type": "progress", "percent": 1}')["type"] == "progress"


def test_progress_is_monotonic_across_stages() -> None:
    points = [protocol.overall_percent(stage, f) for stage in protocol.STAGES for f in (0, 0.5, 1)]
    assert points == sorted(points)
    assert points[0] == 0.0 and points[-1] == 100.0


def test_atomic_json_and_result_reading(tmp_path: Path) -> None:
    protocol.write_json_atomic(tmp_path / "result.json", {"type": "result", "x": 1})
    assert protocol.read_result(tmp_path) == {"type": "result", "x": 1}
    (tmp_path / "result.json").write_text('{"type": "res')  # a torn write
    assert protocol.read_result(tmp_path) is None
    assert [p.name for p in tmp_path.iterdir()] == ["result.json"]


def test_error_events_carry_code_and_exit_code() -> None:
    event = ValidationFailed("output0 diverged").to_event()
    assert json.loads(protocol.encode(event))["code"] == "validation_failed"
    assert EXIT_CODES == {"bad_input": 2, "unsupported": 3, "validation_failed": 4, "internal": 1}
    assert BadInput("x").to_event()["code"] == "bad_input"
