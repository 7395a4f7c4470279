"""``python -m exporters.evaluate_process``: an export or its original over a folder of images.

The child behind the app's Evaluate view and ``slipway evaluate`` (the GUI never loads a
runtime heavier than ONNX Runtime, nor torch; the CLI shares the child so both run one
path). Two modes:

    evaluate --package DIR --data FOLDER --out REPORT.json [--original SPEC.json] [--limit N]
    predict  --package DIR --images FOLDER_OR_IMAGE... --out FILE.csv|FILE.json [--original SPEC]
             [--conf C] [--iou I]

The export runs through its package's wrapper (``core.inference.open_package``); with
``--original`` the checkpoint named by the export's spec runs instead, on the tensor the
package's metadata.json describes, decoded by the package's own post-processing before
any in-graph NMS (as the parity gate and the Compare view run it). The scoring and the
files are ``core.evaluation``'s. Stdout carries JSON lines: ``{"type": "progress", "done":
i, "total": n}`` per image, then ``{"type": "done", "out": PATH}`` or ``{"type": "error",
"code": ..., "message": ...}``. The result file is written whole at the end (a partial file
renamed), so a run that is stopped leaves nothing half-written. Exit codes as the worker's.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import tempfile
from pathlib import Path
from types import FrameType
from typing import IO, Any

from core.errors import BadInput, SlipwayError, Unsupported


class Original:
    """The original checkpoint behind an export's reference processing: ``run`` and ``postprocess``."""

    def __init__(self, spec_path: Path, package: Path, work: Path) -> None:
        from core.inference import wrapper_module
        from core.spec import load_spec
        from exporters.original_process import Originals
        from exporters.parity import reference_processing

        self.model = Originals(work).get(load_spec(spec_path))
        metadata = json.loads((package / "metadata.json").read_text(encoding="utf-8"))
        self.preprocess, self.postprocess = reference_processing(wrapper_module(), metadata, self.model)

    def run(self, rgb: Any) -> tuple[list[Any], dict[str, float]]:
        tensor, transform = self.preprocess(rgb)
        return list(self.model.forward(tensor, checkpoint=True)), transform


def open_model(args: argparse.Namespace, work: Path) -> tuple[Any, str, list[str]]:
    """(model, task, class names) of the package, or of its original with ``--original``."""
    from core.inference import open_package

    wrapper = open_package(args.package)
    task = str(wrapper.metadata["model_info"]["task"])
    model = Original(args.original, args.package, work) if args.original else wrapper
    return model, task, list(wrapper.class_names)


def run(args: argparse.Namespace, emit: IO[str]) -> Path:
    from core import evaluation
    from core.datasets import check_classes, labels_task, load_dataset

    def progress(done: int, total: int) -> None:
        emit.write(json.dumps({"type": "progress", "done": done, "total": total}) + "\n")
        emit.flush()

    with tempfile.TemporaryDirectory(prefix="slipway-evaluate-") as work:
        if args.mode == "predict":
            images = evaluation.image_files(args.images)  # a wrong folder fails before the model loads
            model, task, _ = open_model(args, Path(work))
            rows = evaluation.predict_images(model, images, args.conf, args.iou, progress)
            return evaluation.write_predictions(rows, task, args.out)
        package_task = json.loads((args.package / "metadata.json").read_text(encoding="utf-8"))
        model_task = str(package_task["model_info"]["task"])
        if model_task in ("obb", "semantic"):
            raise Unsupported(f"evaluating {model_task} models is not built (no rotated-box mAP or mIoU "
                              "yet); “Predict to file…” writes their predictions")
        task = labels_task(model_task)
        dataset = load_dataset(args.data, task, args.limit)
        model, _, names = open_model(args, Path(work))
        check_classes(dataset, names)
        report = evaluation.evaluate(model, dataset, names, progress)
        report["model"] = {"package": str(args.package), "original": bool(args.original)}
        evaluation.write_whole(args.out, json.dumps(report) + "\n")
        return Path(args.out)


def parser() -> argparse.ArgumentParser:
    main_parser = argparse.ArgumentParser(prog="python -m exporters.evaluate_process", description=__doc__,
                                          formatter_class=argparse.RawDescriptionHelpFormatter)
    modes = main_parser.add_subparsers(dest="mode", required=True)
    for mode in ("evaluate", "predict"):
        sub = modes.add_parser(mode)
        sub.add_argument("--package", required=True, type=Path)
        sub.add_argument("--original", type=Path, help="the export's spec: run its original checkpoint")
        sub.add_argument("--out", required=True, type=Path)
        if mode == "evaluate":
            sub.add_argument("--data", required=True, type=Path)
            sub.add_argument("--limit", type=int)
        else:
            sub.add_argument("--images", required=True, type=Path, nargs="+")
            sub.add_argument("--conf", type=float)
            sub.add_argument("--iou", type=float)
    return main_parser


def _stop(_signum: int, _frame: FrameType | None) -> None:
    raise SystemExit(143)  # unwinds: a partial file being written is removed on the way out


def main(argv: list[str] | None = None) -> int:
    from core.paths import cache_dir
    from exporters.offline import configure_offline

    args = parser().parse_args(argv)
    signal.signal(signal.SIGTERM, _stop)
    configure_offline(cache_dir())
    # Libraries print on stdout; keep the real one for the JSON lines and send the rest to stderr.
    emit = os.fdopen(os.dup(1), "w", encoding="utf-8", buffering=1)
    os.dup2(2, 1)
    try:
        out = run(args, emit)
    except SlipwayError as err:
        emit.write(json.dumps({"type": "error", "code": err.code, "message": err.message}) + "\n")
        return err.exit_code
    except (ValueError, OSError) as err:  # an unreadable image, a folder that cannot be written
        emit.write(json.dumps({"type": "error", "code": "bad_input", "message": str(err)}) + "\n")
        return BadInput.exit_code
    emit.write(json.dumps({"type": "done", "out": str(out)}) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
