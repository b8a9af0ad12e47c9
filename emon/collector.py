"""Python's cycle collector kept off what is made to last.

A first build of the engine, and a start-up reading 100,000 orders, make
millions of objects that live as long as the service; the collector walked
them again and again as they grew (40 % of a build), and afterwards every
full collection walks them all (about a second at 100,000 orders, alerts
waiting). Nothing they make is cyclic garbage; whatever is collects once the
collector runs again.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def paused() -> Iterator[None]:
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def keep_out() -> None:
    """Everything made so far is left out of every later collection (for
    what start-up made: it lives as long as the service)."""
    gc.freeze()
