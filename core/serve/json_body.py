"""Client JSON parsed within bounds: no runaway numbers, no NaN or infinity, no runaway nesting.

Python's ``json`` turns a 5,000-digit number into a ValueError (the interpreter's
4,300-digit limit on int conversion) and 100,000 nested brackets into a
RecursionError (its C parser stops at the interpreter's recursion limit, which
bounds the depth); neither is a JSONDecodeError and both surfaced as 500s. Here
each becomes the caller's 4xx. No per-number hook runs: a tensor's million
values parse at the C parser's speed.
"""

from __future__ import annotations

import json
from typing import Any

from core.serve.problems import ApiError


class _Refused(ValueError):
    pass


def _constant(name: str) -> float:
    raise _Refused(f"{name} is not a JSON number")


def load_json(raw: bytes, status: int) -> Any:
    """The parsed body, or ApiError(status) saying what is wrong with it."""
    try:
        return json.loads(raw, parse_constant=_constant)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ApiError(status, f"the body is not valid JSON: {exc}") from None
    except RecursionError:
        raise ApiError(status, "the JSON body nests too deeply") from None
    except ValueError as exc:  # _Refused, or a number past the int conversion limit
        raise ApiError(status, f"the body is not acceptable JSON: {str(exc)[:200]}") from None
