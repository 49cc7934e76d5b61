"""The payload a queued job carries: Laravel's JSON shape, the job's name and its data,
never a pickled object, so a row in ``jobs`` can be read by a person and can never run
code that was not registered."""

from __future__ import annotations

import functools
import json
import json.encoder
import os
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any


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
