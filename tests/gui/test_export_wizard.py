"""The export wizard: cards from the capability matrix, a spec ExportSpec accepts, problems shown."""

from __future__ import annotations

import json
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QWizard
from pytestqt.qtbot import QtBot

from core.jobs import JobService
from core.registry import capabilities
from core.samples import sample
from core.spec import ExportSpec
from gui.wizard.export_wizard import ExportWizard


def wizard_for(qtbot: QtBot, sample_name: str) -> ExportWizard:
    service = JobService()
    s = sample(sample_name)
    checkpoint = service.import_checkpoint(s.checkpoint, name=s.title, model_name=s.model_name)
    wizard = ExportWizard(checkpoint)
    qtbot.addWidget(wizard)
    wizard.show()
    return wizard


def test_format_cards_follow_the_capability_matrix(qtbot: QtBot) -> None:
    wizard = wizard_for(qtbot, "digits-hf")
    matrix = capabilities("huggingface")["huggingface"]
    for fmt, card in wizard.format_page.cards.items():
        assert card.available == matrix[fmt]["supported"], fmt
        if not card.available:
            assert card.note.text().startswith(str(matrix[fmt]["reason"])[:30])
            assert not card.isEnabled()
    assert not wizard.format_page.cards["coreml"].available  # HF → Core ML is not a route
    wizard.format_page.choose("coreml")
    assert wizard.format_page.chosen != "coreml"


def test_wizard_builds_the_spec_exportspec_validates(qtbot: QtBot, tmp_path: Path) -> None:
    wizard = wizard_for(qtbot, "shapes-yolo11n")
    wizard.format_page.choose("onnx")
    wizard.next()
    options = wizard.options_page
    assert options.format_form is not None
    options.format_form.set_value("opset_version", 13)
    options.format_form.set_value("embed_nms", True)
    options.input_size.setValue(256)
    options.panels.panels["quantization"].set_open(True)
    options.panels.quantization.set_value("method", "dynamic")
    options.panels.panels["validation"].set_open(True)
    data_dir = sample("shapes-yolo11n").dataset
    options.panels.validation.set_value("data", data_dir)
    options.panels.validation.set_value("metrics", ["mAP50"])
    options.panels.threshold.set_value("accuracy_drop_max", 0.05)
    assert wizard.spec is not None, wizard.problem
    expected = ExportSpec.model_validate({
        "checkpoint": str(sample("shapes-yolo11n").checkpoint.resolve()), "export_format": "onnx",
        "framework": "ultralytics", "task": "detect", "input_size": 256,
        "export_config": {"opset_version": 13, "embed_nms": True},
        "optimization_config": {"quantization": {"method": "dynamic"}},
        "validation_config": {"enabled": True, "data": str(data_dir), "metrics": ["mAP50"],
                              "fail_threshold": {"accuracy_drop_max": 0.05}},
    })
    assert wizard.spec == expected
    # dynamic INT8 on a conv net: core.advice's warning is on the page
    assert "dynamic INT8" in options.advice.text()
    wizard.next()
    review = wizard.review_page
    spec_json = review.json.toPlainText()
    assert ExportSpec.model_validate(json.loads(spec_json)) == expected
    assert "onnx (int8)" in review.summary.text()
    review.copy()
    from PySide6.QtGui import QGuiApplication

    assert QGuiApplication.clipboard().text() == spec_json


def test_invalid_choices_are_explained_before_submitting(qtbot: QtBot) -> None:
    wizard = wizard_for(qtbot, "shapes-yolo11n")
    wizard.format_page.choose("onnx")
    wizard.next()
    options = wizard.options_page
    options.panels.panels["quantization"].set_open(True)
    options.panels.quantization.set_value("method", "static")  # needs a calibration folder
    assert wizard.spec is None
    assert "optimization_config.quantization" in options.problem.text()
    assert "calibration_data" in options.problem.text()
    assert not options.isComplete()
    next_button = wizard.button(QWizard.WizardButton.NextButton)
    assert not next_button.isEnabled()  # the wizard does not move on
    qtbot.mouseClick(next_button, Qt.MouseButton.LeftButton)
    assert wizard.currentPage() is options
    options.panels.quantization.set_value("calibration_data", sample("shapes-yolo11n").images)
    assert wizard.spec is not None and options.problem.text() == ""
    assert next_button.isEnabled()
    options.panels.panels["quantization"].set_open(False)
    options.task.setCurrentText("classify")
    options.format_form.set_value("embed_nms", True)  # type: ignore[union-attr]
    assert "embed_nms" in options.problem.text()


def test_format_settings_come_from_the_formats_config_model(qtbot: QtBot) -> None:
    from core.spec import FORMAT_CONFIGS

    wizard = wizard_for(qtbot, "digits-timm")
    for fmt in ("torchscript", "onnx"):
        if not wizard.format_page.cards[fmt].available:
            continue
        wizard.format_page.choose(fmt)
        wizard.next()
        form = wizard.options_page.format_form
        assert form is not None and set(form.editors) == set(FORMAT_CONFIGS[fmt].model_fields)
        assert wizard.spec is not None and wizard.spec.export_format == fmt
        wizard.back()
