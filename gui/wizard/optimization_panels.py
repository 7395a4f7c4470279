"""Wizard step 2's optimization panels: quantization, pruning, validation.

Each panel is a form over the spec's own model (``QuantizationConfig``,
``PruningConfig``, ``ValidationConfig``) with an explicit on/off switch. A panel is
off until the user switches it on; only a switched-on panel adds its section to the
spec (opening a panel only shows its form). The quantization methods offered are
the ones the chosen format has (the format registry), so the wizard never offers a
method the worker would refuse.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QVBoxLayout, QWidget

from core import formats
from core.spec import FailThreshold, OptimizationConfig, PruningConfig, QuantizationConfig, ValidationConfig
from gui.widgets.collapsible import CollapsiblePanel
from gui.widgets.model_form import ModelForm


def quantization_methods(export_format: str) -> tuple[str, ...]:
    """THE ONE PLACE the GUI asks which quantization methods a format has: the format
    registry's ``quantizers`` (what the worker's quantizer table can run for it)."""
    return tuple(formats.get(export_format).quantizers)


class OptimizationPanels(QWidget):
    sig_changed = Signal()
    """A panel was switched on or off, or one of its fields changed."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.export_format: str | None = None
        self.quantization = ModelForm(QuantizationConfig)
        self.pruning = ModelForm(PruningConfig)
        validation = QWidget()
        box = QVBoxLayout(validation)
        box.setContentsMargins(0, 0, 0, 0)
        self.validation = ModelForm(ValidationConfig, exclude=frozenset({"enabled", "fail_threshold"}))
        self.threshold = ModelForm(FailThreshold)
        box.addWidget(self.validation)
        box.addWidget(self.threshold)
        self.panels = {
            "quantization": CollapsiblePanel("Quantization (method, calibration folder, samples)",
                                             self.quantization),
            "pruning": CollapsiblePanel("Pruning (method, sparsity)", self.pruning),
            "validation": CollapsiblePanel("Validation (dataset, metrics, maximum drop)", validation),
        }
        # what quantization and pruning are for: speed (the speed gate) or size
        self.goal = ModelForm(OptimizationConfig, exclude=frozenset({"quantization", "pruning"}))
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        for name, panel in self.panels.items():
            panel.sig_toggled.connect(self.sig_changed)
            panel.sig_toggled.connect(lambda _on: self._show_goal())
            layout.addWidget(panel)
            if name == "pruning":
                layout.addWidget(self.goal)
        for form in (self.quantization, self.pruning, self.validation, self.threshold, self.goal):
            form.sig_changed.connect(self.sig_changed)
        self._show_goal()

    def _optimizing(self) -> bool:
        return self.panels["quantization"].enabled or self.panels["pruning"].enabled

    def _show_goal(self) -> None:
        """The goal means something only for a model that quantization or pruning changes."""
        self.goal.setEnabled(self._optimizing())

    def set_format(self, export_format: str) -> None:
        """Offer the quantization methods this format has; none: the panel cannot be switched on."""
        self.export_format = export_format
        methods = quantization_methods(export_format)
        panel = self.panels["quantization"]
        if methods:
            self.quantization.set_choices("method", methods)
        title = formats.get(export_format).title
        panel.set_available(bool(methods), f"{title} has no quantization method")
        panel.switch.setToolTip(f"Apply quantization ({', '.join(methods)}) to the {title} export"
                                if methods else f"{title} exports cannot be quantized by Slipway")

    def spec_sections(self) -> dict[str, Any]:
        """optimization_config and validation_config for the spec (only what is switched on)."""
        out: dict[str, Any] = {}
        optimization: dict[str, Any] = {}
        if self.panels["quantization"].enabled:
            optimization["quantization"] = self.quantization.values()
        if self.panels["pruning"].enabled:
            optimization["pruning"] = self.pruning.values()
        if optimization:
            out["optimization_config"] = {**optimization, **self.goal.values()}
        if self.panels["validation"].enabled:
            section: dict[str, Any] = {"enabled": True, **self.validation.values()}
            if threshold := self.threshold.values():
                section["fail_threshold"] = threshold
            out["validation_config"] = section
        return out
