"""ONNX → TensorRT engine with the tensorrt Python API (TensorRT 10).

Engines are specific to the GPU and TensorRT version that built them, so the
package also carries the ONNX model and a build_engine.sh for the target. The
engine file holds the engine bytes only: metadata stays in metadata.json, where
trtexec and other native tools never trip over it.
"""

from __future__ import annotations

from pathlib import Path

from core.errors import InternalError, Unsupported
from core.spec import ExportSpec, TensorRTConfig
from exporters.loaders.base import LoadedModel


def onnx2tensorrt(model: LoadedModel, spec: ExportSpec, source: Path | None, work: Path) -> Path:
    import tensorrt as trt

    cfg = spec.export_config
    assert isinstance(cfg, TensorRTConfig) and source is not None
    if cfg.precision == "int8":  # the spec demands calibration data; calibrating is issue 4's work
        raise Unsupported("export_config.precision 'int8': INT8 calibration for TensorRT is not in "
                          "this build yet; use 'fp16'")
    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    network = builder.create_network(0)  # explicit batch is the only mode in TensorRT 10
    parser = trt.OnnxParser(network, logger)
    if not parser.parse(source.read_bytes()):
        errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
        raise InternalError(f"TensorRT could not parse the ONNX model: {errors}")
    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, int(cfg.workspace_size_gb * (1 << 30)))
    if cfg.precision == "fp16":
        config.set_flag(trt.BuilderFlag.FP16)
    tensor = network.get_input(0)
    shape = tuple(tensor.shape)
    if shape[0] == -1:  # dynamic batch: one profile from 1 to max_batch_size
        rest = shape[1:]
        profile = builder.create_optimization_profile()
        profile.set_shape(tensor.name, (1, *rest), (max(1, cfg.max_batch_size // 2), *rest),
                          (cfg.max_batch_size, *rest))
        config.add_optimization_profile(profile)
    serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        raise InternalError("TensorRT could not build an engine from the ONNX model (see the log)")
    path = work / "model.engine"
    path.write_bytes(bytes(serialized))
    return path
