"""The export wizard: cards from the capability matrix, a spec ExportSpec accepts, problems shown."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QComboBox, QWizard
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
    options.panels.panels["quantization"].set_enabled(True)
    options.panels.quantization.set_value("method", "dynamic")
    options.panels.panels["validation"].set_enabled(True)
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
    assert "to ONNX (INT8)" in review.summary.text()
    assert "Precision INT8 (dynamic): weights (activations are quantized as it runs)" in review.summary.text()
    assert "Remove overlapping boxes inside the model (NMS): yes" in review.summary.text()
    assert "Goal: speed (if it is not faster than the float model here" in review.summary.text()
    review.copy()
    from PySide6.QtGui import QGuiApplication

    assert QGuiApplication.clipboard().text() == spec_json


def test_invalid_choices_are_explained_before_submitting(qtbot: QtBot) -> None:
    wizard = wizard_for(qtbot, "shapes-yolo11n")
    wizard.format_page.choose("onnx")
    wizard.next()
    options = wizard.options_page
    options.panels.panels["quantization"].set_enabled(True)
    options.panels.quantization.set_value("method", "static")  # needs a calibration folder
    assert wizard.spec is None
    # said in the form's words: no field paths, no pydantic prefixes
    problem = options.problem.text()
    assert problem.startswith("Quantization: static INT8 quantization needs “Calibration images”"), problem
    assert "calibration_data" not in options.problem.text() and "Value error" not in options.problem.text()
    assert not options.isComplete()
    next_button = wizard.button(QWizard.WizardButton.NextButton)
    assert not next_button.isEnabled()  # the wizard does not move on
    qtbot.mouseClick(next_button, Qt.MouseButton.LeftButton)
    assert wizard.currentPage() is options
    options.panels.quantization.set_value("calibration_data", sample("shapes-yolo11n").images)
    assert wizard.spec is not None and options.problem.text() == ""
    assert next_button.isEnabled()
    options.panels.panels["quantization"].set_enabled(False)
    options.task.setCurrentText("classify")
    options.format_form.set_value("embed_nms", True)  # type: ignore[union-attr]
    assert "“Remove overlapping boxes inside the model (NMS)”" in options.problem.text()
    assert "embed_nms" not in options.problem.text()


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


def test_an_open_panel_adds_nothing_until_switched_on(qtbot: QtBot) -> None:
    wizard = wizard_for(qtbot, "digits-timm")
    wizard.format_page.choose("onnx")
    wizard.next()
    panels = wizard.options_page.panels
    plain = wizard.spec
    assert plain is not None
    for panel in panels.panels.values():
        assert not panel.enabled and not panel.expanded  # off and closed to begin with
        panel.set_open(True)  # the user only looks
        assert panel.content.isVisible() and not panel.content.isEnabled()  # shown, greyed out
        assert not panel.enabled
    assert wizard.spec == plain  # nothing was switched on by opening
    assert wizard.spec.optimization_config.quantization is None
    assert wizard.spec.optimization_config.pruning is None and not wizard.spec.validation_config.enabled
    pruning = panels.panels["pruning"]
    pruning.switch.click()  # the explicit switch
    assert pruning.enabled and pruning.content.isEnabled()
    assert wizard.spec is not None and wizard.spec.optimization_config.pruning is not None
    assert wizard.spec.optimization_config.pruning.sparsity == 0.5
    pruning.set_open(False)  # collapsing hides the form and keeps the choice
    assert wizard.spec.optimization_config.pruning is not None
    pruning.switch.click()
    assert wizard.spec.optimization_config.pruning is None
    wizard.next()
    assert "Quantization: none" in wizard.review_page.summary.text()
    assert "Pruning: none" in wizard.review_page.summary.text()


def test_quantization_offers_only_the_formats_methods(qtbot: QtBot) -> None:
    from core import formats

    wizard = wizard_for(qtbot, "shapes-yolo11n")
    panels = wizard.options_page.panels
    quantization = panels.panels["quantization"]
    seen = []
    for fmt, card in wizard.format_page.cards.items():
        if not card.available:
            continue
        wizard.format_page.choose(fmt)
        wizard.next()
        methods = formats.get(fmt).quantizers
        quantization.set_open(True)
        if not methods:
            assert not quantization.switch.isEnabled()
            assert "no quantization method" in quantization.note.text()
            quantization.set_enabled(True)
            assert not quantization.enabled
            assert wizard.spec is not None and wizard.spec.optimization_config.quantization is None
        else:
            quantization.set_enabled(True)
            assert panels.quantization.options["method"] == methods, fmt
            combo = panels.quantization.editors["method"]
            assert isinstance(combo, QComboBox)
            assert [combo.itemText(i) for i in range(combo.count())] == list(methods)
            if "dynamic" not in methods:  # e.g. OpenVINO: never preselects a method its worker refuses
                chosen = wizard.spec.optimization_config.quantization if wizard.spec else None
                assert chosen is None or chosen.method != "dynamic"
        seen.append(fmt)
        quantization.set_enabled(False)
        wizard.back()
    assert {"onnx", "openvino", "torchscript"} <= set(seen)


def test_openvino_quantization_asks_for_calibration_instead_of_failing_later(qtbot: QtBot) -> None:
    wizard = wizard_for(qtbot, "shapes-yolo11n")
    if not wizard.format_page.cards["openvino"].available:
        return
    wizard.format_page.choose("onnx")
    wizard.next()
    options = wizard.options_page
    options.panels.panels["quantization"].set_enabled(True)
    assert wizard.spec is not None and wizard.spec.optimization_config.quantization is not None
    assert wizard.spec.optimization_config.quantization.method == "dynamic"
    wizard.back()
    wizard.format_page.choose("openvino")  # the user changes the format with quantization on
    wizard.next()
    assert options.panels.quantization.options["method"] == ("static",)
    assert wizard.spec is None and "“Calibration images”" in options.problem.text()  # said here, not at 0.7 s
    options.panels.quantization.set_value("calibration_data", sample("shapes-yolo11n").images)
    assert wizard.spec is not None and wizard.spec.optimization_config.quantization is not None
    assert wizard.spec.optimization_config.quantization.method == "static"
    wizard.next()
    assert "Quantization: static" in wizard.review_page.summary.text()


def test_the_review_explains_stored_weights_and_compute_precision(qtbot: QtBot) -> None:
    wizard = wizard_for(qtbot, "shapes-yolo11n")
    if not wizard.format_page.cards["openvino"].available:
        pytest.skip("OpenVINO is not installed here")
    wizard.format_page.choose("openvino")
    wizard.next()
    wizard.options_page.format_form.set_value("precision", "FP16")  # type: ignore[union-attr]
    wizard.next()
    text = wizard.review_page.summary.text()
    assert "to OpenVINO (FP16)" in text
    assert ("Precision: weights stored as FP16 (half the size of FP32); the model computes in f32 when "
            "it runs") in text
    assert "Stored weights: FP16; Model takes BGR: no; Computes in: f32" in text


def test_settings_are_labelled_in_words_from_the_settings_models(qtbot: QtBot) -> None:
    from PySide6.QtWidgets import QFormLayout, QLabel

    from core.spec import FORMAT_CONFIGS, FailThreshold, PruningConfig, QuantizationConfig, ValidationConfig

    for model in (*FORMAT_CONFIGS.values(), QuantizationConfig, PruningConfig, FailThreshold):
        for name, info in model.model_fields.items():
            assert info.title, f"{model.__name__}.{name} has no title for the app"
    for name in ("data", "metrics"):
        assert ValidationConfig.model_fields[name].title
    wizard = wizard_for(qtbot, "shapes-yolo11n")
    wizard.format_page.choose("onnx")
    wizard.next()
    options = wizard.options_page
    assert options.format_box.title() == "ONNX settings"
    form = options.format_form
    assert form is not None
    layout = form.layout()
    assert isinstance(layout, QFormLayout)
    labels = [w.text() for w in form.findChildren(QLabel)]
    assert "Remove overlapping boxes inside the model (NMS)" in labels and "ONNX opset" in labels
    assert not any("_" in text or text in ("Embed nms", "Opset version") for text in labels)


def test_the_goal_applies_to_an_optimization_and_reaches_the_spec(qtbot: QtBot) -> None:
    wizard = wizard_for(qtbot, "digits-timm")
    wizard.format_page.choose("onnx")
    wizard.next()
    panels = wizard.options_page.panels
    assert not panels.goal.isEnabled()  # nothing to optimize: no goal to choose
    panels.goal.set_value("goal", "size")
    assert wizard.spec is not None and "goal" not in wizard.spec.optimization_config.model_fields_set
    panels.panels["quantization"].set_enabled(True)
    panels.quantization.set_value("method", "dynamic")
    assert panels.goal.isEnabled()
    assert wizard.spec is not None and wizard.spec.optimization_config.goal == "size"
    wizard.next()
    assert "Goal: size (its speed against the float model is measured" in wizard.review_page.summary.text()
