"""The capability matrix page (computed live) and the settings page (saved, tested off-thread)."""

from __future__ import annotations

from pytestqt.qtbot import QtBot

from core.registry import capabilities
from core.settings import Settings
from core.spec import FORMATS, FRAMEWORKS
from gui.preferences import Preferences
from gui.views.capabilities import CapabilitiesView
from gui.views.settings import SettingsView


def test_matrix_cells_come_from_the_registry(qtbot: QtBot) -> None:
    view = CapabilitiesView()
    qtbot.addWidget(view)
    matrix = capabilities()
    for row, framework in enumerate(FRAMEWORKS):
        for column, fmt in enumerate(FORMATS):
            item = view.table.item(row, column)
            entry = matrix[framework][fmt]
            assert item.text().startswith("✓") == bool(entry["supported"]), (framework, fmt)
            if entry.get("reason"):
                assert str(entry["reason"]) in item.toolTip()
    hf_coreml = view.table.item(FRAMEWORKS.index("huggingface"), FORMATS.index("coreml"))
    assert hf_coreml.text() == "not supported"


def test_settings_are_saved_and_reloaded(qtbot: QtBot) -> None:
    view = SettingsView()
    qtbot.addWidget(view)
    view.backend.setCurrentText("s3")
    view.s3["s3_bucket"].setText("models")
    view.s3["s3_prefix"].setText("team-a")
    view.s3["s3_endpoint_url"].setText("http://127.0.0.1:9")
    view.theme.setCurrentText("dark")
    view.default_format.setCurrentText("openvino")
    with qtbot.waitSignal(view.sig_theme_changed) as theme:
        assert view.save()
    assert theme.args == ["dark"]
    saved = Settings.load()
    assert (saved.storage_backend, saved.s3_bucket, saved.s3_prefix) == ("s3", "models", "team-a")
    assert Preferences.load().default_format == "openvino"
    again = SettingsView()
    qtbot.addWidget(again)
    assert again.s3["s3_bucket"].text() == "models" and again.theme.currentText() == "dark"


def test_connection_test_reports_failure_without_freezing(qtbot: QtBot, tmp_path) -> None:  # type: ignore[no-untyped-def]
    view = SettingsView()
    qtbot.addWidget(view)
    view.backend.setCurrentText("local")
    view.local_dir.setText(str(tmp_path / "store"))
    with qtbot.waitSignal(view.probe.sig_result, timeout=10_000) as result:
        view.test_connection()
    assert result.args[0] is True
    assert view.connection.text().startswith("✓")
    view.backend.setCurrentText("s3")  # no bucket: a sentence, not a crash
    with qtbot.waitSignal(view.probe.sig_result, timeout=10_000) as result:
        view.test_connection()
    assert result.args[0] is False and "bucket" in result.args[1]
    assert view.connection.text().startswith("✗")
