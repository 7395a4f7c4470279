"""Embed normalization in an ONNX graph: the model then takes uint8 images (NHWC), in the
channel order metadata.json's ``format.color_space`` names.

The resize stays outside (it depends on the image's size and is cheap in any
runtime); the cast, scale, mean/std and the HWC→CHW transpose move into the
graph, so a caller only has to resize and hand over pixels.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

EMBEDDED_INPUT = "image"


def embed_preprocessing(path: Path, input_name: str, preprocessing: dict[str, Any]) -> None:
    import numpy as np
    import onnx
    from onnx import TensorProto, compose, helper, numpy_helper

    model = onnx.load(str(path))
    graph_input = next(i for i in model.graph.input if i.name == input_name)
    dims = [d.dim_param or d.dim_value for d in graph_input.type.tensor_type.shape.dim]
    batch, _c, h, w = dims
    norm = preprocessing["normalize"]
    mean = np.asarray(norm["mean"], dtype=np.float32)
    std = np.asarray(norm["std"], dtype=np.float32)
    if preprocessing.get("format", {}).get("color_space") == "BGR":  # pixels arrive in BGR order,
        mean, std = mean[::-1].copy(), std[::-1].copy()  # mean and std are given in RGB order
    mul = (float(norm["scale"]) / std).reshape(1, 1, 1, 3)
    add = (-mean / std).reshape(1, 1, 1, 3)
    nodes = [
        helper.make_node("Cast", [EMBEDDED_INPUT], ["pre_float"], to=TensorProto.FLOAT),
        helper.make_node("Mul", ["pre_float", "pre_mul"], ["pre_scaled"]),
        helper.make_node("Add", ["pre_scaled", "pre_add"], ["pre_norm"]),
        helper.make_node("Transpose", ["pre_norm"], ["pre_out"], perm=[0, 3, 1, 2]),
    ]
    pre_graph = helper.make_graph(
        nodes,
        "slipway_preprocessing",
        [helper.make_tensor_value_info(EMBEDDED_INPUT, TensorProto.UINT8, [batch, h, w, 3])],
        [helper.make_tensor_value_info("pre_out", TensorProto.FLOAT, [batch, 3, h, w])],
        initializer=[numpy_helper.from_array(mul, "pre_mul"), numpy_helper.from_array(add, "pre_add")],
    )
    pre = helper.make_model(pre_graph, opset_imports=list(model.opset_import))
    pre.ir_version = model.ir_version
    merged = compose.merge_models(pre, model, io_map=[("pre_out", input_name)])
    # merge_models lists each domain once per model; ONNX Runtime's tools (the quantizers)
    # refuse a model whose default domain appears twice
    versions = {o.domain: o.version for o in merged.opset_import}
    del merged.opset_import[:]
    merged.opset_import.extend(helper.make_opsetid(domain, version) for domain, version in versions.items())
    onnx.checker.check_model(merged)
    onnx.save(merged, str(path))
