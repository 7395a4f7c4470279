"""ONNX → TFLite in a process of its own: ``python -m exporters.tf_convert MODEL.onnx OUT``.

TensorFlow is kept out of the export worker: importing it beside the CUDA torch
build's triton crashes the process, and it adds gigabytes of memory. This process
imports onnx2tf and TensorFlow only. onnx2tf writes a SavedModel (NHWC input);
TensorFlow's own converter then writes the .tflite with the supported op sets
the spec asks for, keeping the serving signature the wrapper reads outputs by.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

OPS_SETS = ("TFLITE_BUILTINS", "SELECT_TF_OPS", "TFLITE_BUILTINS_INT8")


def convert(onnx_path: Path, out: Path, supported_ops: list[str]) -> Path:
    import onnx2tf
    import tensorflow as tf

    saved_model = out / "saved_model"
    onnx2tf.convert(
        input_onnx_file_path=str(onnx_path),
        output_folder_path=str(saved_model),
        not_use_onnxsim=True,  # the ONNX stage already simplified the graph
        output_signaturedefs=True,
        verbosity="error",
    )
    converter = tf.lite.TFLiteConverter.from_saved_model(str(saved_model))
    converter.target_spec.supported_ops = [getattr(tf.lite.OpsSet, name) for name in supported_ops]
    target = out / "model.tflite"
    target.write_bytes(converter.convert())
    return target


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m exporters.tf_convert")
    parser.add_argument("onnx", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--supported-ops", nargs="+", choices=OPS_SETS, default=["TFLITE_BUILTINS"])
    args = parser.parse_args()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    path = convert(args.onnx, args.out, args.supported_ops)
    print(f"wrote {path} ({path.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
