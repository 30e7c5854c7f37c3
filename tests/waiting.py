"""The one way a test waits for another process (a worker, a server, the mail folder)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def wait_for(
    condition: Callable[[], T],
    what: str = "the worker",
    *,
    timeout: float = 60,
    seen: Callable[[], object] | None = None,
) -> T:
    """Poll `condition()` until it returns something true, and return that.

    Fails after `timeout` seconds, naming `what` was awaited and, when given,
    what `seen()` says was there instead.
    """
    deadline = time.monotonic() + timeout
    while not (result := condition()):
        if time.monotonic() > deadline:
            found = f"; found {seen()}" if seen is not None else ""
            raise AssertionError(f"{what} did not get there within {timeout:.0f} s{found}")
        time.sleep(0.1)
    return result
