"""The TCP options of syncpay's MySQL / MariaDB connections (``mysql.py``)."""

from __future__ import annotations

import socket

import aiomysql

#: TCP keepalive of our connections: idle seconds, seconds between probes, probes.
KEEPALIVE = (10, 5, 3)
#: Milliseconds sent data may stay unacknowledged before the kernel drops the connection.
USER_TIMEOUT_MS = 30_000


def keepalive(conn: aiomysql.Connection) -> None:
    """Let the kernel notice a server that vanished (its machine or our network gone)
    within about half a minute. Without it a statement whose answer was lost waits for
    ever: aiomysql reads without a timeout, and the worker hangs even after the network
    is back."""
    writer = getattr(conn, "_writer", None)
    sock = writer.get_extra_info("socket") if writer is not None else None
    if sock is None or sock.family not in (socket.AF_INET, socket.AF_INET6):
        return
    idle, interval, count = KEEPALIVE
    options = [(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)]
    for name, value in (
        ("TCP_KEEPIDLE", idle),
        ("TCP_KEEPINTVL", interval),
        ("TCP_KEEPCNT", count),
        ("TCP_USER_TIMEOUT", USER_TIMEOUT_MS),
    ):
        if hasattr(socket, name):  # Linux; elsewhere the system's defaults
            options.append((socket.IPPROTO_TCP, getattr(socket, name), value))
    for level, option, value in options:
        try:
            sock.setsockopt(level, option, value)
        except OSError:
            pass
