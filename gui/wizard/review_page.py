"""Wizard step 3: a readable summary and the exact spec JSON (what `slipway export --spec` takes)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from PySide6.QtGui import QFontDatabase, QGuiApplication
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPlainTextEdit, QPushButton, QVBoxLayout, QWizardPage

from core import formats
from core.spec import ExportSpec
from gui.widgets.model_form import label_for

if TYPE_CHECKING:
    from gui.wizard.export_wizard import ExportWizard


def shown(value: Any) -> str:
    """A setting's value for people."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if value is None:
        return "automatic"
    if isinstance(value, list | tuple):
        return ", ".join(str(v) for v in value)
    return str(value)


def precision_line(spec: ExportSpec) -> str:
    """What the export stores and computes in, in words: the header's precision explained."""
    q = spec.optimization_config.quantization
    config = spec.export_config
    computes = getattr(config, "inference_precision", None)
    if q is not None and q.method in ("static", "dynamic"):
        what = ("weights and activations" if q.method == "static"
                else "weights (activations are quantized as it runs)")
        return (f"Precision INT8 ({q.method}): {what} become 8-bit integers, about 4× smaller; the "
                "parity gate compares predictions, since raw values move.")
    if computes is not None:  # stored weights and compute precision are separate settings
        stored = str(getattr(config, "precision", "FP32"))
        smaller = " (half the size of FP32)" if stored == "FP16" else ""
        return (f"Precision: weights stored as {stored}{smaller}; the model computes in {computes} "
                "when it runs (“Computes in”, pinned in the package), and the parity gate checks it "
                "that way.")
    if spec.precision == "fp16":
        return ("Precision FP16: weights and computation in half precision, half the size; small "
                "differences from the original are expected and checked by the parity gate.")
    if spec.precision == "int8":
        return "Precision INT8: 8-bit integer weights and computation, about 4× smaller."
    return f"Precision {spec.precision.upper()}: as the original model computes."


def goal_line(spec: ExportSpec) -> str:
    """What the speed gate will do with this optimized export."""
    if not spec.format.speed_judged_here:
        return (f"Goal: {spec.optimization_config.goal} (a {spec.format.title} model is not timed "
                "on this machine: it runs on other hardware)")
    if spec.optimization_config.goal == "size":
        return "Goal: size (its speed against the float model is measured and recorded)"
    return "Goal: speed (if it is not faster than the float model here, it is not handed over)"


def summary(spec: ExportSpec, name: str) -> str:
    described = formats.get(spec.export_format)
    lines = [f"Export {name} to {described.title} ({spec.precision.upper()})", precision_line(spec)]
    lines.append(f"Framework {spec.framework}, task {spec.task}"
                 + (f", architecture {spec.model_name}" if spec.model_name else "")
                 + (f", input {spec.input_size}px" if spec.input_size else ", model's input size"))
    config = spec.export_config
    lines.append(f"{described.title} settings: " + "; ".join(
        f"{label_for(field, info)}: {shown(getattr(config, field))}"
        for field, info in type(config).model_fields.items()))
    q = spec.optimization_config.quantization
    p = spec.optimization_config.pruning
    if q is None:
        lines.append("Quantization: none")
    else:
        calibration = (f", calibration {q.calibration_data} ({q.calibration_samples} samples)"
                       if q.calibration_data else "")
        lines.append(f"Quantization: {q.method}{calibration}")
    lines.append(f"Pruning: {p.method} to {p.sparsity:.0%} sparsity" if p else "Pruning: none")
    if p is not None or spec.precision != "fp32":
        lines.append(goal_line(spec))
    v = spec.validation_config
    lines.append(f"Validation on {v.data}, metrics {', '.join(v.metrics) or 'default'}, "
                 f"maximum drop {v.fail_threshold.accuracy_drop_max:.1%}" if v.enabled else
                 "Validation: none (the parity gate still runs)")
    return "\n".join(lines)


class ReviewPage(QWizardPage):
    def __init__(self, wizard: ExportWizard) -> None:
        super().__init__()
        self.owner = wizard
        self.setTitle("3 · Review")
        self.setSubTitle("Check the export, then start it. The JSON is the same spec the CLI takes.")
        self.summary = QLabel()
        self.summary.setWordWrap(True)
        self.json = QPlainTextEdit()
        self.json.setReadOnly(True)
        self.json.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        copy = QPushButton("Copy spec JSON")
        copy.clicked.connect(self.copy)
        self.advice = QLabel()
        self.advice.setWordWrap(True)
        self.advice.setStyleSheet("color: #8d6e00;")
        buttons = QHBoxLayout()
        buttons.addStretch()
        buttons.addWidget(copy)
        layout = QVBoxLayout(self)
        layout.addWidget(self.summary)
        layout.addWidget(self.advice)
        layout.addWidget(self.json, 1)
        layout.addLayout(buttons)

    def initializePage(self) -> None:
        spec = self.owner.spec
        if spec is None:
            return
        self.summary.setText(summary(spec, self.owner.checkpoint.name))
        self.json.setPlainText(spec.to_json())
        self.advice.setText("\n".join(f"⚠ {a}" for a in self.owner.advice))

    def copy(self) -> None:
        QGuiApplication.clipboard().setText(self.json.toPlainText())
