"""Files written whole or not at all: the models converted once into the data folder.

A file appears under its final name only once it is complete, through a partial file
named after the process and renamed into place, so a crash or two processes racing
never leave half a model to load. What to write, and what to do when it cannot be
written, is the caller's business (`models.py`, `rerank.py`).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from pathlib import Path


def write_whole(target: Path, write: Callable[[Path], object]) -> bool:
    """`write(path)` into a partial file, then rename it to `target`; False (and no
    partial file left) when anything fails, a read-only place or the writer itself."""
    partial = target.with_name(f"{target.name}.{os.getpid()}.partial")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        write(partial)
        os.replace(partial, target)  # whole or absent, even if two processes race
    except Exception:  # the callers fall back (convert again, run on torch): never fatal
        with contextlib.suppress(OSError):
            partial.unlink()
        return False
    return True
