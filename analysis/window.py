"""A time window of a run, as `--spacetime` and `--explorer` give it: START:END in seconds since the first tick.

Its own module, without matplotlib: the command line and the explorer read it, and the figures'
library is imported in the background while the logs are read (analysis.api).
"""

from __future__ import annotations

import math

Window = tuple[float | None, float | None]


def parse_window(text: str) -> Window:
    """'20:30' -> (20.0, 30.0) seconds since the first tick; a side may be empty ('20:', ':5').

    Raises ValueError with a one-line reason for anything else.
    """
    parts = text.split(":")
    if len(parts) != 2:
        raise ValueError("expected START:END in seconds since the first tick, e.g. 20:30")
    bounds: list[float | None] = []
    for part in parts:
        if not part.strip():
            bounds.append(None)
            continue
        try:
            value = float(part)
        except ValueError:
            raise ValueError(f"{part.strip()!r} is not a number of seconds (expected START:END, e.g. 20:30)") from None
        if not math.isfinite(value) or value < 0:
            raise ValueError(f"{part.strip()!r}: seconds must be finite and not negative")
        bounds.append(value)
    start, end = bounds
    if start is not None and end is not None and end <= start:
        raise ValueError(f"END ({end:g}) must be after START ({start:g})")
    return start, end
