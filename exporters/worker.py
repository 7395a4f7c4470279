"""The export worker: ``python -m exporters --spec SPEC.json --out DIR``.

Runs one export in its own process and speaks the JSON-lines protocol on
stdout. Libraries print freely, so the real stdout is kept for the protocol and
file descriptor 1 is pointed at stderr before any of them is imported. The last
event (result or error) is also written to DIR/result.json, atomically, so it
survives a host that died meanwhile. Exit codes: 0 done, 1 internal error,
2 bad input, 3 unsupported, 4 validation failed.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import sys
import traceback
from pathlib import Path
from typing import Any

from core import protocol
from core.errors import BadInput, InternalError, SlipwayError
from exporters.emitter import HostStream


def _protocol_stream() -> HostStream:
    """Keep the real stdout for events; send everything else printed to stderr.

    The host may die (or its terminal close) mid-export: the stream then drops
    events instead of raising, and SIGPIPE is ignored so a write cannot kill us.
    """
    sys.stdout.flush()
    if hasattr(signal, "SIGPIPE"):
        signal.signal(signal.SIGPIPE, signal.SIG_IGN)
    stream = os.fdopen(os.dup(1), "w", encoding="utf-8", buffering=1)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    return HostStream(stream)


def prepare_out_dir(out: Path) -> Path:
    """The output folder must be new or empty, and writable; nothing in it is overwritten."""
    out = out.expanduser().resolve()
    if out.exists() and not out.is_dir():
        raise BadInput(f"--out {out} is a file, not a directory")
    if out.is_dir() and any(p.name != protocol.RESULT_FILE for p in out.iterdir()):
        raise BadInput(f"--out {out} is not empty; choose a new folder so no earlier export is touched")
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / ".write-test"
        probe.write_text("ok")
        probe.unlink()
    except OSError as err:
        raise BadInput(f"cannot write to the output directory {out}: {err.strerror or err}") from None
    return out


def _finish(stream: HostStream, out: Path | None, event: dict[str, Any]) -> None:
    if out is not None and out.is_dir():
        protocol.write_json_atomic(out / protocol.RESULT_FILE, event)
    stream.write(protocol.encode(event) + "\n")
    stream.flush()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m exporters", description=__doc__)
    parser.add_argument("--spec", required=True, type=Path, help="export spec (JSON)")
    parser.add_argument("--out", required=True, type=Path, help="package folder to create")
    args = parser.parse_args(argv)
    stream = _protocol_stream()

    from core.paths import cache_dir
    from exporters.emitter import Emitter
    from exporters.offline import configure_offline

    configure_offline(cache_dir())
    out: Path | None = None
    emitter = Emitter(stream)
    try:
        out = prepare_out_dir(args.out)
        from core.spec import load_spec
        from exporters.pipeline import run_export

        spec = load_spec(args.spec)
        result = run_export(spec, out, emitter)
    except SlipwayError as err:
        return _fail(stream, out, emitter, err)
    except Exception as err:  # the last line of defence: report, never hang
        traceback.print_exc(file=sys.stderr)
        return _fail(stream, out, emitter, _crash(err, emitter))
    _finish(stream, out, result)
    return 0


def _crash(err: Exception, emitter: Any) -> InternalError:
    """A library crashed: say where (stage, model) and what it said, not just "unexpected"."""
    stage = emitter.current_stage or "start-up"
    subject = f" for {emitter.subject}" if emitter.subject else ""
    said = str(err).strip().splitlines()[0] if str(err).strip() else ""
    return InternalError(f"the {stage} stage failed{subject}: {type(err).__name__}: {said}"
                         + " (the traceback is in the job's log)")


def _fail(stream: HostStream, out: Path | None, emitter: Any, err: SlipwayError) -> int:
    emitter.log(err.message, level="error")
    if out is not None and out.is_dir():
        shutil.rmtree(out / protocol.STAGING_DIR, ignore_errors=True)
        emitter.finish()
        emitter.write_log(out / "export.log")
    event = err.to_event()
    event["details"] = {k: v for k, v in err.details.items() if k != "parity"}
    if "parity" in err.details:
        event["parity"] = err.details["parity"]
    _finish(stream, out, event)
    return err.exit_code
