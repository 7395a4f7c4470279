"""Export every zoo family to every format through the real CLI and write the coverage table.

    python -m tests.zoo.run [--library huggingface|timm|ultralytics] [--family NAME ...]
                            [--formats onnx openvino tflite torchscript] [--redo]
                            [--results FILE] [--merge FILE ...]

Each (family, format) is one `slipway export ... --json` in a fresh data directory,
offline (the tests' network guard). An export counts as covered when it exits 0 with
the parity gate passed *and* the package's wrapper gives what the framework's own
pipeline gives (preprocessing, model, post-processing) on real photos. Results go to
docs/zoo/coverage.json as they come (an interrupted run resumes where it stopped), one
entry at a time under a lock, so runs of other libraries or formats can go side by side;
docs/zoo/coverage.md and the README's table are rendered from that file. ``--results``
writes elsewhere, ``--merge`` brings such a file's entries into coverage.json.
"""

from __future__ import annotations

import argparse
import fcntl
import json
import os
import re
import shutil
import sys
import tempfile
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "docs" / "zoo" / "coverage.json"
TABLE = ROOT / "docs" / "zoo" / "coverage.md"
README = ROOT / "README.md"
FORMATS = ("onnx", "openvino", "tflite", "torchscript")
README_START, README_END = "<!-- zoo-coverage:start -->", "<!-- zoo-coverage:end -->"
PHOTOS = ("astronaut", "coffee", "chelsea")  # scikit-image's bundled photos
TOP_K = 10  # the framework's most confident predictions compared with the package's


@dataclass
class Outcome:
    status: str  # passed | refused | failed
    detail: str = ""
    seconds: float = 0.0
    parity: str = ""
    pipeline: str = ""  # the wrapper against the framework's own pipeline

    def to_json(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if v not in ("", None)}


def offline_env(home: Path) -> dict[str, str]:
    """The environment the test suite gives its CLI runs: offline, a throwaway HOME."""
    netguard = ROOT / "tests" / "netguard"
    return {
        "SLIPWAY_BLOCK_NETWORK": "1",
        "PYTHONPATH": os.pathsep.join([str(netguard), str(ROOT)]),
        "HOME": str(home),
        "QT_QPA_PLATFORM": "offscreen",
    }


def photos() -> list[tuple[str, np.ndarray]]:
    from skimage import data

    out = []
    for name in PHOTOS:
        image = getattr(data, name)()
        if image.ndim == 2:
            image = np.stack([image] * 3, axis=-1)
        out.append((name, np.ascontiguousarray(image[:, :, :3], dtype=np.uint8)))
    return out


def compare_with_framework(family: Any, checkpoint: Path, package: Path) -> str:
    """'' when the package's wrapper agrees with the framework's pipeline on every photo,
    else what differed. Raises AssertionError with the same words, for tests."""
    from core.inference import open_package
    from core.parity import compare, pixel_agreement

    wrapper = open_package(package)
    problems = []
    for name, rgb in photos():
        theirs = family.framework_predict(checkpoint, rgb, 0.0)
        if family.task == "semantic":
            ours = wrapper.predict(rgb, masks=True)
            share = pixel_agreement(_class_map(theirs, rgb.shape[:2]), _class_map(ours, rgb.shape[:2]))
            if share < 0.99:
                problems.append(f"{name}: {share:.1%} of pixels agree")
            continue
        theirs = sorted(theirs, key=lambda p: -p["confidence"])[:TOP_K]
        if family.task == "classify":
            ours = wrapper.predict(rgb)
            agreed, total, _ = compare("classify", theirs, ours, 0.9)
            gap = max((abs(t["confidence"] - o["confidence"]) for t, o in zip(theirs, ours, strict=False)),
                      default=0.0)
            if agreed < total or gap > 1e-3:
                problems.append(f"{name}: top-1 {ours[0]['class_id']} vs {theirs[0]['class_id']}, "
                                f"probabilities differ by {gap:.2g}")
            continue
        floor = min((p["confidence"] for p in theirs), default=0.0) * 0.5
        ours = wrapper.predict(rgb, conf=floor, masks=family.task == "segment")
        agreed, total, _ = compare(family.task, theirs, ours, 0.9)
        if total == 0 or agreed < total:
            problems.append(f"{name}: {agreed}/{total} of the framework's boxes found")
    return "; ".join(problems)


def _class_map(segments: list[dict[str, Any]], shape: tuple[int, int]) -> np.ndarray:
    out = np.full(shape, -1, dtype=np.int64)
    for segment in segments:
        out[np.asarray(segment["mask"], dtype=bool)] = segment["class_id"]
    return out


def export_one(family: Any, checkpoint: Path, fmt: str, work: Path) -> Outcome:
    """One `slipway export` of a family's checkpoint, judged."""
    from tests.helpers import slipway

    out = work / f"pkg-{fmt}"
    shutil.rmtree(out, ignore_errors=True)
    home = work / f"home-{fmt}"
    shutil.rmtree(home, ignore_errors=True)
    start = time.perf_counter()
    run = slipway("export", str(checkpoint), "--format", fmt, *family.export_args, "--out", str(out),
                  "--json", home=home, timeout=3600)
    seconds = round(time.perf_counter() - start, 1)
    message = _error(run)
    if run.code == 3:
        return Outcome("refused", message, seconds)
    if run.code != 0:
        return Outcome("failed", f"exit {run.code}: {message}", seconds)
    parity = run.result.get("parity") or {}
    summary = _parity_summary(parity)
    if parity.get("status") == "not_run":
        return Outcome("passed", "structure checks only", seconds, summary)
    if not parity.get("passed"):
        return Outcome("failed", "exit 0 without a passed gate", seconds, summary)
    pipeline = ""
    if family.framework_predict is not None:
        try:
            pipeline = compare_with_framework(family, checkpoint, out)
        except Exception as err:  # a crash while comparing is a finding, not a stop
            pipeline = f"comparison crashed: {type(err).__name__}: {err}"
        if pipeline:
            return Outcome("failed", f"the wrapper differs from the framework's pipeline: {pipeline}",
                           seconds, summary)
    return Outcome("passed", "", seconds, summary, "agrees" if family.framework_predict else "")


def _error(run: Any) -> str:
    lines = [ln for ln in run.stderr.strip().splitlines() if ln.startswith("error:")]
    text = lines[-1].removeprefix("error:").strip() if lines else run.stderr.strip()[-300:]
    return " ".join(text.split())[:400]


def _parity_summary(parity: dict[str, Any]) -> str:
    task = parity.get("task_agreement") or {}
    if not task:
        return str(parity.get("status", ""))
    return f"{task.get('metric')} {task.get('agreed')}/{task.get('total')}"


def load_results(path: Path = RESULTS) -> dict[str, dict[str, Any]]:
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}


def save_entry(name: str, entry: dict[str, Any], path: Path = RESULTS) -> None:
    """One family's entry (its description, and the formats it ran) into the results file,
    read again under a lock so that other runs' entries are kept."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.with_suffix(".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        results = load_results(path)
        stored = results.setdefault(name, {})
        formats = {**stored.get("formats", {}), **entry.get("formats", {})}
        stored.update({**entry, "formats": formats})
        temporary = path.with_suffix(".tmp")
        temporary.write_text(json.dumps(results, indent=1, sort_keys=True) + "\n", encoding="utf-8")
        temporary.replace(path)


def run(families: Iterable[Any], formats: Iterable[str], redo: bool, work_root: Path,
        path: Path = RESULTS) -> None:
    results = load_results(path)
    for family in families:
        entry = results.setdefault(family.name, {})
        entry.update(library=family.library, task=family.task, note=family.note)
        todo = [f for f in formats if redo or f not in entry.get("formats", {})]
        if not todo:
            continue
        work = work_root / family.name.replace("/", "__")
        work.mkdir(parents=True, exist_ok=True)
        try:
            checkpoint = family.build(work / "checkpoint")
        except Exception as err:  # the zoo's own builder broke: record it, go on
            for fmt in todo:
                outcome = Outcome("failed", f"building the zoo model: {err}")
                entry.setdefault("formats", {})[fmt] = outcome.to_json()
            save_entry(family.name, entry, path)
            continue
        for fmt in todo:
            outcome = export_one(family, checkpoint, fmt, work)
            entry.setdefault("formats", {})[fmt] = outcome.to_json()
            save_entry(family.name, entry, path)
            print(f"{family.name:<40} {fmt:<12} {outcome.status:<8} {outcome.seconds:>7.1f}s "
                  f"{outcome.detail[:100]}", flush=True)
        shutil.rmtree(work, ignore_errors=True)
    if path == RESULTS:
        render(load_results())


# --- the coverage table ------------------------------------------------------

_MARK = {"passed": "✅", "refused": "⛔", "failed": "❌"}


def families_of(results: dict[str, dict[str, Any]]) -> dict[str, list[str]]:
    """Family → its checkpoints' names (``detr`` and ``detr-imgsz640`` are one family)."""
    families: dict[str, list[str]] = {}
    for name in sorted(results):
        families.setdefault(re.sub(r"-imgsz\d+$", "", name), []).append(name)
    return families


STATUSES = ("passed", "refused", "failed")
Statuses = dict[str, str | None]  # format → a checkpoint's or a family's status (None: not run)


def family_statuses(results: dict[str, dict[str, Any]], members: list[str]) -> Statuses:
    """A family passes a format when one of its checkpoints does, else is refused when one is."""
    merged: Statuses = {}
    for fmt in FORMATS:
        seen = {results[m].get("formats", {}).get(fmt, {}).get("status") for m in members}
        merged[fmt] = next((s for s in STATUSES if s in seen), None)
    return merged


def summary(units: list[Statuses], not_run_row: bool) -> list[str]:
    """Passed, refused and failed per format over checkpoints or families (share of those run)."""
    rows = ["| | " + " | ".join(FORMATS) + " |", "|---|" + "---|" * len(FORMATS)]
    for status in STATUSES:
        cells = []
        for fmt in FORMATS:
            done = [unit[fmt] for unit in units if unit[fmt] is not None]
            count = done.count(status)
            cells.append(f"{count}/{len(done)} ({count / len(done):.0%})" if done else "-")
        rows.append(f"| {_MARK[status]} {status} | " + " | ".join(cells) + " |")
    if not_run_row:
        rows.append("| · not run yet | " + " | ".join(str(sum(u[f] is None for u in units)) for f in FORMATS)
                    + " |")
    return rows


def render(results: dict[str, dict[str, Any]]) -> str:
    """docs/zoo/coverage.md and the README's table, from coverage.json."""
    lines = ["| family | task | " + " | ".join(FORMATS) + " |", "|---|---|" + "---|" * len(FORMATS)]
    reasons: dict[str, int] = {}  # reason → its footnote number (one note for a reason many share)
    for name in sorted(results):
        entry = results[name]
        cells = []
        for fmt in FORMATS:
            outcome = entry.get("formats", {}).get(fmt)
            if outcome is None:
                cells.append("·")
                continue
            if outcome["status"] == "passed":
                cells.append(_MARK["passed"])
                continue
            number = reasons.setdefault(str(outcome["detail"]), len(reasons) + 1)
            cells.append(f"{_MARK[outcome['status']]} [{number}]")
        label = f"{name} ({entry['note']})" if entry.get("note") else name
        lines.append(f"| {label} | {entry.get('task', '')} | " + " | ".join(cells) + " |")
    checkpoints = [{f: results[n].get("formats", {}).get(f, {}).get("status") for f in FORMATS}
                   for n in sorted(results)]
    families = families_of(results)
    by_family = summary([family_statuses(results, members) for members in families.values()], False)
    notes = [f"{i}. {reason}" for reason, i in reasons.items()]
    intro = (
        f"{len(results)} checkpoints of {len(families)} families, random weights, built "
        "from each library's own configuration and preprocessing objects (`tests/zoo/`). ✅ exported "
        "with the parity gate passed and the package's wrapper agreeing with the framework's own "
        "pipeline on real photos; ⛔ refused up front (exit 3) with the reason; ❌ failed. Generated by "
        "`make test-zoo`; do not edit by hand."
    )
    by_family_intro = (
        "By family (a family passes a format when one of its checkpoints does, e.g. `detr-imgsz640` "
        "for `detr`; it is refused when none passes and one is refused):"
    )
    body = "\n".join([intro, "", by_family_intro, "", *by_family, "", "By checkpoint:", "",
                      *summary(checkpoints, True), "",
                      *lines, "", *notes, ""])
    TABLE.parent.mkdir(parents=True, exist_ok=True)
    TABLE.write_text("# Zoo coverage\n\n" + body, encoding="utf-8")
    readme = README.read_text(encoding="utf-8")
    if README_START in readme and README_END in readme:
        head, rest = readme.split(README_START, 1)
        _, tail = rest.split(README_END, 1)
        README.write_text(f"{head}{README_START}\n{body}\n{README_END}{tail}", encoding="utf-8")
    return body


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--library", choices=("huggingface", "timm", "ultralytics"))
    parser.add_argument("--family", nargs="+", help="family names (or a prefix ending in *)")
    parser.add_argument("--formats", nargs="+", choices=FORMATS, default=list(FORMATS))
    parser.add_argument("--redo", action="store_true", help="run again what coverage.json already has")
    parser.add_argument("--render", action="store_true", help="only render the table from coverage.json")
    parser.add_argument("--results", type=Path, default=RESULTS, help="write the results here instead")
    parser.add_argument("--merge", nargs="+", type=Path, default=[],
                        help="bring these results files' entries into coverage.json, then render")
    args = parser.parse_args(argv)
    for other in args.merge:
        for name, entry in load_results(other).items():
            save_entry(name, entry)
    if args.render or args.merge:
        render(load_results())
        return 0
    from tests.zoo import all_families

    families = [f for f in all_families() if args.library in (None, f.library)]
    if args.family:
        wanted = args.family
        families = [f for f in families
                    if any(f.name == w or (w.endswith("*") and f.name.startswith(w[:-1])) for w in wanted)]
    with tempfile.TemporaryDirectory(prefix="slipway-zoo-") as work:
        user_home = Path(work) / "home"
        user_home.mkdir()
        os.environ.update(offline_env(user_home))
        from exporters.offline import configure_offline

        configure_offline(Path(work) / "cache")
        run(families, args.formats, args.redo, Path(work), args.results)
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    sys.exit(main())
