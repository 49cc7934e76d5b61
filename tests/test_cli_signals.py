"""The commands' one signal helper (syncpay/signals.py), in-process: real signals
sent to this process while a ``Signals`` block has its handlers on the loop. The
commands' own use of it (serve, work, sync, simulator) is tested as programs in
test_cli.py, test_cli_sync.py, web/test_cli_web.py and test_simulator.py."""

from __future__ import annotations

import asyncio
import os
import signal
from types import FrameType

import pytest

from syncpay.signals import Signals, exit_status, signal_name


async def _send(signals: Signals, signum: int) -> int:
    """Send ``signum`` to this process; the number the block saw."""
    os.kill(os.getpid(), signum)
    return await asyncio.wait_for(signals.wait(), 5)


async def test_callbacks_by_count_the_last_one_repeats() -> None:
    calls: list[tuple[str, int]] = []
    with Signals() as signals:
        signals.on(lambda n: calls.append(("stop", n)), count=1)
        signals.on(lambda n: calls.append(("cancel", n)), count=2)
        assert await _send(signals, signal.SIGTERM) == signal.SIGTERM
        assert await _send(signals, signal.SIGINT) == signal.SIGINT
        assert await _send(signals, signal.SIGTERM) == signal.SIGTERM
    assert calls == [
        ("stop", signal.SIGTERM),
        ("cancel", signal.SIGINT),
        ("cancel", signal.SIGTERM),
    ]
    assert signals.count == 3 and signals.last == signal.SIGTERM
    assert signals.exit_status() == 128 + signal.SIGTERM


async def test_a_callback_for_one_signal_wins_and_can_be_removed() -> None:
    calls: list[str] = []
    with Signals() as signals:
        signals.on(lambda _n: calls.append("any"))
        remove = signals.on(lambda _n: calls.append("int"), signum=signal.SIGINT)
        await _send(signals, signal.SIGINT)
        await _send(signals, signal.SIGTERM)
        remove()
        await _send(signals, signal.SIGINT)
        assert signals.take() is None  # wait() took each one
    assert calls == ["int", "any", "any"]


async def test_the_previous_handlers_come_back() -> None:
    seen: list[int] = []

    def previous(signum: int, _frame: FrameType | None) -> None:
        seen.append(signum)

    old = signal.signal(signal.SIGTERM, previous)
    before_int = signal.getsignal(signal.SIGINT)
    try:
        with Signals() as signals:
            assert signal.getsignal(signal.SIGTERM) is not previous
            await _send(signals, signal.SIGTERM)
        assert seen == []
        assert signal.getsignal(signal.SIGTERM) is previous
        assert signal.getsignal(signal.SIGINT) is before_int
        os.kill(os.getpid(), signal.SIGTERM)
        await asyncio.sleep(0.05)
        assert seen == [signal.SIGTERM]
    finally:
        signal.signal(signal.SIGTERM, old)


def test_exit_status_and_names() -> None:
    assert exit_status(signal.SIGINT) == 130
    assert exit_status(signal.SIGTERM) == 143
    assert signal_name(signal.SIGTERM) == "SIGTERM"
    assert Signals().exit_status() == 0
    with pytest.raises(ValueError):
        Signals().on(lambda _n: None, count=0)
