"""``python -m exporters.inspect --spec SPEC.json --package DIR``: an export compared with
its original layer by layer, on demand (``slipway inspect EXPORT_ID``).

The original is loaded from the export's own spec, as the worker loaded it; the package
runs through its own wrapper's preprocessing; the comparison is the one a failed gate
runs (exporters/localize), here on a passed export too, for its per-layer error or, for
INT8, which layers lose most. The report is written to DIR/layer_report.json and printed
as the last line on stdout. Exit codes as the worker's: 2 bad input, 3 unsupported.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

from core.errors import SlipwayError, Unsupported
from core.spec import ExportSpec, load_spec

REPORT_FILE = "layer_report.json"


def inspect_package(spec: ExportSpec, package: Path, images: int) -> dict[str, Any]:
    from core.checkpoint import inspect_checkpoint
    from core.inference import open_package, wrapper_module
    from exporters import localize
    from exporters.images import parity_images
    from exporters.loaders import load_model
    from exporters.parity import reference_processing
    from exporters.pipeline import resolve_framework

    if spec.export_format not in localize.FORMATS:
        raise Unsupported(f"a {spec.export_format} export cannot be compared layer by layer yet: "
                          f"Slipway reads {' and '.join(localize.FORMATS)} graphs")
    wrapper = open_package(package, threads=2)
    framework = resolve_framework(spec, inspect_checkpoint(spec.checkpoint))
    with tempfile.TemporaryDirectory(prefix="slipway-inspect-") as work:
        model = load_model(spec, framework, spec.checkpoint, Path(work))
        reference_pre, _ = reference_processing(wrapper_module(), wrapper.metadata, model)
        pairs = [(reference_pre(rgb)[0], wrapper.preprocess(rgb)[0])
                 for _, rgb in parity_images(spec, model.task)[:images]]
        cfg = spec.parity_for_precision()
        runtime = dict(wrapper.metadata.get("runtime", {}).get("openvino", {}))
        model_file = package / wrapper.metadata["model_info"]["model_file"]
        return localize.localize(model.module, model_file, spec.export_format, pairs, cfg.atol, cfg.rtol,
                                 Path(work), batch=wrapper.fixed_batch, runtime_config=runtime)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m exporters.inspect", description=__doc__)
    parser.add_argument("--spec", required=True, type=Path, help="the export's spec (JSON)")
    parser.add_argument("--package", required=True, type=Path, help="the export's package folder")
    parser.add_argument("--images", type=int, default=4, help="how many of the gate's images (default 4)")
    args = parser.parse_args(argv)
    try:
        report = inspect_package(load_spec(args.spec), args.package, max(1, args.images))
    except SlipwayError as err:
        print(json.dumps({"error": err.message, "code": err.code}))
        return err.exit_code
    (args.package / REPORT_FILE).write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
