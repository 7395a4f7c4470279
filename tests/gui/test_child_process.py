"""The child-process primitive with real children: line framing across partial reads, JSON
messages versus text lines, stderr to a log, and terminate-then-kill of a child that ignores SIGTERM."""

from __future__ import annotations

import os
import re
import sys
import textwrap
import time
from pathlib import Path

from pytestqt.qtbot import QtBot

from gui.child_process import ChildProcess, LineBuffer, json_object

ROOT = Path(__file__).resolve().parents[2]

# Writes its stdout in pieces with pauses, so the parent reads partial lines: a JSON object cut in
# the middle, a two-byte character cut between its bytes, a text line, JSON that is not an object,
# and a last line with no newline at all.
CHOPPY = textwrap.dedent("""
    import os, sys, time
    pieces = [b'{"type": "progress", "per', b'cent": 42.0, "message": "caf\\xc3',
              b'\\xa9"}\\nplain text line\\n[1, 2]\\n{"type": "result", "ok": tr', b'ue}\\r\\n',
              b'{not json\\n', b'the end without newline']
    for piece in pieces:
        os.write(1, piece)
        time.sleep(0.15)
    os.write(2, b'a warning on stderr\\nerror: the last thing that went wrong\\n')
    sys.exit(2)
""")

IGNORES_TERM = textwrap.dedent("""
    import os, signal, subprocess, sys, time
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    grandchild = subprocess.Popen([sys.executable, "-c",
        "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(60)"])
    print(f"ready {grandchild.pid}", flush=True)
    time.sleep(60)
""")


def script(tmp_path: Path, name: str, text: str) -> list[str]:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return [sys.executable, str(path)]


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat")
    return not (stat.exists() and stat.read_text().split()[2] == "Z")  # a zombie is gone too


def test_line_buffer_joins_partial_reads() -> None:
    buffer = LineBuffer()
    assert buffer.feed(b'{"a": ') == []
    assert buffer.feed(b'1}\nsecond\r\nthi') == ['{"a": 1}', "second"]
    assert buffer.feed("rd é".encode()[:-1]) == []  # half of a two-byte character
    assert buffer.feed("é\n".encode()[-2:]) == ["third é"]
    assert buffer.flush() == []
    assert buffer.feed(b"tail") == [] and buffer.flush() == ["tail"]
    assert json_object('{"type": "log"}') == {"type": "log"}
    assert json_object("[1, 2]") is None and json_object("{broken") is None and json_object("text") is None


def test_a_real_child_framed_decoded_and_stderr_kept(qtbot: QtBot, tmp_path: Path) -> None:
    child = ChildProcess(script(tmp_path, "choppy.py", CHOPPY))
    messages: list[dict[str, object]] = []
    texts: list[str] = []
    errors: list[str] = []
    child.sig_message.connect(messages.append)
    child.sig_text.connect(texts.append)
    child.sig_stderr.connect(errors.append)
    with qtbot.waitSignal(child.sig_finished, timeout=20_000) as finished:
        child.start()
    assert finished.args == [2, False]
    assert messages == [{"type": "progress", "percent": 42.0, "message": "café"},
                        {"type": "result", "ok": True}]
    assert texts == ["plain text line", "[1, 2]", "{not json", "the end without newline"]
    assert errors == ["a warning on stderr", "error: the last thing that went wrong"]
    assert child.last_error_line() == "the last thing that went wrong"
    assert child.exit_code == 2 and not child.running


def test_stderr_can_go_straight_to_a_log_file(qtbot: QtBot, tmp_path: Path) -> None:
    log = tmp_path / "worker.log"
    log.write_text("earlier run\n")
    child = ChildProcess(script(tmp_path, "choppy.py", CHOPPY), stderr_file=log)
    errors: list[str] = []
    child.sig_stderr.connect(errors.append)
    with qtbot.waitSignal(child.sig_finished, timeout=20_000):
        child.start()
    assert log.read_text() == ("earlier run\na warning on stderr\n"
                               "error: the last thing that went wrong\n")  # appended
    assert errors == []


def test_stop_terminates_then_kills_a_child_that_ignores_sigterm(qtbot: QtBot, tmp_path: Path) -> None:
    grace_ms = 600
    child = ChildProcess(script(tmp_path, "stubborn.py", IGNORES_TERM), grace_ms=grace_ms, new_session=True)
    texts: list[str] = []
    child.sig_text.connect(texts.append)
    with qtbot.waitSignal(child.sig_text, timeout=20_000):
        child.start()
    grandchild = int(re.fullmatch(r"ready (\d+)", texts[0]).group(1))  # type: ignore[union-attr]
    assert child.pid is not None and alive(child.pid) and alive(grandchild)
    kill_due: list[bool] = []
    child.sig_kill_due.connect(lambda: kill_due.append(True))
    started = time.monotonic()
    with qtbot.waitSignal(child.sig_finished, timeout=20_000) as finished:
        child.stop()
        assert child.running  # stop() returned at once: no waitFor* on the UI thread
    elapsed = time.monotonic() - started
    assert finished.args == [-1, True]  # killed, at our request
    assert kill_due == [True] and elapsed >= grace_ms / 1000 * 0.9
    qtbot.waitUntil(lambda: not alive(grandchild), timeout=5_000)  # the whole group was killed


def test_a_child_that_honours_sigterm_ends_before_the_grace(qtbot: QtBot, tmp_path: Path) -> None:
    child = ChildProcess([sys.executable, "-c", "import time; print('up', flush=True); time.sleep(60)"],
                         grace_ms=10_000)
    with qtbot.waitSignal(child.sig_text, timeout=20_000):
        child.start()
    kill_due: list[bool] = []
    child.sig_kill_due.connect(lambda: kill_due.append(True))
    started = time.monotonic()
    with qtbot.waitSignal(child.sig_finished, timeout=20_000) as finished:
        child.stop()
    assert time.monotonic() - started < 5 and finished.args[1] is True and kill_due == []


def test_input_lines_and_a_program_that_does_not_exist(qtbot: QtBot, tmp_path: Path) -> None:
    echo = ChildProcess([sys.executable, "-c", "import json, sys\nfor line in sys.stdin: "
                         "print(json.dumps({'got': json.loads(line)}), flush=True)"])
    with qtbot.waitSignal(echo.sig_started, timeout=20_000):
        echo.start()
    with qtbot.waitSignal(echo.sig_message, timeout=20_000) as answer:
        echo.write({"n": 1})
    assert answer.args[0] == {"got": {"n": 1}}
    with qtbot.waitSignal(echo.sig_finished, timeout=20_000) as finished:
        echo.close_input()  # end of input ends the child's loop
    assert finished.args == [0, False]
    missing = ChildProcess([str(tmp_path / "no-such-program")])
    with qtbot.waitSignal(missing.sig_failed_to_start, timeout=5_000) as failed:
        missing.start()
    assert "could not be started" in failed.args[0]


def test_no_blocking_waits_in_the_gui() -> None:
    """Spyder's rule: QProcess.waitFor* would freeze the window; the GUI never calls them."""
    offenders = [f"{path.relative_to(ROOT)}:{number}"
                 for path in sorted((ROOT / "gui").rglob("*.py"))
                 for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
                 if re.search(r"waitFor(Started|Finished|ReadyRead|BytesWritten)", line)]
    assert offenders == []
