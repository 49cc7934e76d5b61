"""Who may use syncpay's pages and API: users with a role, and API tokens for scripts.

Passwords are hashed with ``hashlib.scrypt`` (a random salt per password, the cost in
the stored string so it can be raised later); tokens are random, shown once, and stored
as their SHA-256 (a token is as long as a key, so a plain hash is enough).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import secrets
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from .db import Database, Tx

T = TypeVar("T")
ROLES = ("admin", "petugas")

#: scrypt cost: n=2**14, r=8, p=1 takes ~50 ms and 16 MiB — slow for a guesser, fine
#: for a login.
_SCRYPT_N, _SCRYPT_R, _SCRYPT_P = 2**14, 8, 1
_SCHEME = "scrypt"
TOKEN_PREFIX = "sp_"
MAX_PASSWORD = 1024
#: scrypt hashes computed at once by one process (each in a thread, off the event loop:
#: ~50 ms of CPU and 16 MiB each); more logins wait their turn, the pages do not.
HASHING = 2
#: Cache key prefix of one-time login links (``--demo`` prints one).
LOGIN_LINK_PREFIX = "syncpay:login-once:"


class AccountError(Exception):
    """A refused account operation, as one line for the user."""


@dataclass(frozen=True, slots=True)
class User:
    """Someone (or a script's token) acting on the pages or the API."""

    id: int
    name: str
    role: str
    #: "session" for a logged-in person, "token" for a script with a bearer token.
    via: str = "session"

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def hash_password(password: str) -> str:
    """``scrypt$n$r$p$salt$hash``."""
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(
        password.encode(), salt=salt, n=_SCRYPT_N, r=_SCRYPT_R, p=_SCRYPT_P, dklen=32
    )
    return f"{_SCHEME}${_SCRYPT_N}${_SCRYPT_R}${_SCRYPT_P}${_b64(salt)}${_b64(digest)}"


def verify_password(password: str, stored: str) -> bool:
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != _SCHEME:
            return False
        expected = _unb64(digest)
        actual = hashlib.scrypt(
            password.encode(),
            salt=_unb64(salt),
            n=int(n),
            r=int(r),
            p=int(p),
            dklen=len(expected),
            maxmem=256 * 1024 * 1024,
        )
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(actual, expected)


#: Compared against when the user does not exist, so a wrong name costs as much time as
#: a wrong password.
_DUMMY_HASH = hash_password(secrets.token_hex(8))


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def check_name(name: str) -> str:
    name = name.strip()
    if not name:
        raise AccountError("the name is empty")
    if len(name) > 191:
        raise AccountError("the name is longer than 191 characters")
    if any(ch.isspace() or not ch.isprintable() for ch in name):
        raise AccountError(f"{name!r}: a name may not contain spaces or control characters")
    return name


def login_name(name: str) -> str:
    """The one form a user name is stored, looked up and throttled in: trimmed, NFKC,
    case-folded. ``ADMIN``, fullwidth ``ａｄｍｉｎ`` and ``admin`` are one name; ``Ádmin``
    is another. Names are compared exactly in this form (never by a database collation,
    which would also match accents, ignorable characters and trailing spaces)."""
    folded = unicodedata.normalize("NFKC", name.strip()).casefold()
    return unicodedata.normalize("NFKC", folded)


def check_user_name(name: str) -> str:
    """A user's name in its stored form; refused when it has spaces or invisible
    characters (a zero-width space, a soft hyphen: they would make look-alike names)."""
    return check_name(login_name(name))


def check_name_ok(name: str) -> bool:
    try:
        check_name(name)
    except AccountError:
        return False
    return True


def check_role(role: str) -> str:
    if role not in ROLES:
        raise AccountError(f"{role!r} is not a role (admin or petugas)")
    return role


def check_password(password: str) -> str:
    if len(password) < 8:
        raise AccountError("the password must have at least 8 characters")
    if len(password) > MAX_PASSWORD:
        raise AccountError(f"the password is longer than {MAX_PASSWORD} characters")
    return password


class Accounts:
    """Users and tokens in one database."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self._hashing = asyncio.Semaphore(HASHING)

    async def _off_loop(self, fn: Callable[..., T], *args: Any) -> T:
        """Run a password hash in a thread, at most :data:`HASHING` at a time."""
        async with self._hashing:
            return await asyncio.get_running_loop().run_in_executor(None, fn, *args)

    # --- users --------------------------------------------------------------------------

    async def create_user(
        self, name: str, password: str, role: str | None = None, *, update: bool = False
    ) -> tuple[User, bool]:
        """Add a user (role default petugas), or with ``update`` change an existing one's
        password (and its role when given). Returns the user and whether it was created."""
        name = check_user_name(name)
        if role is not None:
            check_role(role)
        hashed = await self._off_loop(hash_password, check_password(password))
        existing = await self.find_user(name)
        if existing is not None:
            if not update:
                raise AccountError(f"user {name!r} exists already (--update changes it)")
            name = str(existing["name"])
            role = role or str(existing["role"])
            user_id = int(existing["id"])

            async def write(tx: Tx) -> None:
                # A new password (a reset after a theft) or role ends every session the
                # user had, in the same transaction: a stolen cookie dies with the old
                # password, and a demoted user does not keep an admin session.
                await tx.execute("user_update", {"name": name, "password": hashed, "role": role})
                await tx.execute("sessions_delete_user", {"user_id": user_id})

            await self.db.transact(write)
            return User(user_id, name, role), False
        role = role or "petugas"
        user_id = await self.db.insert(
            "user_insert", {"name": name, "password": hashed, "role": role}
        )
        return User(int(user_id), name, role), True

    async def authenticate(self, name: str, password: str) -> User | None:
        """The user when ``password`` is theirs, else None (same cost either way)."""
        key = login_name(name[:191])
        row = await self.find_user(key) if check_name_ok(key) else None
        if row is None:
            await self._off_loop(verify_password, password[:MAX_PASSWORD], _DUMMY_HASH)
            return None
        if not await self._off_loop(verify_password, password[:MAX_PASSWORD], str(row["password"])):
            return None
        return User(int(row["id"]), str(row["name"]), str(row["role"]))

    async def find_user(self, name: str) -> dict[str, Any] | None:
        """The user row whose name is ``name`` in its stored form (exact comparison). A
        name stored by an older version in another form (migration 0013 lower-cased
        what SQL can) is found by comparing every name's form."""
        key = login_name(name)
        row = await self.db.fetch_one("user_by_name", {"name": key})
        if row is not None:
            return row
        for other in await self.db.fetch_all("users_all"):
            if login_name(str(other["name"])) == key:
                return await self.db.fetch_one("user_by_id", {"id": int(other["id"])})
        return None

    async def users(self) -> list[dict[str, Any]]:
        return await self.db.fetch_all("users_all")

    async def delete_user(self, name: str) -> bool:
        row = await self.find_user(name)
        if row is None:
            return False
        await self.db.execute("sessions_delete_user", {"user_id": int(row["id"])})
        return bool(await self.db.execute("user_delete", {"name": str(row["name"])}))

    # --- tokens -------------------------------------------------------------------------

    async def create_token(self, name: str, role: str = "admin") -> str:
        """A new API token (shown once; only its hash is kept)."""
        name, role = check_name(name), check_role(role)
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        await self.db.insert(
            "token_insert", {"name": name, "role": role, "token_hash": token_hash(token)}
        )
        return token

    async def token_user(self, token: str) -> User | None:
        if not token.startswith(TOKEN_PREFIX) or len(token) > 200:
            return None
        row = await self.db.fetch_one("token_by_hash", {"token_hash": token_hash(token)})
        if row is None:
            return None
        await self.db.execute("token_touch", {"id": int(row["id"])})
        return User(int(row["id"]), str(row["name"]), str(row["role"]), via="token")

    async def revoke_token(self, name_or_id: str) -> int:
        """Revoke the tokens with that name (or that id); how many were revoked."""
        return await self.db.execute("token_revoke", {"name": name_or_id})

    async def tokens(self) -> list[dict[str, Any]]:
        return await self.db.fetch_all("tokens_all")

    # --- one-time login links -----------------------------------------------------------

    async def create_login_link(self, name: str, ttl: int = 86400) -> str:
        """A secret for ``/login/once/<secret>``: logs ``name`` in once, within ``ttl`` s.
        The user's earlier links stop working (a new ``--demo`` start or
        ``user:login-link`` replaces the one printed before)."""
        secret = secrets.token_urlsafe(24)
        name = login_name(name)

        async def replace(tx: Tx) -> None:
            await tx.execute(
                "login_links_forget", {"prefix": LOGIN_LINK_PREFIX + "%", "name": name}
            )
            await tx.execute(
                "cache_put",
                {"key": LOGIN_LINK_PREFIX + token_hash(secret), "value": name, "ttl": ttl},
            )

        await self.db.transact(replace)
        return secret

    async def use_login_link(self, secret: str) -> User | None:
        """The user the link was made for, once (a second use finds nothing)."""
        if len(secret) > 100:
            return None
        key = LOGIN_LINK_PREFIX + token_hash(secret)
        name = await self.db.fetch_value("cache_get", {"key": key})
        if name is None or not await self.db.execute("cache_forget", {"key": key}):
            return None  # unknown, expired, or used by someone a moment ago
        row = await self.find_user(str(name))
        if row is None:
            return None
        return User(int(row["id"]), str(row["name"]), str(row["role"]))
