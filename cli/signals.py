"""Serving until the operator says stop."""

from __future__ import annotations

import asyncio
import contextlib
import signal


async def until_signalled() -> None:
    """Return on SIGINT (Ctrl-C) or SIGTERM, so servers can stop cleanly instead of dying
    mid-write."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    await stop.wait()


def on_hangup(reload) -> None:
    """Call `reload()` on SIGHUP (a daemon's "read your configuration again")."""
    with contextlib.suppress(NotImplementedError):
        asyncio.get_running_loop().add_signal_handler(signal.SIGHUP, reload)
