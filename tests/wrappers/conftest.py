"""The native wrappers, built once per test session from the files every package's runtimes/
holds:

* ``cpp_example``: the C++ example program with the OpenCV DNN backend (ONNX Runtime's C++
  headers are in no registry here). Its --dump-tensor and --decode modes run no model, so the
  preprocessing and decoding tests use it as it is; the end-to-end tests run it on exports.
* ``kotlin_decoder``: the Kotlin post-processing (Postprocessing.kt: plain Kotlin and org.json)
  compiled with Debian's ``kotlin`` (1.3) beside tests/wrappers/kotlin/DecodeCases.kt, run on
  the JVM with Debian's ``libandroid-json-java`` (Android's own org.json). The rest of the
  Kotlin wrapper needs the Android SDK, LiteRT and ONNX Runtime Android, which no registry
  here has: it is parsed only (test_wrapper_syntax.py).
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from wrappers.render import write_runtimes

CMAKE = shutil.which("cmake")
KOTLINC = shutil.which("kotlinc")
KOTLIN_JARS = (Path("/usr/share/java/kotlin-stdlib.jar"), Path("/usr/share/java/com.android.json.jar"))


@pytest.fixture(scope="session")
def cpp_example(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if CMAKE is None or shutil.which("g++") is None:
        pytest.skip("cmake/g++ missing")
    work = tmp_path_factory.mktemp("cpp-example")
    (work / "metadata.json").write_text("{}")
    write_runtimes(work)
    build = work / "build"
    configure = [CMAKE, "-S", str(work / "runtimes" / "cpp"), "-B", str(build),
                 "-DSLIPWAY_BACKEND=opencv_dnn"]
    for command in (configure, [CMAKE, "--build", str(build), "-j2"]):
        run = subprocess.run(command, capture_output=True, text=True, check=False)
        assert run.returncode == 0, run.stderr[-3000:]
    return build / "slipway_example"


@pytest.fixture(scope="session")
def kotlin_decoder(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    """The command that runs DecodeCases.kt (the package's Postprocessing.kt inside) on case folders."""
    missing = [jar.name for jar in KOTLIN_JARS if not jar.is_file()]
    if KOTLINC is None or shutil.which("java") is None or missing:
        pytest.skip("kotlinc, java or org.json missing: apt-get install kotlin libandroid-json-java")
    work = tmp_path_factory.mktemp("kotlin")
    (work / "metadata.json").write_text("{}")
    write_runtimes(work)
    classes = work / "classes"
    sources = [work / "runtimes" / "kotlin" / "Postprocessing.kt",
               Path(__file__).parent / "kotlin" / "DecodeCases.kt"]
    command = [KOTLINC, "-nowarn", "-cp", str(KOTLIN_JARS[1]), *map(str, sources), "-d", str(classes)]
    run = subprocess.run(command, capture_output=True, text=True, timeout=600, check=False)
    assert run.returncode == 0, run.stderr[-3000:]
    return ["java", "-cp", ":".join([str(classes), *map(str, KOTLIN_JARS)]), "DecodeCasesKt"]
