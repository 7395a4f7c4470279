"""Run an exported Slipway model with the exact pre- and post-processing of its original.

Standalone: needs numpy and opencv-python (headless is fine) plus the runtime of
the model file: onnxruntime for .onnx, torch for .torchscript, openvino for .xml,
ai-edge-litert (or tensorflow) for .tflite, coremltools on macOS for .mlpackage,
tensorrt and torch with CUDA for .engine. Everything about
the model (the preprocessing steps, normalization, class names, NMS settings)
is read from metadata.json; nothing is hard-coded here. Resizes the original
pipeline did with PIL (timm, Hugging Face) are reproduced pixel for pixel
(``pil_resize``), without PIL.

    from model_wrapper import ModelWrapper
    model = ModelWrapper("model.onnx", "metadata.json")
    for p in model.predict("image.jpg"):
        print(p["class_name"], p["confidence"], p["bbox"])

Images are file paths, or numpy arrays in RGB order (H x W x 3 uint8, as PIL
gives them); pass ``bgr=True`` for arrays straight from cv2.imread.
Detectors return ``[{"class_id", "class_name", "confidence", "bbox"}]`` with
``bbox`` as absolute [x1, y1, x2, y2] in the original image; classifiers return
the top-k classes as ``[{"class_id", "class_name", "confidence"}]``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from functools import lru_cache
from pathlib import Path
from typing import Any

import cv2
import numpy as np

# --- runtimes --------------------------------------------------------------


class _OnnxRuntime:
    def __init__(self, path: str, threads: int | None, metadata: dict[str, Any]) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
            options.inter_op_num_threads = 1
        self.session = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
        self.input_name = self.session.get_inputs()[0].name

    def __call__(self, tensor: np.ndarray) -> list[np.ndarray]:
        return self.session.run(None, {self.input_name: tensor})


class _TorchScriptRuntime:
    def __init__(self, path: str, threads: int | None, metadata: dict[str, Any]) -> None:
        import torch

        if threads:
            torch.set_num_threads(threads)
        self.torch = torch
        self.module = torch.jit.load(path, map_location="cpu").eval()

    def __call__(self, tensor: np.ndarray) -> list[np.ndarray]:
        with self.torch.inference_mode():
            out = self.module(self.torch.from_numpy(tensor))
        items = out if isinstance(out, (list, tuple)) else [out]
        return [t.numpy() for t in items]


class _OpenVinoRuntime:
    """OpenVINO on CPU, at the inference precision metadata.json pins (the one parity checked):
    on CPUs with AMX or AVX512-BF16 OpenVINO would otherwise compute in bf16."""

    def __init__(self, path: str, threads: int | None, metadata: dict[str, Any]) -> None:
        import openvino as ov

        config: dict[str, Any] = dict(metadata.get("runtime", {}).get("openvino", {}))
        if threads:
            config["INFERENCE_NUM_THREADS"] = threads
        self.compiled = ov.Core().compile_model(path, "CPU", config)
        self.request = self.compiled.create_infer_request()

    def __call__(self, tensor: np.ndarray) -> list[np.ndarray]:
        result = self.request.infer({0: tensor})
        return [np.asarray(result[port]) for port in self.compiled.outputs]


class _TFLiteRuntime:
    """LiteRT (or TensorFlow's own interpreter). Outputs are read by signature name in the
    original model's order; 4-D outputs that the converter made NHWC are turned back to NCHW."""

    def __init__(self, path: str, threads: int | None, metadata: dict[str, Any]) -> None:
        try:
            from ai_edge_litert.interpreter import Interpreter
        except ImportError:  # full TensorFlow ships the same interpreter
            from tensorflow.lite import Interpreter
        self.runner = Interpreter(model_path=path, num_threads=threads or None).get_signature_runner()
        (self.input_name, self.input), = self.runner.get_input_details().items()
        details = self.runner.get_output_details()
        specs = metadata["output_spec"]["outputs"]
        self.outputs = [(o.get("runtime_name", o["name"]), o.get("layout") == "NHWC") for o in specs]
        self.quant = {name: d.get("quantization", (0.0, 0)) for name, d in details.items()}

    def __call__(self, tensor: np.ndarray) -> list[np.ndarray]:
        scale, zero = self.input.get("quantization", (0.0, 0))
        if scale:  # an integer-only model: quantize the input with its own parameters
            info = np.iinfo(self.input["dtype"])
            tensor = np.clip(np.round(tensor / scale + zero), info.min, info.max)
        result = self.runner(**{self.input_name: tensor.astype(self.input["dtype"], copy=False)})
        outputs = []
        for name, nhwc in self.outputs:
            out = result[name]
            scale, zero = self.quant[name]
            if scale:
                out = (out.astype(np.float32) - zero) * scale
            outputs.append(out.transpose(0, 3, 1, 2) if nhwc else out)
        return outputs


class _CoreMLRuntime:
    """Core ML through coremltools; its runtime exists only on macOS."""

    def __init__(self, path: str, threads: int | None, metadata: dict[str, Any]) -> None:
        import coremltools as ct

        units = metadata.get("runtime", {}).get("coreml", {}).get("compute_units", "all")
        self.model = ct.models.MLModel(path, compute_units=getattr(ct.ComputeUnit, units.upper()))
        self.input_name = metadata["input_spec"]["name"]
        self.output_names = [o["name"] for o in metadata["output_spec"]["outputs"]]

    def __call__(self, tensor: np.ndarray) -> list[np.ndarray]:
        from PIL import Image

        result = self.model.predict({self.input_name: Image.fromarray(tensor[0])})
        return [np.asarray(result[name]) for name in self.output_names]


class _TensorRTRuntime:
    """A TensorRT engine on the GPU it was built for; torch provides the CUDA buffers."""

    def __init__(self, path: str, threads: int | None, metadata: dict[str, Any]) -> None:
        import tensorrt as trt
        import torch

        self.torch = torch
        runtime = trt.Runtime(trt.Logger(trt.Logger.WARNING))
        self.engine = runtime.deserialize_cuda_engine(Path(path).read_bytes())
        self.context = self.engine.create_execution_context()
        names = [self.engine.get_tensor_name(i) for i in range(self.engine.num_io_tensors)]
        self.input_name = next(n for n in names if self.engine.get_tensor_mode(n) == trt.TensorIOMode.INPUT)
        self.output_names = [n for n in names if n != self.input_name]

    def __call__(self, tensor: np.ndarray) -> list[np.ndarray]:
        torch = self.torch
        x = torch.from_numpy(np.ascontiguousarray(tensor)).cuda()
        self.context.set_input_shape(self.input_name, tuple(x.shape))
        self.context.set_tensor_address(self.input_name, x.data_ptr())
        outputs = []
        for name in self.output_names:
            out = torch.empty(tuple(self.context.get_tensor_shape(name)), dtype=torch.float32, device="cuda")
            self.context.set_tensor_address(name, out.data_ptr())
            outputs.append(out)
        stream = torch.cuda.current_stream()
        self.context.execute_async_v3(stream.cuda_stream)
        stream.synchronize()
        return [o.cpu().numpy() for o in outputs]


Runtime = Callable[[np.ndarray], list[np.ndarray]]
_RUNTIMES: dict[str, Callable[[str, int | None, dict[str, Any]], Runtime]] = {
    ".onnx": _OnnxRuntime,
    ".torchscript": _TorchScriptRuntime,
    ".pt": _TorchScriptRuntime,
    ".xml": _OpenVinoRuntime,
    ".tflite": _TFLiteRuntime,
    ".mlpackage": _CoreMLRuntime,
    ".engine": _TensorRTRuntime,
}


# --- pre-processing --------------------------------------------------------
#
# metadata.json's ``preprocessing.steps`` run in order on the uint8 RGB image
# (resize, center_crop, pad), then every pixel becomes (pixel * scale - mean) / std.
# ``antialias: true`` resamples exactly as PIL's Image.resize does (what timm,
# Hugging Face's image processors and torchvision on PIL images use); ``false``
# resamples with cv2.resize (Ultralytics' letterbox, bit for bit).

_CV2_INTERPOLATION = {
    "nearest": cv2.INTER_NEAREST,
    "bilinear": cv2.INTER_LINEAR,
    "bicubic": cv2.INTER_CUBIC,
    "lanczos": cv2.INTER_LANCZOS4,
    "area": cv2.INTER_AREA,
}
_PRECISION_BITS = 22  # PIL's fixed-point coefficients for 8-bit images: 32 - 8 - 2


def _triangle(x: np.ndarray) -> np.ndarray:
    x = np.abs(x)
    return np.where(x < 1.0, 1.0 - x, 0.0)


def _cubic(x: np.ndarray) -> np.ndarray:  # Keys' cubic with a = -0.5, as PIL has it
    a, x = -0.5, np.abs(x)
    near = ((a + 2.0) * x - (a + 3.0)) * x * x + 1
    far = (((x - 5) * x + 8) * x - 4) * a
    return np.where(x < 1.0, near, np.where(x < 2.0, far, 0.0))


def _sinc(x: np.ndarray) -> np.ndarray:
    safe = np.where(x == 0.0, 1.0, x) * np.pi
    return np.where(x == 0.0, 1.0, np.sin(safe) / safe)


def _lanczos(x: np.ndarray) -> np.ndarray:
    return np.where((x >= -3.0) & (x < 3.0), _sinc(x) * _sinc(x / 3), 0.0)


def _box(x: np.ndarray) -> np.ndarray:
    return np.where((x > -0.5) & (x <= 0.5), 1.0, 0.0)


def _hamming(x: np.ndarray) -> np.ndarray:
    x = np.abs(x)
    safe = np.where(x == 0.0, 1.0, x) * np.pi
    # PIL writes the constants as C floats: 0.54f and 0.46f
    window = np.sin(safe) / safe * (float(np.float32(0.54)) + float(np.float32(0.46)) * np.cos(safe))
    return np.where(x == 0.0, 1.0, np.where(x >= 1.0, 0.0, window))


_PIL_FILTERS: dict[str, tuple[float, Callable[[np.ndarray], np.ndarray]]] = {
    "bilinear": (1.0, _triangle), "bicubic": (2.0, _cubic), "lanczos": (3.0, _lanczos),
    "box": (0.5, _box), "hamming": (1.0, _hamming),
}


@lru_cache(maxsize=64)
def _pil_taps(in_size: int, out_size: int, interpolation: str) -> tuple[np.ndarray, np.ndarray, int, int]:
    """PIL's resampling coefficients for one axis: for every output pixel the source
    indices and their fixed-point weights (PIL's precompute_coeffs and
    normalize_coeffs_8bpc), plus the first and end source index any tap reads."""
    support, kernel = _PIL_FILTERS[interpolation]
    scale = in_size / out_size
    filterscale = max(scale, 1.0)
    support *= filterscale
    ksize = int(np.ceil(support)) * 2 + 1
    center = (np.arange(out_size) + 0.5) * scale
    xmin = np.maximum(np.trunc(center - support + 0.5), 0).astype(np.int64)
    xmax = np.minimum(np.trunc(center + support + 0.5).astype(np.int64), in_size)
    count = xmax - xmin
    taps = np.arange(ksize)
    positions = (xmin[:, None] + taps).astype(np.float64) - center[:, None] + 0.5
    weights = kernel(positions * (1.0 / filterscale))
    weights = np.where(taps < count[:, None], weights, 0.0)
    total = np.cumsum(weights, axis=1)[:, -1:]  # summed in order, as PIL does
    weights = np.where(total != 0.0, weights / np.where(total == 0.0, 1.0, total), weights)
    fixed = weights * (1 << _PRECISION_BITS)
    fixed = np.where(fixed < 0, np.trunc(fixed - 0.5), np.trunc(fixed + 0.5)).astype(np.int32)
    index = np.minimum(xmin[:, None] + taps, in_size - 1)
    return index, fixed, int(xmin[0]), int(xmin[-1] + count[-1])


def _pil_pass(image: np.ndarray, index: np.ndarray, weights: np.ndarray, axis: int) -> np.ndarray:
    """One separable pass along ``axis`` (1: horizontal, 0: vertical), rounded to uint8."""
    acc = np.full((*image.shape[:axis], len(index), *image.shape[axis + 1 :]), 1 << (_PRECISION_BITS - 1),
                  dtype=np.int32)
    shape = (-1, 1, 1) if axis == 0 else (1, -1, 1)
    for k in range(index.shape[1]):
        column = weights[:, k]
        if not column.any():
            continue
        acc += np.take(image, index[:, k], axis=axis) * column.reshape(shape)
    return np.clip(acc >> _PRECISION_BITS, 0, 255).astype(np.uint8)


def _pil_nearest(image: np.ndarray, width: int, height: int) -> np.ndarray:
    """PIL's nearest neighbour: source = floor((i + 0.5) * in / out), accumulated as PIL does."""
    def positions(in_size: int, out_size: int) -> np.ndarray:
        step = in_size / out_size
        steps = np.full(out_size, step)
        steps[0] = step * 0.5
        return np.minimum(np.cumsum(steps).astype(np.int64), in_size - 1)

    rows = positions(image.shape[0], height)
    cols = positions(image.shape[1], width)
    return np.ascontiguousarray(image[rows[:, None], cols[None, :]])


def pil_resize(image: np.ndarray, width: int, height: int, interpolation: str) -> np.ndarray:
    """``Image.fromarray(image).resize((width, height), filter)`` as a uint8 array, computed
    the way PIL computes it: two passes, rounding to uint8 between them; the horizontal
    pass first unless the height shrinks by more than twice as many pixels as the width
    (Pillow 13), each pass reading only the rows or columns the other one needs."""
    h, w = image.shape[:2]
    if (h, w) == (height, width):
        return image
    if interpolation == "nearest":
        return _pil_nearest(image, width, height)
    if height == h:
        cols, col_weights, _, _ = _pil_taps(w, width, interpolation)
        return _pil_pass(image, cols, col_weights, axis=1)
    rows, row_weights, top, bottom = _pil_taps(h, height, interpolation)
    if width == w:
        return _pil_pass(image, rows, row_weights, axis=0)
    cols, col_weights, left, right = _pil_taps(w, width, interpolation)
    if height < h and h - height > 2 * (w - width):  # vertical pass first
        image = _pil_pass(image[:, left:right], rows, row_weights, axis=0)
        return _pil_pass(image, cols - left, col_weights, axis=1)
    image = _pil_pass(image[top:bottom], cols, col_weights, axis=1)
    return _pil_pass(image, rows - top, row_weights, axis=0)


def _detr_size(h: int, w: int, size: int, max_size: int | None, yolos: bool) -> tuple[int, int]:
    """DETR's get_size_with_aspect_ratio; YOLOS's variant also floors to a multiple of 16."""
    raw: float | None = None
    if max_size is not None:
        short, long = float(min(h, w)), float(max(h, w))
        if long / short * size > max_size:
            raw = max_size * short / long
            size = round(raw)
    keep = (h <= w and h == size) or (w <= h and w == size)
    if keep and not (yolos and w < h):
        oh, ow = h, w
    elif w < h:
        ow, oh = size, int((raw if raw is not None else size) * h / w)
    else:
        oh, ow = size, int((raw if raw is not None else size) * w / h)
    if yolos:
        oh, ow = oh - oh % 16, ow - ow % 16
    return oh, ow


def _keep_ratio(h: int, w: int, ref: int, target: int, rule: str) -> tuple[int, int]:
    """Both sides scaled by target / ref with the rule's rounding."""
    if rule == "timm":  # timm ResizeKeepRatio: round(side / ratio)
        ratio = ref / target
        return max(round(h / ratio), 1), max(round(w / ratio), 1)
    gain = target / ref  # Ultralytics LetterBox: round(side * gain)
    return max(round(h * gain), 1), max(round(w * gain), 1)


def resized_size(h: int, w: int, step: dict[str, Any]) -> tuple[int, int]:
    """The (height, width) a resize step gives an h x w image, computed as its library does."""
    mode, rule = step["mode"], step.get("rule", "floor")
    if mode == "exact":
        return int(step["size"][0]), int(step["size"][1])
    short, long = (w, h) if w <= h else (h, w)
    if mode == "fit":
        th, tw = (int(v) for v in step["size"])
        if rule == "floor":  # Hugging Face get_image_size_for_max_height_width
            gain = min(th / h, tw / w)
            return max(int(h * gain), 1), max(int(w * gain), 1)
        if rule == "timm":
            ref, target = (h, th) if h / th >= w / tw else (w, tw)
            return _keep_ratio(h, w, ref, target, rule)
        gain = min(th / h, tw / w)
        return max(round(h * gain), 1), max(round(w * gain), 1)
    edge = int(step["edge"])
    max_edge = step.get("max_edge")
    if rule in ("detr", "yolos"):
        return _detr_size(h, w, edge, None if max_edge is None else int(max_edge), rule == "yolos")
    if mode == "longest_edge":
        if rule == "floor":  # torchvision: int(edge * short / long)
            new_short, new_long = max(int(edge * short / long), 1), edge
            return (new_long, new_short) if w <= h else (new_short, new_long)
        return _keep_ratio(h, w, long, edge, rule)
    if rule == "floor":  # torchvision _compute_resized_output_size, transformers get_resize_output_image_size
        new_short, new_long = edge, int(edge * long / short)
        if max_edge is not None and new_long > int(max_edge):
            new_short, new_long = int(int(max_edge) * new_short / new_long), int(max_edge)
        return (new_long, new_short) if w <= h else (new_short, new_long)
    size = _keep_ratio(h, w, short, edge, rule)
    if max_edge is not None and max(size) > int(max_edge):
        size = _keep_ratio(h, w, long, int(max_edge), rule)
    return size


Geometry = tuple[float, float, float, float]  # gain_x, gain_y, pad_x, pad_y: x' = x * gain + pad


class _Resize:
    def __init__(self, step: dict[str, Any]) -> None:
        self.step = step
        self.interpolation = step.get("interpolation", "bilinear")
        self.antialias = bool(step.get("antialias", True)) and self.interpolation != "area"
        if self.antialias and self.interpolation not in (*_PIL_FILTERS, "nearest"):
            raise ValueError(f"unknown interpolation in metadata.json: {self.interpolation!r}")
        if not self.antialias and self.interpolation not in _CV2_INTERPOLATION:
            raise ValueError(f"interpolation {self.interpolation!r} needs antialias true in metadata.json")

    def __call__(self, image: np.ndarray) -> tuple[np.ndarray, Geometry]:
        h, w = image.shape[:2]
        new_h, new_w = resized_size(h, w, self.step)
        multiple = int(self.step.get("multiple_of") or 0)
        if multiple:  # each side rounded up to a multiple (TextNet's size_divisor)
            new_h, new_w = -(-new_h // multiple) * multiple, -(-new_w // multiple) * multiple
        if (new_h, new_w) != (h, w):
            if self.antialias:
                image = pil_resize(image, new_w, new_h, self.interpolation)
            else:
                flag = _CV2_INTERPOLATION[self.interpolation]
                image = cv2.resize(image, (new_w, new_h), interpolation=flag)
        return image, (new_w / w, new_h / h, 0.0, 0.0)


def _border(image: np.ndarray, top: int, bottom: int, left: int, right: int,
            fill: tuple[int, ...]) -> np.ndarray:
    if top == bottom == left == right == 0:
        return image
    return cv2.copyMakeBorder(image, top, bottom, left, right, cv2.BORDER_CONSTANT, value=fill)


class _CenterCrop:
    def __init__(self, step: dict[str, Any]) -> None:
        self.size = [int(v) for v in step["size"]] if step.get("size") else None
        self.fraction = [float(v) for v in step["fraction"]] if step.get("fraction") else None
        self.rule = step.get("rule", "round")
        self.fill = tuple(int(v) for v in step.get("fill", (0, 0, 0)))

    def _axis(self, size: int, crop: int) -> tuple[int, int, int]:
        """(pad before, pad after, crop offset after padding) along one axis."""
        before = after = 0
        if size < crop:
            before = -((size - crop) // 2) if self.rule == "floor" else (crop - size) // 2  # ceil or floor
            after = crop - size - before
            size = crop
        offset = round((size - crop) / 2.0) if self.rule == "round" else (size - crop) // 2
        return before, after, offset

    def __call__(self, image: np.ndarray) -> tuple[np.ndarray, Geometry]:
        if self.fraction is not None:  # a share of the shorter side
            shorter = min(image.shape[:2])
            height, width = (int(f * shorter) for f in self.fraction)
        else:
            assert self.size is not None
            height, width = self.size
        top, bottom, y = self._axis(image.shape[0], height)
        left, right, x = self._axis(image.shape[1], width)
        image = _border(image, top, bottom, left, right, self.fill)
        image = image[y : y + height, x : x + width]
        return image, (1.0, 1.0, float(left - x), float(top - y))


class _Pad:
    def __init__(self, step: dict[str, Any]) -> None:
        self.size = step.get("size")
        self.multiple = int(step.get("multiple_of") or 1)
        self.center = step.get("position", "center") == "center"
        self.fill = tuple(int(v) for v in step.get("fill", (114, 114, 114)))

    @staticmethod
    def _split(total: int, center: bool) -> tuple[int, int]:
        if total < 0:
            raise ValueError("metadata.json pads to a size smaller than the image")
        before = round(total / 2 - 0.1) if center else 0  # Ultralytics' letterbox split
        return before, total - before

    def __call__(self, image: np.ndarray) -> tuple[np.ndarray, Geometry]:
        h, w = image.shape[:2]
        if self.size is not None:
            th, tw = (int(v) for v in self.size)
        else:
            m = self.multiple
            th, tw = -(-h // m) * m, -(-w // m) * m
        top, bottom = self._split(th - h, self.center)
        left, right = self._split(tw - w, self.center)
        return _border(image, top, bottom, left, right, self.fill), (1.0, 1.0, float(left), float(top))


_STEPS: dict[str, Callable[[dict[str, Any]], Callable[[np.ndarray], tuple[np.ndarray, Geometry]]]] = {
    "resize": _Resize, "center_crop": _CenterCrop, "pad": _Pad,
}
_V1_INTERPOLATION = {"linear": "bilinear", "cubic": "bicubic"}


def steps_from_v1(resize: dict[str, Any]) -> list[dict[str, Any]]:
    """A schema-1 package's single ``resize`` object as schema-2 steps, so packages
    exported by earlier versions still run."""
    h, w = (int(v) for v in resize["size"])
    interpolation = _V1_INTERPOLATION.get(resize.get("interpolation", "linear"),
                                          resize.get("interpolation", "bilinear"))
    antialias = bool(resize.get("antialias", False))
    method = resize["method"]
    if method == "letterbox":
        fill = int(resize.get("fill_value", 114))
        return [{"op": "resize", "mode": "fit", "size": [h, w], "rule": "round",
                 "interpolation": interpolation, "antialias": antialias},
                {"op": "pad", "size": [h, w], "position": "center", "fill": [fill] * 3}]
    if method == "resize":
        return [{"op": "resize", "mode": "exact", "size": [h, w], "interpolation": interpolation,
                 "antialias": antialias}]
    if method == "shorter_side_center_crop":
        edge = int(np.floor(min(h, w) / float(resize.get("crop_pct", 1.0))))
        return [{"op": "resize", "mode": "shortest_edge", "edge": edge, "rule": "floor",
                 "interpolation": interpolation, "antialias": antialias},
                {"op": "center_crop", "size": [h, w], "rule": "round"}]
    raise ValueError(f"unknown resize method in metadata.json: {method!r}")


class Preprocessor:
    """Image → input tensor, plus what it takes to map boxes back."""

    def __init__(self, spec: dict[str, Any], input_spec: dict[str, Any]) -> None:
        steps = spec["steps"] if "steps" in spec else steps_from_v1(spec["resize"])
        self.steps = [_STEPS[step["op"]](step) for step in steps]
        self.bgr = spec.get("format", {}).get("color_space", "RGB") == "BGR"
        self.embedded = bool(spec.get("embedded", False))
        norm = spec["normalize"]
        scale = float(norm.get("scale", 1.0 / 255.0))
        mean = np.asarray(norm.get("mean", [0.0, 0.0, 0.0]), dtype=np.float32)
        std = np.asarray(norm.get("std", [1.0, 1.0, 1.0]), dtype=np.float32)
        # (x * scale - mean) / std  ==  x * (scale / std) - mean / std
        if self.bgr:  # normalization constants follow the channel order the model takes
            mean, std = mean[::-1], std[::-1]
        self.mul = (scale / std).astype(np.float32)
        self.add = (-mean / std).astype(np.float32)
        self.dtype = np.dtype(input_spec.get("dtype", "float32"))
        self.layout = input_spec.get("format", "NCHW")
        self._mul = [np.float32(v) for v in self.mul]  # float32 scalars keep the maths in float32
        self._add = [np.float32(v) for v in self.add]

    def resize(self, image: np.ndarray) -> tuple[np.ndarray, dict[str, float]]:
        """Every geometric step in order; the image the model sees and the transform
        x' = x * gain + pad that took the original there."""
        gain_x = gain_y = 1.0
        pad_x = pad_y = 0.0
        for step in self.steps:
            image, (gx, gy, px, py) = step(image)
            gain_x, gain_y = gain_x * gx, gain_y * gy
            pad_x, pad_y = pad_x * gx + px, pad_y * gy + py
        return image, {"gain_x": gain_x, "gain_y": gain_y, "pad_x": pad_x, "pad_y": pad_y}

    def to_tensor(self, rgb: np.ndarray) -> np.ndarray:
        if self.embedded:  # the graph normalizes: feed uint8 pixels, NHWC
            return np.ascontiguousarray(rgb[None], dtype=self.dtype)
        if self.layout != "NCHW":
            return (rgb.astype(np.float32) * self.mul + self.add)[None].astype(self.dtype)
        # Channel planes straight into a C-contiguous NCHW array: a transposed view would
        # make the runtime copy the whole tensor again before it runs.
        x = np.empty((1, 3, *rgb.shape[:2]), dtype=np.float32)
        for c, plane in enumerate(cv2.split(rgb)):
            np.multiply(plane, self._mul[c], out=x[0, c], casting="unsafe")
            if self._add[c]:
                x[0, c] += self._add[c]
        return x if self.dtype == np.float32 else x.astype(self.dtype)

    def __call__(self, rgb: np.ndarray) -> tuple[np.ndarray, dict[str, float]]:
        """The input tensor, and the transform from tensor pixels back to the image:
        x = (x' - pad_x) / gain_x; ``width`` and ``height`` are the tensor's."""
        resized, transform = self.resize(rgb)
        transform = {**transform, "height": resized.shape[0], "width": resized.shape[1]}
        if self.bgr:  # a model that takes OpenCV's channel order
            resized = np.ascontiguousarray(resized[:, :, ::-1])
        return self.to_tensor(resized), transform


# --- post-processing -------------------------------------------------------


def nms(boxes: np.ndarray, scores: np.ndarray, iou_threshold: float) -> np.ndarray:
    """Greedy non-maximum suppression; boxes are xyxy. Returns kept indices, best first."""
    order = np.argsort(-scores, kind="stable")
    x1, y1, x2, y2 = boxes[:, 0], boxes[:, 1], boxes[:, 2], boxes[:, 3]
    areas = (x2 - x1).clip(0) * (y2 - y1).clip(0)
    keep: list[int] = []
    while order.size:
        i = order[0]
        keep.append(int(i))
        rest = order[1:]
        w = (np.minimum(x2[i], x2[rest]) - np.maximum(x1[i], x1[rest])).clip(0)
        h = (np.minimum(y2[i], y2[rest]) - np.maximum(y1[i], y1[rest])).clip(0)
        inter = w * h
        iou = inter / (areas[i] + areas[rest] - inter + 1e-9)
        order = rest[iou <= iou_threshold]
    return np.asarray(keep, dtype=np.int64)


def _to_original(xy: np.ndarray, t: dict[str, float], shape: tuple[int, int]) -> np.ndarray:
    """Map x/y columns (even: x, odd: y) from model input pixels to the original image."""
    out = xy.astype(np.float32, copy=True)
    out[..., 0::2] = ((out[..., 0::2] - t["pad_x"]) / t["gain_x"]).clip(0, shape[1])
    out[..., 1::2] = ((out[..., 1::2] - t["pad_y"]) / t["gain_y"]).clip(0, shape[0])
    return out


def _softmax(x: np.ndarray, axis: int = -1) -> np.ndarray:
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


class _Classifier:
    """``logits`` (softmax first) or ``probabilities``: the top-k classes."""

    def __init__(self, spec: dict[str, Any], post: Postprocessor) -> None:
        self.post = post
        self.softmax = spec["type"] == "logits"
        self.top_k = int(spec.get("top_k", 5))

    def __call__(self, outputs: list[np.ndarray], t: dict[str, float], shape: tuple[int, int],
                 conf: float, iou: float, masks: bool) -> list[dict[str, Any]]:
        scores = outputs[0].reshape(-1).astype(np.float64)
        if self.softmax:
            scores = _softmax(scores)
        top = np.argsort(-scores, kind="stable")[: self.top_k]
        return [{"class_id": int(i), "class_name": self.post.name(int(i)), "confidence": float(scores[i])}
                for i in top]


def probiou(a: np.ndarray, b: np.ndarray, eps: float = 1e-7) -> np.ndarray:
    """Probabilistic IoU of rotated boxes a (N, 5) and b (M, 5) in cx, cy, w, h, angle (radians):
    each box is a Gaussian (covariance R diag(w²/12, h²/12) Rᵀ) and the similarity is one minus
    their Hellinger distance, as Ultralytics' rotated NMS computes it. Returns (N, M)."""

    def covariance(r: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        vw, vh = r[:, 2] ** 2 / 12, r[:, 3] ** 2 / 12
        cos, sin = np.cos(r[:, 4]), np.sin(r[:, 4])
        return vw * cos**2 + vh * sin**2, vw * sin**2 + vh * cos**2, (vw - vh) * cos * sin

    a1, b1, c1 = (v[:, None] for v in covariance(a))
    a2, b2, c2 = (v[None, :] for v in covariance(b))
    dx, dy = a[:, 0, None] - b[None, :, 0], a[:, 1, None] - b[None, :, 1]
    sa, sb, sc = a1 + a2, b1 + b2, c1 + c2  # twice the mean covariance
    det = sa * sb - sc**2
    mahalanobis = (sa * dy**2 + sb * dx**2 - 2 * sc * dx * dy) / (det + eps) / 4
    spread = np.sqrt((a1 * b1 - c1**2).clip(0) * (a2 * b2 - c2**2).clip(0))
    bhattacharyya = (mahalanobis + np.log(det / (4 * spread + eps) + eps) / 2).clip(eps, 100.0)
    return np.asarray(1.0 - np.sqrt(1.0 - np.exp(-bhattacharyya) + eps))


def rotated_nms(rboxes: np.ndarray, scores: np.ndarray, iou_threshold: float,
                block: int = 1024) -> np.ndarray:
    """Fast-NMS over rotated boxes (cx, cy, w, h, angle), as Ultralytics runs it: a box is dropped
    when any better-scored box overlaps it by more than the threshold (probiou), even one that
    was dropped itself. Returns kept indices, best first. Rows are compared in blocks so memory
    stays at block x N."""
    order = np.argsort(-scores, kind="stable")
    ranked = rboxes[order].astype(np.float64)
    suppressed = np.zeros(len(order), dtype=bool)
    for start in range(0, len(order), block):
        iou = probiou(ranked[start : start + block], ranked)
        later = np.arange(len(order))[None, :] > np.arange(start, start + len(iou))[:, None]
        suppressed |= ((iou > iou_threshold) & later).any(axis=0)
    return np.asarray(order[~suppressed], dtype=np.int64)


def xywhr_corners(rboxes: np.ndarray) -> np.ndarray:
    """Rotated boxes (N, 5) → their corners (N, 4, 2), in Ultralytics' order (xywhr2xyxyxyxy)."""
    ctr, w, h, angle = rboxes[:, None, :2], rboxes[:, 2, None], rboxes[:, 3, None], rboxes[:, 4, None]
    cos, sin = np.cos(angle), np.sin(angle)
    along = np.concatenate([w / 2 * cos, w / 2 * sin], axis=-1)[:, None, :]
    across = np.concatenate([-h / 2 * sin, h / 2 * cos], axis=-1)[:, None, :]
    signs = np.asarray([[1, 1], [1, -1], [-1, -1], [-1, 1]], dtype=np.float64)[None, :, :, None]
    return np.asarray(ctr + signs[:, :, 0] * along + signs[:, :, 1] * across)


MAX_NMS = 30000  # Ultralytics keeps at most this many candidates (best first) before NMS
CLASS_OFFSET = 7680.0  # class-aware NMS: each class's boxes are shifted this far apart


class _Yolo:
    """YOLO outputs, for detect, segment, pose and obb models.

    ``yolo_detect`` / ``yolo_segment`` / ``yolo_pose`` / ``yolo_obb``: the anchor grid
    (batch, 4 + classes + extras, anchors) with cx, cy, w, h in input pixels; NMS runs here
    (rotated, probiou Fast-NMS for obb). ``yolo_nms`` (NMS in the graph) and ``yolo_end2end``
    (an NMS-free head: YOLOv10, YOLO26, RT-DETR): rows (batch, max_det, 6 + extras) of box,
    score, class, extras, best first; ``box_format`` says whether the box is x1, y1, x2, y2,
    cx, cy, w, h (``xywh``) or cx, cy, w, h with the angle as the last column (``xywhr``), and
    ``normalized`` that it is a fraction of the input size. The extras are mask coefficients
    (``mask_prototypes``), keypoints (``keypoint_shape``) or the angle (obb). Axis-aligned
    boxes are clipped to the image; one that lies wholly in the letterbox padding covers no
    pixel of the image and is dropped.
    """

    def __init__(self, spec: dict[str, Any], post: Postprocessor) -> None:
        self.post = post
        self.kind = spec["type"]
        self.rows = self.kind in ("yolo_nms", "yolo_end2end")
        decoded = spec.get("decoded_type") or self.kind
        self.box_format = spec.get("box_format", "xywhr" if decoded == "yolo_obb" else "xyxy")
        self.rotated = decoded == "yolo_obb" or self.box_format == "xywhr"
        self.normalized = bool(spec.get("normalized", False))
        self.kpt_shape = spec.get("keypoint_shape")
        self.segments = spec.get("mask_prototypes") is not None

    def candidates(self, outputs: list[np.ndarray], conf: float,
                   t: dict[str, float]) -> dict[str, np.ndarray]:
        """Raw output → boxes above ``conf`` (input pixels; xyxy, or cx, cy, w, h, angle when
        rotated), their scores, classes and extras, before NMS."""
        if self.rows:
            rows = outputs[0][0].astype(np.float32)
            rows = rows[rows[:, 4] > conf]
            boxes, extra = rows[:, :4].copy(), rows[:, 6:]
            scores, classes = rows[:, 4], rows[:, 5].astype(np.int64)
            layout = self.box_format
        else:
            pred = outputs[0][0]  # (4 + nc + extras, anchors)
            nc = len(self.post.names)
            class_scores = pred[4 : 4 + nc]
            best = class_scores.max(axis=0)
            keep = best > conf
            cols = pred[:, keep].T.astype(np.float32)
            boxes, extra = cols[:, :4].copy(), cols[:, 4 + nc :]
            scores, classes = best[keep], class_scores[:, keep].argmax(axis=0).astype(np.int64)
            layout = "xywhr" if self.rotated else "xywh"
        if self.normalized:
            boxes *= np.asarray([t["width"], t["height"]] * 2, dtype=np.float32)
        if layout == "xywhr":  # the angle is the last extra
            boxes, extra = np.concatenate([boxes, extra[:, -1:]], axis=1), extra[:, :-1]
        elif layout == "xywh":
            half = boxes[:, 2:4] / 2
            boxes = np.concatenate([boxes[:, :2] - half, boxes[:, :2] + half], axis=1)
        return {"boxes": boxes, "scores": scores, "classes": classes, "extra": extra}

    def _select(self, c: dict[str, np.ndarray], iou: float) -> np.ndarray:
        """Indices of the detections kept, best first."""
        max_det = self.post.max_det
        if self.rows:  # already final and ranked: keep the graph's order
            return np.arange(min(len(c["scores"]), max_det))
        scores = c["scores"]
        order = np.argsort(-scores, kind="stable")[:MAX_NMS]
        boxes, classes = c["boxes"][order], c["classes"][order]
        offset = classes[:, None].astype(np.float64) * (0.0 if self.post.agnostic else CLASS_OFFSET)
        if self.rotated:
            shifted = np.concatenate([boxes[:, :2] + offset, boxes[:, 2:]], axis=1)
            keep = rotated_nms(shifted, scores[order], iou)
        else:
            keep = nms(boxes + offset, scores[order], iou)
        return np.asarray(order[keep[:max_det]], dtype=np.int64)

    def __call__(self, outputs: list[np.ndarray], t: dict[str, float], shape: tuple[int, int],
                 conf: float, iou: float, masks: bool) -> list[dict[str, Any]]:
        post = self.post
        c = self.candidates(outputs, conf, t)
        keep = self._select(c, iou)
        boxes, scores, classes, extra = (c[k][keep] for k in ("boxes", "scores", "classes", "extra"))
        results = []
        for row in range(len(keep)):
            cid = int(classes[row])
            item: dict[str, Any] = {"class_id": cid, "class_name": post.name(cid),
                                    "confidence": float(scores[row])}
            if self.rotated:
                item.update(self._rotated(boxes[row], t))
            else:
                x1, y1, x2, y2 = (float(v) for v in _to_original(boxes[row], t, shape))
                if x2 <= x1 or y2 <= y1:  # wholly in the letterbox padding: no pixel of the image
                    continue
                item["bbox"] = [x1, y1, x2, y2]
            if self.kpt_shape:
                nk, dims = self.kpt_shape
                kp = extra[row][: nk * dims].reshape(nk, dims).astype(np.float32)
                kp[:, :2] = _to_original(kp[:, :2], t, shape)
                item["keypoints"] = kp.tolist()
            if self.segments and masks:
                item["mask"] = self._mask(extra[row], outputs[1][0], boxes[row], t, shape)
            results.append(item)
        return results

    @staticmethod
    def _rotated(rbox: np.ndarray, t: dict[str, float]) -> dict[str, Any]:
        """A rotated box (input pixels) in the original image: ``rbox`` (cx, cy, w, h, angle),
        its four corners and their axis-aligned bounds, as Ultralytics scales them (not clipped)."""
        cx, cy, w, h, angle = (float(v) for v in rbox)
        mapped = np.asarray([[(cx - t["pad_x"]) / t["gain_x"], (cy - t["pad_y"]) / t["gain_y"],
                              w / t["gain_x"], h / t["gain_y"], angle]], dtype=np.float64)
        polygon = xywhr_corners(mapped)[0]
        bounds = [*polygon.min(axis=0), *polygon.max(axis=0)]
        return {"bbox": [float(v) for v in bounds], "rbox": [float(v) for v in mapped[0]],
                "polygon": polygon.tolist()}

    @staticmethod
    def _mask(coef: np.ndarray, protos: np.ndarray, box: np.ndarray, t: dict[str, float],
              shape: tuple[int, int]) -> np.ndarray:
        """One instance mask (bool, original image size), as Ultralytics makes it: prototypes
        upsampled to the input size (bilinear), positive logits inside the box (input pixels),
        then the image's region of the input resized to the original size (bilinear, > 0.5)."""
        nm, mh, mw = protos.shape
        logits = (coef[:nm] @ protos.reshape(nm, -1)).reshape(mh, mw).astype(np.float32)
        in_h, in_w = int(t["height"]), int(t["width"])
        mask = cv2.resize(logits, (in_w, in_h), interpolation=cv2.INTER_LINEAR) > 0.0
        x1, y1, x2, y2 = box[:4]
        cols, rows = np.arange(in_w), np.arange(in_h)
        mask &= ((rows >= y1) & (rows < y2))[:, None] & ((cols >= x1) & (cols < x2))[None, :]
        h, w = shape
        top, left = max(round(t["pad_y"]), 0), max(round(t["pad_x"]), 0)
        height, width = max(round(h * t["gain_y"]), 1), max(round(w * t["gain_x"]), 1)
        region = mask[top : top + height, left : left + width]
        resized = cv2.resize(region.astype(np.float32), (w, h), interpolation=cv2.INTER_LINEAR)
        return np.asarray(resized > 0.5)


class _SetPrediction:
    """DETR-style set prediction: a box per query (cx, cy, w, h normalized to the model's
    input), no NMS. Scores: ``softmax`` with a trailing no-object class, ``sigmoid`` with
    the top_k (query, class) pairs, or ``max`` of scores that are already probabilities.
    As transformers' ``post_process_object_detection``: scores above ``conf`` are kept,
    best first; boxes scale with the tensor and map back through the resize (then they
    are clipped to the image, which transformers leaves to the caller)."""

    def __init__(self, spec: dict[str, Any], post: Postprocessor) -> None:
        self.post = post
        self.scores = spec["scores"]
        self.top_k = spec.get("top_k")
        self.scores_index = int(spec.get("scores_index", 0))
        boxes_index = spec.get("boxes_index")
        self.boxes_index = None if boxes_index is None else int(boxes_index)

    def candidates(self, outputs: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(query, class, score) of every scored pair, and the boxes per query."""
        logits = outputs[self.scores_index][0].astype(np.float32)  # (queries, classes), as torch
        if self.boxes_index is None:  # boxes first, then the class scores
            boxes, logits = logits[:, :4], logits[:, 4:]
        else:
            boxes = outputs[self.boxes_index][0].astype(np.float32)
        if self.scores == "softmax":
            probs = _softmax(logits)[:, :-1]
            return np.arange(len(probs)), probs.argmax(-1), probs.max(-1), boxes
        if self.scores == "sigmoid":
            flat = _sigmoid(logits).reshape(-1)
            k = min(int(self.top_k or flat.size), flat.size)
            top = np.argsort(-flat, kind="stable")[:k]
            return top // logits.shape[1], top % logits.shape[1], flat[top], boxes
        return np.arange(len(logits)), logits.argmax(-1), logits.max(-1), boxes

    def __call__(self, outputs: list[np.ndarray], t: dict[str, float], shape: tuple[int, int],
                 conf: float, iou: float, masks: bool) -> list[dict[str, Any]]:
        query, labels, scores, boxes = self.candidates(outputs)
        keep = scores > conf
        query, labels, scores = query[keep], labels[keep], scores[keep]
        order = np.argsort(-scores, kind="stable")[: self.post.max_det]
        cx, cy, w, h = boxes[query[order]].astype(np.float64).T
        xyxy = np.stack([cx - 0.5 * w, cy - 0.5 * h, cx + 0.5 * w, cy + 0.5 * h], axis=1)
        xyxy *= [t["width"], t["height"], t["width"], t["height"]]
        orig = _to_original(xyxy, t, shape)
        return [{"class_id": int(labels[i]), "class_name": self.post.name(int(labels[i])),
                 "confidence": float(scores[i]), "bbox": [float(v) for v in orig[row]]}
                for row, i in enumerate(order)]


def _linear_taps(size: int, scale: float, offset: float, length: int
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Bilinear taps as torch's interpolate (align_corners false) computes them: output
    pixel i reads source coordinate (i + 0.5) * scale + offset - 0.5, clamped to the input;
    returns the two source indices and the second one's weight."""
    src = np.clip((np.arange(size, dtype=np.float64) + 0.5) * scale + offset - 0.5, 0.0, length - 1)
    first = np.floor(src).astype(np.int64)
    return first, np.minimum(first + 1, length - 1), (src - first).astype(np.float32)


class _Semantic:
    """Per-pixel class logits → one segment per class present: its share of the image,
    its mean probability, its extent and (``masks``) the mask at the original size.

    The logits are resampled bilinearly (align_corners false, exactly as torch's
    interpolate) onto the original image, a band of rows at a time so memory stays at
    classes x band x width: through the inverse of the preprocessing geometry
    (``mapping: inverse``) or stretched over the whole image (``stretch``, what
    transformers' post_process_semantic_segmentation does)."""

    BAND = 64  # output rows resampled at a time

    def __init__(self, spec: dict[str, Any], post: Postprocessor) -> None:
        self.post = post
        self.stretch = spec.get("mapping", "inverse") == "stretch"

    def _bands(self, logits: np.ndarray, t: dict[str, float], shape: tuple[int, int]
               ) -> Iterator[tuple[int, np.ndarray]]:
        """(classes, h, w) logits → (start row, (classes, rows, W) resampled logits) bands."""
        h, w = logits.shape[1:]
        height, width = shape
        if self.stretch:
            (sy, oy), (sx, ox) = (h / height, 0.0), (w / width, 0.0)
        else:  # original x → tensor x * gain + pad → logits (x * gain + pad) * w / tensor width
            ky, kx = h / t["height"], w / t["width"]
            (sy, oy), (sx, ox) = (t["gain_y"] * ky, t["pad_y"] * ky), (t["gain_x"] * kx, t["pad_x"] * kx)
        x0, x1, wx = _linear_taps(width, sx, ox, w)
        y0, y1, wy = _linear_taps(height, sy, oy, h)
        planes = np.asarray(logits, dtype=np.float32)
        cols = planes[:, :, x0] * (1.0 - wx) + planes[:, :, x1] * wx  # (classes, h, W)
        for start in range(0, height, self.BAND):
            rows = slice(start, start + self.BAND)
            a, b = wy[rows][:, None], 1.0 - wy[rows][:, None]
            yield start, cols[:, y0[rows], :] * b + cols[:, y1[rows], :] * a

    def scan(self, outputs: list[np.ndarray], t: dict[str, float], shape: tuple[int, int]
             ) -> tuple[np.ndarray, np.ndarray]:
        """The class map (H, W) and each pixel's winning probability."""
        labels = np.empty(shape, dtype=np.int64)
        best = np.empty(shape, dtype=np.float32)
        for start, band in self._bands(outputs[0][0], t, shape):
            top = band.max(axis=0)
            labels[start : start + band.shape[1]] = band.argmax(axis=0)
            best[start : start + band.shape[1]] = 1.0 / np.exp(band - top).sum(axis=0)
        return labels, best

    def class_map(self, outputs: list[np.ndarray], t: dict[str, float],
                  shape: tuple[int, int]) -> np.ndarray:
        return self.scan(outputs, t, shape)[0]

    def __call__(self, outputs: list[np.ndarray], t: dict[str, float], shape: tuple[int, int],
                 conf: float, iou: float, masks: bool) -> list[dict[str, Any]]:
        labels, best = self.scan(outputs, t, shape)
        results = []
        for cid in np.unique(labels):
            mask = labels == cid
            rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
            item: dict[str, Any] = {
                "class_id": int(cid), "class_name": self.post.name(int(cid)),
                "confidence": float(best[mask].mean()), "area": float(mask.mean()),
                "bbox": [float(cols[0]), float(rows[0]), float(cols[-1] + 1), float(rows[-1] + 1)],
            }
            if masks:
                item["mask"] = mask
            results.append(item)
        return sorted(results, key=lambda r: -r["area"])


_DECODERS: dict[str, Callable[[dict[str, Any], Postprocessor], Any]] = {
    "logits": _Classifier, "probabilities": _Classifier,
    "yolo_detect": _Yolo, "yolo_segment": _Yolo, "yolo_pose": _Yolo, "yolo_obb": _Yolo,
    "yolo_nms": _Yolo, "yolo_end2end": _Yolo,
    "set_prediction": _SetPrediction,
    "semantic_logits": _Semantic,
}


class Postprocessor:
    """Raw outputs → predictions, as metadata.json's postprocessing section says."""

    def __init__(self, spec: dict[str, Any], classes: list[dict[str, Any]]) -> None:
        self.kind = spec["type"]
        nms_spec = spec.get("nms", {})
        self.conf = float(nms_spec.get("confidence_threshold", spec.get("confidence_threshold", 0.25)))
        self.iou = float(nms_spec.get("iou_threshold", 0.7))
        self.max_det = int(nms_spec.get("max_detections", spec.get("max_detections", 300)))
        self.agnostic = bool(nms_spec.get("class_agnostic", False))
        self.names = [c["name"] for c in sorted(classes, key=lambda c: c["id"])]
        decoder = _DECODERS.get(self.kind)
        if decoder is None:
            raise ValueError(f"unknown postprocessing type in metadata.json: {self.kind!r}")
        self.decoder = decoder(spec, self)

    def name(self, class_id: int) -> str:
        return self.names[class_id] if 0 <= class_id < len(self.names) else str(class_id)

    def decode(self, outputs: list[np.ndarray], transform: dict[str, float], shape: tuple[int, int],
               conf: float | None = None, iou: float | None = None,
               masks: bool = False) -> list[dict[str, Any]]:
        """Predictions in the original image's coordinates (``shape`` is its height, width)."""
        conf = self.conf if conf is None else conf
        iou = self.iou if iou is None else iou
        result: list[dict[str, Any]] = self.decoder(outputs, transform, shape, conf, iou, masks)
        return result


# --- the wrapper -----------------------------------------------------------


class ModelWrapper:
    """An exported model with its pre- and post-processing, driven by metadata.json."""

    def __init__(self, model_path: str | os.PathLike[str], metadata_path: str | os.PathLike[str],
                 threads: int | None = None) -> None:
        self.metadata: dict[str, Any] = json.loads(Path(metadata_path).read_text(encoding="utf-8"))
        model_path = Path(model_path)
        runtime = _RUNTIMES.get(model_path.suffix)
        if runtime is None:
            raise ValueError(f"no Python runtime for {model_path.name} in this wrapper")
        self.runtime = runtime(str(model_path), threads, self.metadata)
        self.task = self.metadata["model_info"]["task"]
        self.preprocess = Preprocessor(self.metadata["preprocessing"], self.metadata["input_spec"])
        self.postprocess = Postprocessor(self.metadata["postprocessing"], self.metadata["classes"])

    @property
    def class_names(self) -> list[str]:
        return self.postprocess.names

    @staticmethod
    def load_image(image: Any, bgr: bool = False) -> np.ndarray:
        """A path or an array → RGB uint8 H x W x 3."""
        if isinstance(image, (str, os.PathLike)):
            data = cv2.imread(os.fspath(image), cv2.IMREAD_COLOR)
            if data is None:
                raise ValueError(f"cannot read image: {image}")
            return cv2.cvtColor(data, cv2.COLOR_BGR2RGB)
        array = np.asarray(image)
        if array.ndim == 2:
            return cv2.cvtColor(array, cv2.COLOR_GRAY2RGB)
        if array.ndim != 3 or array.shape[2] not in (3, 4):
            raise ValueError(f"expected an H x W x 3 image, got shape {array.shape}")
        if array.shape[2] == 4:
            array = cv2.cvtColor(array, cv2.COLOR_BGRA2BGR if bgr else cv2.COLOR_RGBA2RGB)
        if bgr:
            array = cv2.cvtColor(array, cv2.COLOR_BGR2RGB)
        return np.ascontiguousarray(array, dtype=np.uint8)

    @property
    def fixed_batch(self) -> int:
        """The batch size the model was exported with (1 for a dynamic batch axis)."""
        batch = self.metadata["input_spec"]["shape"][0]
        return batch if isinstance(batch, int) and batch > 1 else 1

    def forward(self, tensor: np.ndarray, runtime: Any = None) -> list[np.ndarray]:
        """Run one preprocessed image; a fixed-batch export gets its batch filled with it."""
        runtime = runtime or self.runtime
        if self.fixed_batch > 1:
            return [o[:1] for o in runtime(np.repeat(tensor, self.fixed_batch, axis=0))]
        return runtime(tensor)

    def run(self, rgb: np.ndarray) -> tuple[list[np.ndarray], dict[str, float]]:
        """Pre-process and run the model; the raw outputs and the resize transform."""
        tensor, transform = self.preprocess(rgb)
        return self.forward(tensor), transform

    def predict(self, image: Any, conf: float | None = None, iou: float | None = None,
                bgr: bool = False, masks: bool = False) -> list[dict[str, Any]]:
        rgb = self.load_image(image, bgr=bgr)
        outputs, transform = self.run(rgb)
        return self.postprocess.decode(outputs, transform, rgb.shape[:2], conf, iou, masks)
