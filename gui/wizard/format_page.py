"""Wizard step 1: the formats as cards, badges from the live capability matrix."""

from __future__ import annotations

from PySide6.QtWidgets import QGridLayout, QLabel, QVBoxLayout, QWizardPage

from core.registry import capabilities
from core.spec import FORMATS
from gui.widgets.format_card import FormatCard

COLUMNS = 3


class FormatPage(QWizardPage):
    def __init__(self, framework: str) -> None:
        super().__init__()
        self.setTitle("1 · Format")
        self.setSubTitle(f"Where will the model run? Badges come from this machine's capability "
                         f"matrix for {framework} models.")
        self.chosen: str | None = None
        matrix = capabilities(framework).get(framework, {})
        layout = QVBoxLayout(self)
        grid = QGridLayout()
        grid.setSpacing(10)
        self.cards: dict[str, FormatCard] = {}
        for i, fmt in enumerate(FORMATS):
            entry = matrix.get(fmt, {"supported": False, "reason": f"no route for {framework}"})
            card = FormatCard(fmt, entry)
            card.sig_clicked.connect(self.choose)
            grid.addWidget(card, i // COLUMNS, i % COLUMNS)
            self.cards[fmt] = card
        layout.addLayout(grid)
        self.hint = QLabel("Pick a format to continue.")
        layout.addWidget(self.hint)
        layout.addStretch()
        first = next((f for f, c in self.cards.items() if c.available), None)
        if first:
            self.choose(first)

    def choose(self, export_format: str) -> None:
        if not self.cards[export_format].available:
            return
        self.chosen = export_format
        for fmt, card in self.cards.items():
            card.set_selected(fmt == export_format)
        self.hint.setText(f"Selected: {export_format}")
        self.completeChanged.emit()

    def isComplete(self) -> bool:
        return self.chosen is not None
