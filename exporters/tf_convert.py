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
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

OPS_SETS = ("TFLITE_BUILTINS", "SELECT_TF_OPS", "TFLITE_BUILTINS_INT8")


QUANTIZATION = ("none", "dynamic", "fp16", "int8")


@contextmanager
def module_scopes_kept(onnx_path: Path) -> Iterator[None]:
    """onnx2tf's layers renamed after the ONNX nodes they compute, so that the .tflite's tensor
    names keep the module paths a per-layer comparison matches by (exporters/localize/
    tflite_side). onnx2tf hands its table of layers to ``get_tf_model_outputs`` just before it
    builds the Keras model; the layers are renamed there, as onnx2tf renames the output ones."""
    import onnx
    import onnx2tf.onnx2tf as engine

    from exporters.localize.tflite_side import layer_names, name_layers

    graph = onnx.load(str(onnx_path), load_external_data=False).graph
    names = layer_names((node.name, list(node.output)) for node in graph.node)
    original = engine.get_tf_model_outputs

    def outputs(*, tf_layers_dict: dict[str, Any], output_names: list[str]) -> list[Any]:
        name_layers(tf_layers_dict, names)
        return list(original(tf_layers_dict=tf_layers_dict, output_names=output_names))

    engine.get_tf_model_outputs = outputs
    try:
        yield
    finally:
        engine.get_tf_model_outputs = original


def convert(onnx_path: Path | None, out: Path, supported_ops: list[str], quantization: str = "none",
            saved_model: Path | None = None, representative: Path | None = None) -> Path:
    """ONNX → SavedModel (unless one is given) → .tflite, quantized as asked.

    int8 is full-integer quantization of the operations (inputs and outputs stay
    float32, so callers feed the same tensors) calibrated on ``representative``: an
    .npy of preprocessed NHWC input tensors.
    """
    import tensorflow as tf

    if saved_model is None:
        import onnx2tf

        assert onnx_path is not None
        saved_model = out / "saved_model"
        with module_scopes_kept(onnx_path):
            onnx2tf.convert(
                input_onnx_file_path=str(onnx_path),
                output_folder_path=str(saved_model),
                not_use_onnxsim=True,  # the ONNX stage already simplified the graph
                output_signaturedefs=True,
                verbosity="error",
                # an Erf that is not part of a GELU onnx2tf recognises has no TFLite builtin;
                # its polynomial form (|error| < 1.5e-7) converts, unless TF ops may be kept
                replace_to_pseudo_operators=[] if "SELECT_TF_OPS" in supported_ops else ["erf"],
            )
    converter = tf.lite.TFLiteConverter.from_saved_model(str(saved_model))
    ops = [getattr(tf.lite.OpsSet, name) for name in supported_ops]
    if quantization != "none":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if quantization == "fp16":
        converter.target_spec.supported_types = [tf.float16]
    if quantization == "int8":
        assert representative is not None
        samples = np.load(representative)
        converter.representative_dataset = lambda: ([samples[i : i + 1]] for i in range(len(samples)))
        ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8, *[o for o in ops if o != tf.lite.OpsSet.TFLITE_BUILTINS]]
    converter.target_spec.supported_ops = ops
    target = out / "model.tflite"
    target.write_bytes(converter.convert())
    return target


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m exporters.tf_convert")
    parser.add_argument("onnx", type=Path, help="the ONNX model (ignored with --saved-model)")
    parser.add_argument("out", type=Path)
    parser.add_argument("--supported-ops", nargs="+", choices=OPS_SETS, default=["TFLITE_BUILTINS"])
    parser.add_argument("--quantization", choices=QUANTIZATION, default="none")
    parser.add_argument("--saved-model", type=Path, help="convert this SavedModel instead of the ONNX")
    parser.add_argument("--representative", type=Path, help=".npy of input tensors (int8)")
    args = parser.parse_args()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    args.out.mkdir(parents=True, exist_ok=True)
    path = convert(args.onnx, args.out, args.supported_ops, args.quantization, args.saved_model,
                   args.representative)
    print(f"wrote {path} ({path.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
