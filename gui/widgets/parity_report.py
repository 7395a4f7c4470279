"""The parity report as a person reads it: the verdict, the outputs, the task and
preprocessing agreement, and, when the gate compared layers, the error along the network
with the first divergent layer marked (exporters/localize writes ``layers``)."""

from __future__ import annotations

import html
import math
from typing import Any

FAIL, PASS, MARK = "#f8d7da", "#d4edda", "#ffe08a"
BAR_WIDTH = 160  # pixels for a relative error of 1 (100 %); the scale is logarithmic below it
MAX_LAYER_ROWS = 400


def _e(value: Any) -> str:
    return html.escape(str(value))


def _num(value: Any) -> str:
    return "—" if value is None else f"{value:.3g}" if isinstance(value, float) else _e(value)


def _table(header: list[str], rows: list[tuple[list[str], str | None]]) -> str:
    head = "".join(f"<th align='left'>{_e(h)}</th>" for h in header)
    body = "".join(
        f"<tr{f' bgcolor={colour!r}' if colour else ''}>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>"
        for cells, colour in rows)
    return f"<table cellpadding='3' cellspacing='0' border='1'><tr>{head}</tr>{body}</table>"


def _bar(relative: float) -> str:
    """A bar whose length grows with log10 of the relative error, from 1e-7 to 1."""
    width = 0 if relative <= 0 else int(BAR_WIDTH * min(1.0, max(0.0, (math.log10(relative) + 7) / 7)))
    return f"<table cellpadding='0' cellspacing='0'><tr><td width='{max(width, 1)}' bgcolor='#5b8def'>" \
           "&nbsp;</td></tr></table>"


def _verdict(report: dict[str, Any]) -> str:
    if report.get("status") == "not_run":
        return f"<p><b>Not run</b>: {_e(report.get('reason', ''))}</p>"
    passed = bool(report.get("passed"))
    tolerance = report.get("tolerance") or {}
    words = "passed" if passed else "failed"
    return (f"<p style='background:{PASS if passed else FAIL}'><b>Parity gate {words}</b> on "
            f"{_e(report.get('images', '?'))} images · precision {_e(report.get('precision', '?'))} · "
            f"atol {_num(tolerance.get('atol'))}, rtol {_num(tolerance.get('rtol'))} · "
            f"runtime {_e(report.get('runtime', '?'))}</p>")


def _outputs(report: dict[str, Any]) -> str:
    outputs = report.get("outputs") or {}
    if not outputs:
        return f"<p>{_e(report.get('outputs_note', 'Raw outputs were not compared.'))}</p>"
    rows = [([f"<code>{_e(name)}</code>", _num(o.get("max_abs_diff")), _num(o.get("mean_abs_diff")),
              _num(o.get("tolerance")), "✓" if o.get("passed") else "✗"], None if o.get("passed") else FAIL)
            for name, o in outputs.items()]
    table = _table(["output", "max abs diff", "mean abs diff", "tolerance", ""], rows)
    note = report.get("outputs_note")  # e.g. the top-k rows only one run selected, left out
    return table + (f"<p>{_e(note)}</p>" if note else "")


def _agreement(title: str, part: dict[str, Any] | None) -> str:
    if not part:
        return ""
    value = part.get("value")
    shown = f"{value:.1%}" if isinstance(value, float) else "—"
    required = part.get("required")
    need = f" (required {required:.0%})" if isinstance(required, float) else ""
    note = f" — {_e(part['note'])}" if part.get("note") else ""
    colour = PASS if part.get("passed") else FAIL
    return (f"<p style='background:{colour}'><b>{_e(title)}</b>: {_e(part.get('metric', ''))} {shown}{need}, "
            f"{_e(part.get('agreed', '?'))}/{_e(part.get('total', '?'))}{note}</p>")


def _layers(layers: dict[str, Any]) -> str:
    if layers.get("status") != "compared":
        return f"<h4>Layers</h4><p>{_e(layers.get('reason', 'not compared'))}</p>"
    first = layers.get("first_divergent")
    parts = ["<h4>Layers</h4>"]
    if first:
        folded = f", with {', '.join(first['folded'])} folded in" if first.get("folded") else ""
        parts.append(f"<p style='background:{MARK}'><b>First divergent layer: {_e(first['module'])}</b> "
                     f"({_e(first['type'])}{_e(folded)}), max abs diff {_num(first['max_abs_diff'])} &gt; "
                     f"{_num(first['tolerance'])}</p>")
    elif layers.get("most_sensitive"):
        parts.append("<p>No tolerance at this precision; the layers that lose most: "
                     + ", ".join(f"<code>{_e(m)}</code>" for m in layers["most_sensitive"]) + "</p>")
    else:
        parts.append("<p>Every compared layer is within the tolerance.</p>")
    parts.append(f"<p>{_e(layers.get('matched'))} layers compared on {_e(layers.get('images'))} images, "
                 f"in network order; {_e(layers.get('unmatched'))} modules have no tensor of their own in "
                 f"the exported graph ({_e(layers.get('format'))}, {_e(layers.get('seconds'))} s).</p>")
    rows = []
    for row in (layers.get("layers") or [])[:MAX_LAYER_ROWS]:
        colour = MARK if first and row["module"] == first["module"] else FAIL if row.get("diverged") else None
        rows.append(([f"<code>{_e(row['module'])}</code>", _e(row["type"]), _num(row["max_abs_diff"]),
                      _num(row["max_rel_diff"]), _bar(float(row["max_rel_diff"])), _num(row["cosine"]),
                      _num(row["snr_db"])], colour))
    parts.append(_table(["layer", "type", "max abs", "max rel", "relative error (log)", "cosine", "SNR dB"],
                        rows))
    return "".join(parts)


def parity_html(report: dict[str, Any] | None) -> str:
    """The whole report as HTML for a QTextBrowser."""
    if not report:
        return "<p>No parity report for this export.</p>"
    parts = [_verdict(report), "<h4>Outputs</h4>", _outputs(report),
             _agreement("Task agreement", report.get("task_agreement")),
             _agreement("Preprocessing agreement", report.get("preprocessing_agreement"))]
    if report.get("layers"):
        parts.append(_layers(report["layers"]))
    return "".join(parts)
