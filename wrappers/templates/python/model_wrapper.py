"""Run an exported Slipway model with the exact pre- and post-processing of its original.

Standalone: needs numpy and opencv-python (headless is fine) plus the runtime of
the model file: onnxruntime for .onnx, torch for .torchscript, openvino for .xml,
ai-edge-litert (or tensorflow) for .tflite, coremltools on macOS for .mlpackage,
tensorrt and torch with CUDA for .engine. Everything about
the model (input size, resize method, normalization, class names, NMS settings)
is read from metadata.json; nothing is hard-coded here.

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
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cv2
import numpy as np

_INTERPOLATION = {
    "nearest": cv2.INTER_NEAREST,
    "linear": cv2.INTER_LINEAR,
    "bilinear": cv2.INTER_LINEAR,
    "cubic": cv2.INTER_CUBIC,
    "bicubic": cv2.INTER_CUBIC,
    "area": cv2.INTER_AREA,
    "lanczos": cv2.INTER_LANCZOS4,
}


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


class Preprocessor:
    """Image → input tensor, plus what it takes to map boxes back."""

    def __init__(self, spec: dict[str, Any], input_spec: dict[str, Any]) -> None:
        resize = spec["resize"]
        self.bgr = spec.get("format", {}).get("color_space", "RGB") == "BGR"
        self.method = resize["method"]
        self.height, self.width = (int(v) for v in resize["size"])
        self.fill = int(resize.get("fill_value", 114))
        self.interpolation = _INTERPOLATION[resize.get("interpolation", "linear")]
        # PIL-based pipelines (timm, Hugging Face) low-pass filter when they shrink;
        # OpenCV's area interpolation is the close equivalent.
        self.antialias = bool(resize.get("antialias", False))
        self.crop_pct = float(resize.get("crop_pct", 1.0))
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

    def _resized(self, image: np.ndarray, width: int, height: int) -> np.ndarray:
        shrinking = width < image.shape[1] and height < image.shape[0]
        method = cv2.INTER_AREA if self.antialias and shrinking else self.interpolation
        return cv2.resize(image, (width, height), interpolation=method)

    def resize(self, image: np.ndarray) -> tuple[np.ndarray, dict[str, float]]:
        h, w = image.shape[:2]
        if self.method == "letterbox":
            return self._letterbox(image)
        if self.method == "resize":
            out = self._resized(image, self.width, self.height)
            return out, {"gain_x": self.width / w, "gain_y": self.height / h, "pad_x": 0, "pad_y": 0}
        if self.method == "shorter_side_center_crop":
            return self._resize_crop(image)
        raise ValueError(f"unknown resize method in metadata.json: {self.method!r}")

    def _letterbox(self, image: np.ndarray) -> tuple[np.ndarray, dict[str, float]]:
        """Keep the aspect ratio, pad the rest with fill_value, centred."""
        h, w = image.shape[:2]
        gain = min(self.height / h, self.width / w)
        new_w, new_h = max(round(w * gain), 1), max(round(h * gain), 1)
        if (new_w, new_h) != (w, h):
            image = self._resized(image, new_w, new_h)
        dw, dh = (self.width - new_w) / 2, (self.height - new_h) / 2
        top, bottom = round(dh - 0.1), round(dh + 0.1)
        left, right = round(dw - 0.1), round(dw + 0.1)
        fill = (self.fill, self.fill, self.fill)
        image = cv2.copyMakeBorder(image, top, bottom, left, right, cv2.BORDER_CONSTANT, value=fill)
        return image, {"gain_x": new_w / w, "gain_y": new_h / h, "pad_x": left, "pad_y": top}

    def _resize_crop(self, image: np.ndarray) -> tuple[np.ndarray, dict[str, float]]:
        h, w = image.shape[:2]
        short = int(np.floor(min(self.height, self.width) / self.crop_pct))
        if w <= h:
            new_w, new_h = short, int(short * h / w)
        else:
            new_w, new_h = int(short * w / h), short
        image = self._resized(image, new_w, new_h)
        top = round((new_h - self.height) / 2.0)
        left = round((new_w - self.width) / 2.0)
        image = image[top : top + self.height, left : left + self.width]
        return image, {"gain_x": new_w / w, "gain_y": new_h / h, "pad_x": -left, "pad_y": -top}

    def to_tensor(self, rgb: np.ndarray) -> np.ndarray:
        if self.embedded:  # the graph normalizes: feed uint8 RGB, NHWC
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
        resized, transform = self.resize(rgb)
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


class Postprocessor:
    def __init__(self, spec: dict[str, Any], classes: list[dict[str, Any]]) -> None:
        self.kind = spec["type"]
        nms_spec = spec.get("nms", {})
        self.conf = float(nms_spec.get("confidence_threshold", 0.25))
        self.iou = float(nms_spec.get("iou_threshold", 0.7))
        self.max_det = int(nms_spec.get("max_detections", 300))
        self.agnostic = bool(nms_spec.get("class_agnostic", False))
        self.top_k = int(spec.get("top_k", 5))
        self.kpt_shape = spec.get("keypoint_shape")
        self.names = [c["name"] for c in sorted(classes, key=lambda c: c["id"])]

    def classify(self, outputs: list[np.ndarray]) -> list[dict[str, Any]]:
        scores = outputs[0].reshape(-1).astype(np.float64)
        if self.kind == "logits":
            scores = np.exp(scores - scores.max())
            scores /= scores.sum()
        top = np.argsort(-scores, kind="stable")[: self.top_k]
        return [
            {"class_id": int(i), "class_name": self.names[i], "confidence": float(scores[i])}
            for i in top
        ]

    def candidates(self, outputs: list[np.ndarray], conf: float) -> dict[str, np.ndarray]:
        """Raw YOLO head output → confident boxes (xyxy, model pixels) before NMS."""
        if self.kind == "yolo_nms":  # NMS inside the graph: rows of x1,y1,x2,y2,score,class
            rows = outputs[0][0]
            rows = rows[rows[:, 4] > conf]
            return {"boxes": rows[:, :4], "scores": rows[:, 4], "classes": rows[:, 5].astype(int),
                    "extra": rows[:, 6:], "presorted": np.ones(1)}
        pred = outputs[0][0]  # (4 + nc + extra, anchors)
        nc = len(self.names)
        class_scores = pred[4 : 4 + nc]
        best = class_scores.max(axis=0)
        keep = best > conf
        cols = pred[:, keep].T
        cls = class_scores[:, keep].argmax(axis=0)
        cx, cy, w, h = cols[:, 0], cols[:, 1], cols[:, 2] / 2, cols[:, 3] / 2
        boxes = np.stack([cx - w, cy - h, cx + w, cy + h], axis=1)
        return {"boxes": boxes, "scores": best[keep], "classes": cls, "extra": cols[:, 4 + nc :]}

    def detect(
        self, outputs: list[np.ndarray], t: dict[str, float], shape: tuple[int, int],
        conf: float | None = None, iou: float | None = None, masks: bool = False,
    ) -> list[dict[str, Any]]:
        conf = self.conf if conf is None else conf
        iou = self.iou if iou is None else iou
        c = self.candidates(outputs, conf)
        boxes, scores, classes, extra = c["boxes"], c["scores"], c["classes"], c["extra"]
        if "presorted" in c:
            keep = np.argsort(-scores, kind="stable")[: self.max_det]
        else:
            offset = 0.0 if self.agnostic else 7680.0
            keep = nms(boxes + classes[:, None] * offset, scores, iou)[: self.max_det]
        results = []
        orig = _to_original(boxes[keep], t, shape)
        for row, k in enumerate(keep):
            cid = int(classes[k])
            item: dict[str, Any] = {
                "class_id": cid,
                "class_name": self.names[cid] if cid < len(self.names) else str(cid),
                "confidence": float(scores[k]),
                "bbox": [float(v) for v in orig[row]],
            }
            if self.kind == "yolo_pose" and self.kpt_shape:
                nk, dims = self.kpt_shape
                kp = extra[k].reshape(nk, dims).astype(np.float32)
                kp[:, :2] = _to_original(kp[:, :2].reshape(nk, 2), t, shape).reshape(nk, 2)
                item["keypoints"] = kp.tolist()
            if self.kind == "yolo_segment" and masks:
                item["mask"] = self._mask(extra[k], outputs[1][0], boxes[k], t, shape)
            results.append(item)
        return results

    @staticmethod
    def _mask(coef: np.ndarray, protos: np.ndarray, box: np.ndarray, t: dict[str, float],
              shape: tuple[int, int]) -> np.ndarray:
        """One instance mask (bool, original image size) from prototype masks."""
        nm, mh, mw = protos.shape
        logits = (coef[:nm] @ protos.reshape(nm, -1)).reshape(mh, mw)
        in_h, in_w = round(mh * 4), round(mw * 4)
        mask = cv2.resize(logits, (in_w, in_h), interpolation=cv2.INTER_LINEAR)
        x1, y1, x2, y2 = box
        keep = np.zeros_like(mask, dtype=bool)
        keep[max(int(y1), 0) : int(np.ceil(y2)), max(int(x1), 0) : int(np.ceil(x2))] = True
        mask = np.where(keep, mask, -np.inf)
        h, w = shape
        top, left = int(t["pad_y"]), int(t["pad_x"])
        crop = mask[top : top + round(h * t["gain_y"]), left : left + round(w * t["gain_x"])]
        return cv2.resize(crop, (w, h), interpolation=cv2.INTER_LINEAR) > 0.0


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

    def run(self, rgb: np.ndarray) -> tuple[list[np.ndarray], dict[str, float]]:
        """Pre-process and run the model; the raw outputs and the resize transform."""
        tensor, transform = self.preprocess(rgb)
        batch = self.metadata["input_spec"]["shape"][0]
        if isinstance(batch, int) and batch > 1:  # a fixed-batch export: fill the batch
            outputs = self.runtime(np.repeat(tensor, batch, axis=0))
            return [o[:1] for o in outputs], transform
        return self.runtime(tensor), transform

    def predict(self, image: Any, conf: float | None = None, iou: float | None = None,
                bgr: bool = False, masks: bool = False) -> list[dict[str, Any]]:
        rgb = self.load_image(image, bgr=bgr)
        outputs, transform = self.run(rgb)
        if self.task == "classify":
            return self.postprocess.classify(outputs)
        return self.postprocess.detect(outputs, transform, rgb.shape[:2], conf, iou, masks)
