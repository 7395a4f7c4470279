"""KServe v2 on a real server, driven by tritonclient.http unchanged (binary and JSON tensors)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import tritonclient.http as triton
from tritonclient.utils import InferenceServerException

from core.inference import open_package
from core.samples import sample
from tests.core.serve.conftest import Server

pytestmark = pytest.mark.slow  # needs the session's real exports


def test_tritonclient_binary_and_json_match_the_wrapper_raw_outputs(
    deploy: Callable[..., dict[str, Any]], server: Server, exported: Callable[[str], Any]
) -> None:
    det = deploy("det-onnx", tier="pro")
    wrapper = open_package(Path(exported("det-onnx").result["package_dir"]), threads=2)
    rgb = wrapper.load_image(sample("shapes-yolo11n").image_files()[0])
    tensor, _ = wrapper.preprocess(rgb)
    expected = wrapper.runtime(tensor)[0]

    def headers() -> dict[str, str]:  # tritonclient adds its own headers to the dict it is given
        return {"Authorization": f"Bearer {det['api_key']}"}

    client = triton.InferenceServerClient(server.url.removeprefix("http://"))
    assert client.is_server_live() and client.is_server_ready()
    assert client.is_model_ready(det["id"], headers=headers())
    meta = client.get_model_metadata(det["id"], headers=headers())
    assert meta["inputs"] == [{"name": "images", "datatype": "FP32", "shape": [1, 3, 320, 320]}]
    assert meta["outputs"][0]["name"] == "output0"
    config = client.get_model_config(det["id"], headers=headers())
    assert config["input"][0]["data_type"] == "TYPE_FP32"

    for binary in (True, False):
        given = triton.InferInput("images", list(tensor.shape), "FP32")
        given.set_data_from_numpy(tensor, binary_data=binary)
        wanted = [triton.InferRequestedOutput("output0", binary_data=binary)]
        result = client.infer(det["id"], [given], outputs=wanted, headers=headers())
        output = result.as_numpy("output0")
        assert output.shape == expected.shape == (1, 8, 2100)
        np.testing.assert_allclose(output, expected, rtol=1e-5, atol=1e-4)
    default = triton.InferInput("images", list(tensor.shape), "FP32")
    default.set_data_from_numpy(tensor)  # tritonclient's defaults: binary in, binary out
    np.testing.assert_allclose(
        client.infer(det["id"], [default], headers=headers()).as_numpy("output0"),
        expected,
        rtol=1e-5,
        atol=1e-4,
    )


def test_v2_refuses_bad_tensors_and_missing_keys_with_4xx(
    deploy: Callable[..., dict[str, Any]], server: Server
) -> None:
    det = deploy("det-onnx", tier="pro")
    client = triton.InferenceServerClient(server.url.removeprefix("http://"))

    def status_of(inputs: list[triton.InferInput], key: str | None = det["api_key"]) -> tuple[str, str]:
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        with pytest.raises(InferenceServerException) as caught:
            client.infer(det["id"], inputs, headers=headers)
        return str(caught.value.status()), caught.value.message()

    good = np.zeros((1, 3, 320, 320), np.float32)
    one = triton.InferInput("images", [1, 3, 320, 320], "FP32")
    one.set_data_from_numpy(good)
    assert status_of([one], key=None)[0] == "401"
    assert status_of([one], key="sk_slipway_wrong")[0] == "401"
    small = triton.InferInput("images", [1, 3, 32, 32], "FP32")
    small.set_data_from_numpy(good[:, :, :32, :32])
    code, message = status_of([small])
    assert code == "400" and "shape" in message
    doubles = triton.InferInput("images", [1, 3, 320, 320], "FP64")
    doubles.set_data_from_numpy(good.astype(np.float64))
    code, message = status_of([doubles])
    assert code == "400" and "FP32" in message
    renamed = triton.InferInput("pixels", [1, 3, 320, 320], "FP32")
    renamed.set_data_from_numpy(good)
    code, message = status_of([renamed])
    assert code == "400" and "images" in message
    with pytest.raises(InferenceServerException) as caught:
        client.get_model_metadata("0123456789abcdef", headers={"Authorization": f"Bearer {det['api_key']}"})
    assert str(caught.value.status()) == "404"
    assert client.is_server_live()  # nothing above hurt the server
