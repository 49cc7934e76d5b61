"""Login sessions: a cookie signed with ``APP_KEY`` that names a server-side session.

The cookie (``syncpay_session``; HttpOnly, SameSite=Lax, Secure over https) holds a
session id, the CSRF token and the chosen language, signed with HMAC-SHA256. Anonymous
visitors get a cookie too (for the login form's CSRF token) but no database row; logging
in writes a ``web_sessions`` row, logging out deletes it, and a row past its
``expires_at`` (``SESSION_LIFETIME`` minutes after the last request) no longer counts.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path

from aiohttp import web

from ..accounts import User
from ..config import ConfigError, Settings

COOKIE = "syncpay_session"
#: ``APP_KEY`` generated once here when the setting is empty (SPEC §2).
KEY_FILE = Path("storage") / "app.key"
#: The shortest signing key accepted, in bytes.
MIN_KEY = 16
#: Checked cookies remembered by a `Signer` (cleared when full).
CHECKED_COOKIES = 4096


def app_key(settings: Settings, key_file: Path = KEY_FILE) -> bytes:
    """The secret that signs sessions: ``APP_KEY``, else ``storage/app.key`` (made once,
    readable by its owner only). A key shorter than :data:`MIN_KEY` bytes is refused:
    whoever guesses it can sign a session cookie for any user."""
    if settings.app_key:
        text = settings.app_key
        if text.startswith("base64:"):
            try:
                key = base64.b64decode(text[7:], validate=True)
            except ValueError as exc:
                raise ConfigError("APP_KEY", "the part after base64: is not base64") from exc
            if len(key) < MIN_KEY:
                raise ConfigError(
                    "APP_KEY",
                    f"too short: {len(key)} bytes after base64: (at least {MIN_KEY} bytes; 32 "
                    "random bytes are usual, or leave APP_KEY empty to use storage/app.key)",
                )
            return key
        if len(text.encode()) < MIN_KEY:
            raise ConfigError("APP_KEY", f"too short (at least {MIN_KEY} bytes)")
        return text.encode()
    found: bytes | None
    try:
        found = key_file.read_bytes().strip()
    except FileNotFoundError:
        found = None
    if found is not None:
        if len(found) >= MIN_KEY:
            return found
        if found:
            raise ConfigError(
                "APP_KEY",
                f"{key_file} holds a key of {len(found)} bytes (at least {MIN_KEY}); "
                "delete the file to have a new one made (everyone logs in again)",
            )
        key_file.unlink()  # empty (a full disk, an interrupted first start): a new one
    key_file.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(48).encode()
    fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(key + b"\n")
        fh.flush()
        os.fsync(fh.fileno())
    return key


class Signer:
    """Signs and checks cookie values (HMAC-SHA256 over the payload)."""

    def __init__(self, key: bytes) -> None:
        self._key = hashlib.sha256(b"syncpay-session\0" + key).digest()
        #: Cookies already checked (a page polls with the same cookie twice a second):
        #: value -> its data. Only genuine ones are kept, so forged cookies cannot fill it.
        self._checked: dict[str, dict[str, object]] = {}

    def _mac(self, payload: bytes) -> str:
        digest = hmac.new(self._key, payload, hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).decode().rstrip("=")

    def sign(self, data: dict[str, object]) -> str:
        payload = (
            base64.urlsafe_b64encode(json.dumps(data, separators=(",", ":")).encode())
            .decode()
            .rstrip("=")
        )
        return f"{payload}.{self._mac(payload.encode())}"

    def unsign(self, value: str) -> dict[str, object] | None:
        """The data of a cookie this key signed (a fresh copy), or None."""
        known = self._checked.get(value)
        if known is not None:
            return dict(known)
        data = self._check(value)
        if data is not None:
            if len(self._checked) >= CHECKED_COOKIES:
                self._checked.clear()
            self._checked[value] = dict(data)
        return data

    def _check(self, value: str) -> dict[str, object] | None:
        payload, _, mac = value.partition(".")
        if not payload or not mac or len(value) > 4096:
            return None
        if not hmac.compare_digest(mac, self._mac(payload.encode())):
            return None
        try:
            data = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        except ValueError:
            return None
        return data if isinstance(data, dict) else None


def new_csrf() -> str:
    return secrets.token_urlsafe(32)


def new_session_id() -> str:
    return secrets.token_hex(32)


@dataclass
class Session:
    """The visitor's session, as the handlers see it."""

    csrf: str = field(default_factory=new_csrf)
    sid: str | None = None
    lang: str | None = None
    user: User | None = None
    changed: bool = False

    def to_cookie(self) -> dict[str, object]:
        return {"s": self.sid, "c": self.csrf, "l": self.lang}

    @classmethod
    def from_cookie(cls, data: dict[str, object] | None) -> Session:
        if not data or not isinstance(data.get("c"), str):
            return cls(changed=True)
        sid = data.get("s")
        lang = data.get("l")
        return cls(
            csrf=str(data["c"]),
            sid=sid if isinstance(sid, str) else None,
            lang=lang if isinstance(lang, str) else None,
        )


SESSION = web.RequestKey("session", Session)


def session_of(request: web.Request) -> Session:
    return request[SESSION]


def user_of(request: web.Request) -> User | None:
    return request[SESSION].user


def set_cookie(
    response: web.StreamResponse, request: web.Request, signer: Signer, session: Session
) -> None:
    response.set_cookie(
        COOKIE,
        signer.sign(session.to_cookie()),
        httponly=True,
        samesite="Lax",
        secure=request.secure,
        path="/",
    )
