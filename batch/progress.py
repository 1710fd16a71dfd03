"""One progress bar for a whole batch, whatever the engine: items done, items per second, time left."""

from __future__ import annotations

import os
import sys

BAR_FORMAT = "{desc}: {percentage:3.0f}%|{bar}| {n_fmt}/{total_fmt} {unit} [{elapsed}<{remaining}, {rate_fmt}]"


def batch_bar(total: int | None, desc: str, unit: str = "sample", enabled: bool = True):
    """A tqdm bar on stderr; with `total` it shows the estimated time left."""
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit=unit, disable=not enabled, file=sys.stderr, dynamic_ncols=True,
                smoothing=0.1, bar_format=BAR_FORMAT if total else None)


def count_lines(path: str | os.PathLike) -> int:
    """Non-blank lines of a text file, read a block at a time (for the bar's total: a manifest's length)."""
    count = 0
    with open(path, "rb") as handle:
        for line in handle:
            if line.strip():
                count += 1
    return count
