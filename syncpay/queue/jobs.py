"""Job handlers, looked up by name, and the payload a queued job carries.

A handler is ``async def handler(job: JobContext) -> None``. It is registered under
a name (``@jobs.register("name")``); the payload stores the name and JSON data,
never a pickled object, so a row in ``jobs`` can be read by a person and can never
run code that was not registered.

A handler can put writes into the transaction that acks its job
(:meth:`JobContext.on_success`) or fails it for good (:meth:`JobContext.on_failure`);
those writes commit together with the job's removal, or not at all.
"""

from __future__ import annotations

import functools
import json
import json.encoder
import os
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..db import Tx

Handler = Callable[["JobContext"], Awaitable[None]]
Hook = Callable[[Tx], Awaitable[None]]


class FailureReason(str):
    """The one-line error a failure (or retry) hook receives. ``cut_off`` is true when
    the job failed because its attempts ran out without an error of its own: the
    workers that took it vanished (killed, lease lapsed) before it could finish."""

    __slots__ = ("cut_off",)
    cut_off: bool

    def __new__(cls, text: str, *, cut_off: bool = False) -> FailureReason:
        reason = super().__new__(cls, text)
        reason.cut_off = cut_off
        return reason


#: Called in the transaction that fails a job for good: (tx, payload, reason, attempts).
FailureHook = Callable[[Tx, "Payload", FailureReason, int], Awaitable[None]]
#: Runs once per round for a job name, before the hooks of that name's jobs settled in
#: the round, with their payloads: one read for all of them instead of one each.
PrepareHook = Callable[[Tx, "list[Payload]"], Awaitable[None]]


class RetryLater(Exception):
    """Raised by a handler: put the job back, to run again after ``delay`` seconds.

    With ``count_attempt=False`` the attempt is given back (for a 429 or 503 with
    ``Retry-After``: the job did nothing wrong).
    """

    def __init__(self, delay: int, reason: str = "", *, count_attempt: bool = True) -> None:
        super().__init__(reason or f"retry in {delay}s")
        self.delay = max(0, int(delay))
        self.count_attempt = count_attempt


class PermanentFailure(Exception):
    """Raised by a handler: fail the job now, whatever attempts are left."""


class PayloadError(Exception):
    """A job row's payload cannot be run (malformed JSON, unknown job name)."""


@dataclass(frozen=True, slots=True)
class Payload:
    """The JSON stored in ``jobs.payload``, shaped like Laravel's."""

    uuid: str
    job: str
    data: dict[str, Any]
    display_name: str
    max_tries: int | None = None
    timeout: float | None = None
    backoff: tuple[int, ...] | None = None

    def to_json(self) -> str:
        return self.encode_with(self.uuid, self.data)

    def encode_with(self, uuid: str, data: Mapping[str, Any]) -> str:
        """This payload's JSON with another uuid and data (``push_many``'s fast path:
        everything else is shared by the batch)."""
        head = _payload_head(
            self.display_name, self.job, self.max_tries, self.timeout, self.backoff
        )
        return f'{{"uuid":"{uuid}",{head},"data":{_encode(data)}}}'

    @classmethod
    def create(
        cls,
        job: str,
        data: Mapping[str, Any] | None = None,
        *,
        display_name: str | None = None,
        max_tries: int | None = None,
        timeout: float | None = None,
        backoff: Sequence[int] | None = None,
    ) -> Payload:
        return cls(
            uuid=new_uuid(),
            job=job,
            data=dict(data or {}),
            display_name=display_name or job,
            max_tries=max_tries,
            timeout=timeout,
            backoff=tuple(backoff) if backoff is not None else None,
        )

    @classmethod
    def parse(cls, raw: str) -> Payload:
        """Read a stored payload; :class:`PayloadError` says what is wrong with it."""
        try:
            obj = json.loads(raw)
        except (TypeError, ValueError) as exc:
            raise PayloadError(f"malformed payload JSON: {exc}") from None
        if not isinstance(obj, dict):
            raise PayloadError("malformed payload: not a JSON object")
        job = obj.get("job")
        if not isinstance(job, str) or not job:
            raise PayloadError("malformed payload: no job name")
        data = obj.get("data") or {}
        if not isinstance(data, dict):
            raise PayloadError("malformed payload: data is not an object")
        max_tries = _optional_number(obj, "maxTries", int)
        timeout = _optional_number(obj, "timeout", float)
        backoff = obj.get("backoff")
        if backoff is not None:
            if not isinstance(backoff, list) or not all(
                isinstance(b, int) and b >= 0 for b in backoff
            ):
                raise PayloadError("malformed payload: backoff is not a list of seconds")
            backoff = tuple(backoff)
        return cls(
            uuid=str(obj.get("uuid") or uuid.uuid4()),
            job=job,
            data=data,
            display_name=str(obj.get("displayName") or job),
            max_tries=max_tries,
            timeout=timeout,
            backoff=backoff,
        )


def _make_encoder() -> Callable[[Any], str]:
    """Compact JSON of plain data; the C encoder directly when there is one (about 3x
    quicker than ``json.dumps`` for the small objects a job carries)."""
    make = getattr(json.encoder, "c_make_encoder", None)
    basestring = getattr(json.encoder, "c_encode_basestring", None)
    if make is None or basestring is None:
        return json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode
    encoder = make(None, None, basestring, None, ":", ",", False, False, True)
    return lambda obj: "".join(encoder(obj, 0))


_encode = _make_encoder()
_VARIANT = {c: "89ab"[int(c, 16) & 3] for c in "0123456789abcdef"}


@functools.lru_cache(maxsize=256)
def _payload_head(
    display_name: str,
    job: str,
    max_tries: int | None,
    timeout: float | None,
    backoff: tuple[int, ...] | None,
) -> str:
    fields = {
        "displayName": display_name,
        "job": job,
        "maxTries": max_tries,
        "timeout": timeout,
        "backoff": list(backoff) if backoff is not None else None,
    }
    return _encode(fields)[1:-1]


def new_uuid() -> str:
    """A random (version 4) UUID as text; quicker than ``str(uuid.uuid4())``."""
    h = os.urandom(16).hex()
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{_VARIANT[h[16]]}{h[17:20]}-{h[20:]}"


def _optional_number(obj: dict[str, Any], key: str, kind: type) -> Any:
    value = obj.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
        raise PayloadError(f"malformed payload: {key} is not a positive number")
    return kind(value)


@dataclass(slots=True)
class JobContext:
    """What a running handler sees of its job."""

    id: int
    queue: str
    attempts: int
    payload: Payload
    success_hooks: list[Hook] = field(default_factory=list)
    failure_hooks: list[Hook] = field(default_factory=list)

    @property
    def data(self) -> dict[str, Any]:
        return self.payload.data

    @property
    def uuid(self) -> str:
        return self.payload.uuid

    def on_success(self, hook: Hook) -> None:
        """Run ``hook(tx)`` inside the transaction that acks this job."""
        self.success_hooks.append(hook)

    def on_failure(self, hook: Hook) -> None:
        """Run ``hook(tx)`` inside the transaction that fails this job for good."""
        self.failure_hooks.append(hook)


class JobRegistry:
    """Handlers by name."""

    def __init__(self) -> None:
        self._handlers: dict[str, Handler] = {}
        self._failed: dict[str, FailureHook] = {}
        self._retried: dict[str, FailureHook] = {}
        self._prepare: dict[str, PrepareHook] = {}

    def register(
        self,
        name: str,
        *,
        failed: FailureHook | None = None,
        retried: FailureHook | None = None,
        prepare: PrepareHook | None = None,
    ) -> Callable[[Handler], Handler]:
        """Decorator form of :meth:`add`."""

        def decorate(handler: Handler) -> Handler:
            self.add(name, handler, failed=failed, retried=retried, prepare=prepare)
            return handler

        return decorate

    def add(
        self,
        name: str,
        handler: Handler,
        *,
        failed: FailureHook | None = None,
        retried: FailureHook | None = None,
        prepare: PrepareHook | None = None,
    ) -> None:
        """Register ``handler`` under ``name``; ``failed`` runs (like Laravel's
        ``failed()``) in the transaction that moves the job to ``failed_jobs`` — also
        when the job never got to run (its workers kept vanishing). ``retried`` runs in
        the transaction that puts the job back after a failed attempt (with that
        attempt's error), for example to keep the last error where a page shows it.
        ``prepare`` runs once per round, in the round's transaction, before the hooks
        (success, failed, retried) of this name's jobs that the round settles, with
        their payloads: a place for one read that serves all of those hooks."""
        existing = self._handlers.get(name)
        if existing is not None and existing is not handler:
            raise ValueError(f"a job named {name!r} is already registered")
        self._handlers[name] = handler
        if failed is not None:
            self._failed[name] = failed
        if retried is not None:
            self._retried[name] = retried
        if prepare is not None:
            self._prepare[name] = prepare

    def prepare_hook(self, name: str) -> PrepareHook | None:
        return self._prepare.get(name)

    def failure_hook(self, name: str) -> FailureHook | None:
        return self._failed.get(name)

    def retry_hook(self, name: str) -> FailureHook | None:
        return self._retried.get(name)

    def get(self, name: str) -> Handler:
        try:
            return self._handlers[name]
        except KeyError:
            raise PayloadError(f"job {name!r} is not registered") from None

    def names(self) -> list[str]:
        return sorted(self._handlers)

    def __contains__(self, name: object) -> bool:
        return name in self._handlers


#: The registry ``syncpay work`` runs from; ``--import MODULE`` adds to it.
registry = JobRegistry()
