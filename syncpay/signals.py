"""SIGINT / SIGTERM for the long-running commands (``serve``, ``work``, ``sync``,
``simulator``): one policy, written once.

The first signal stops (the server stops taking requests, a worker takes no new job,
``sync`` leaves its run to the other workers) and lets the running jobs finish; a second
one cancels the running jobs; the command then exits with ``128 + signum``, as a shell
reports a process ended by that signal.

``Signals`` installs its handlers on the running event loop while its ``with`` block
runs and puts the previous handlers back afterwards. It counts the signals received and
calls, for each, the callback registered for that count (or the nearest lower count),
optionally for one signal number only. A command may also wait for the next signal
(``wait``) or look whether one came (``take``). Not re-entrant: one ``Signals`` block at
a time per loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

#: The signals that stop a command: Ctrl-C and a service manager's stop.
STOP_SIGNALS: tuple[signal.Signals, ...] = (signal.SIGINT, signal.SIGTERM)

#: Called with the number of the signal received.
Callback = Callable[[int], object]


def exit_status(signum: int) -> int:
    """The exit status of a command ended by signal ``signum`` (130 for SIGINT)."""
    return 128 + signum


def signal_name(signum: int) -> str:
    """``SIGTERM`` for 15."""
    try:
        return signal.Signals(signum).name
    except ValueError:
        return f"signal {signum}"


@dataclass(frozen=True)
class _Entry:
    count: int
    signum: int | None
    callback: Callback


class Signals:
    """The stop signals as events of the running loop, counted, with callbacks.

    ``on(callback, count=n)`` runs ``callback(signum)`` for the n-th signal and each
    later one that no callback of a higher count takes; ``signum=`` limits it to one
    signal number (it wins over a callback for any number at the same count)."""

    def __init__(self, signums: Sequence[int] = STOP_SIGNALS) -> None:
        self.signums = tuple(signums)
        #: Set by each signal; cleared by ``take`` / ``wait``.
        self.event = asyncio.Event()
        #: The signal numbers received, in order.
        self.received: list[int] = []
        self._entries: list[_Entry] = []
        self._saved: dict[int, Any] = {}
        self._loop: asyncio.AbstractEventLoop | None = None

    # -- callbacks ------------------------------------------------------------------------

    def on(
        self, callback: Callback, *, count: int = 1, signum: int | None = None
    ) -> Callable[[], None]:
        """Call ``callback(signum)`` from the ``count``-th signal on; returns a function
        that removes it again."""
        if count < 1:
            raise ValueError("count starts at 1")
        entry = _Entry(count, signum, callback)
        self._entries.append(entry)

        def remove() -> None:
            with contextlib.suppress(ValueError):
                self._entries.remove(entry)

        return remove

    def _callback_for(self, signum: int) -> Callback | None:
        count = len(self.received)
        fitting = [e for e in self._entries if e.count <= count and e.signum in (None, signum)]
        if not fitting:
            return None
        best = max(fitting, key=lambda e: (e.count, e.signum is not None))
        return best.callback

    def _received(self, signum: int) -> None:
        self.received.append(signum)
        self.event.set()
        callback = self._callback_for(signum)
        if callback is not None:
            callback(signum)

    # -- what came ------------------------------------------------------------------------

    @property
    def count(self) -> int:
        """How many signals came."""
        return len(self.received)

    @property
    def last(self) -> int | None:
        """The number of the latest signal, if any came."""
        return self.received[-1] if self.received else None

    def take(self) -> int | None:
        """The latest signal if one came since the last ``take`` / ``wait``."""
        if not self.event.is_set():
            return None
        self.event.clear()
        return self.received[-1]

    async def wait(self) -> int:
        """Wait for the next signal (or one not yet taken); its number."""
        await self.event.wait()
        self.event.clear()
        return self.received[-1]

    def exit_status(self) -> int:
        """``128 + signum`` of the latest signal; 0 when none came."""
        return exit_status(self.received[-1]) if self.received else 0

    # -- installing -----------------------------------------------------------------------

    def __enter__(self) -> Signals:
        loop = asyncio.get_running_loop()
        self._loop = loop
        for signum in self.signums:
            previous = signal.getsignal(signum)
            # Not on Windows' default loop (NotImplementedError), nor outside the main
            # thread (ValueError / RuntimeError): the command then stops as it would.
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                loop.add_signal_handler(signum, self._received, signum)
                self._saved[signum] = previous
        return self

    def __exit__(self, *_exc: object) -> None:
        loop = self._loop
        for signum, previous in self._saved.items():
            if loop is not None and not loop.is_closed():
                loop.remove_signal_handler(signum)
            with contextlib.suppress(TypeError, ValueError):
                signal.signal(signum, previous)
        self._saved.clear()
        self._loop = None
