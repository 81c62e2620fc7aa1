"""The one "did you mean" every refusal of a mistyped name uses (config keys, datasets, suites, models, modes)."""
from __future__ import annotations

import difflib
from typing import Iterable


def did_you_mean(value: object, choices: Iterable[str], cutoff: float = 0.6) -> str:
    """' (did you mean 'x'?)' for the closest of ``choices`` to ``value``, or '' when none is close."""
    close = difflib.get_close_matches(str(value), list(choices), n=1, cutoff=cutoff)
    return f" (did you mean {close[0]!r}?)" if close else ""
