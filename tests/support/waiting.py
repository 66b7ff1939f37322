"""Waiting for a condition with a deadline, instead of sleeping for a guess."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable


async def wait_until(
    predicate: Callable[[], bool | Awaitable[bool]], timeout: float = 10.0, what: str = ""
) -> None:
    """Poll *predicate* until it holds; fail with *what* after *timeout* seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        result = predicate()
        if isinstance(result, Awaitable):
            result = await result
        if result:
            return
        if loop.time() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what or predicate}")
        await asyncio.sleep(0.02)


def require_env(name: str) -> bool:
    """Whether the environment variable *name* asks for something (set, not 0)."""
    return os.environ.get(name, "") not in ("", "0")
