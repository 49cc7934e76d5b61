"""Who may use syncpay's pages and API: users with a role, and API tokens for scripts.

Passwords are hashed with ``hashlib.scrypt`` (:mod:`.passwords`); tokens are random,
shown once, and stored as their SHA-256 (a token is as long as a key, so a plain hash is
enough). A petugas may have a scope (:mod:`.officers`): the students they see.
"""

from __future__ import annotations

import asyncio
import secrets
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from .db import Database, Tx
from .i18n import DEFAULT, catalogs
from .officers import OfficerScope
from .passwords import dummy_hash, hash_password, token_hash, verify_password
from .text import clean

T = TypeVar("T")
ROLES = ("admin", "petugas")

TOKEN_PREFIX = "sp_"
MAX_PASSWORD = 1024
#: scrypt hashes computed at once by one process (each in a thread, off the event loop:
#: ~50 ms of CPU and 16 MiB each); more logins wait their turn, the pages do not.
HASHING = 2
#: Cache key prefix of one-time login links (``--demo`` prints one).
LOGIN_LINK_PREFIX = "syncpay:login-once:"


class AccountError(Exception):
    """A refused account operation: its catalogue ``key`` and ``values``, for the
    command line and the pages to word in their language (as ``SyncError``);
    ``str()`` is the text in the catalogues' default language. Names in ``values``
    are cleaned (controls escaped, cut): they come from the user."""

    def __init__(self, key: str, **values: object) -> None:
        self.key = key
        self.values = {
            k: clean(v, 80) if isinstance(v, str) and k == "name" else v for k, v in values.items()
        }
        super().__init__(catalogs().text(DEFAULT, key, **self.values))


class LastAdmin(AccountError):
    """The change would leave no admin (the page's and the CLI's refusal)."""

    def __init__(self, name: str) -> None:
        self.name = name
        super().__init__("users.err.last_admin", name=name)


async def keep_an_admin(tx: Tx, user_id: int, name: str) -> None:
    """Refuse, inside the transaction that would demote ``user_id``, to leave no admin.
    The admins' rows are read locked (MariaDB: ``FOR UPDATE``; SQLite: one writer at a
    time), so two admins demoting each other at once cannot both pass."""
    admins = {int(r["id"]) for r in await tx.fetch_all("users_admin_ids")}
    if user_id in admins and not admins - {user_id}:
        raise LastAdmin(name)


@dataclass(frozen=True, slots=True)
class User:
    """Someone (or a script's token) acting on the pages or the API."""

    id: int
    name: str
    role: str
    #: "session" for a logged-in person, "token" for a script with a bearer token.
    via: str = "session"
    #: The students a petugas sees (None: every student; an admin's is always None).
    scope: OfficerScope | None = None

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"

    @property
    def scoped(self) -> bool:
        """A petugas who sees only the students of their scope."""
        return self.role != "admin" and self.scope is not None and not self.scope.is_empty

    @property
    def sees(self) -> OfficerScope | None:
        """The scope the read model filters by: None (everyone) unless :attr:`scoped`."""
        return self.scope if self.scoped else None

    @classmethod
    def from_row(cls, row: Mapping[str, Any], via: str = "session") -> User:
        """From a users row (``id``, ``name``, ``role``, ``scope``)."""
        role = str(row["role"])
        return cls(int(row["id"]), str(row["name"]), role, via, _stored_scope(role, row))


def _stored_scope(role: str, row: Mapping[str, Any]) -> OfficerScope | None:
    """A row's scope (an admin has none). A scope syncpay cannot read (written by hand
    in the database) covers nobody: a petugas never sees more than was meant."""
    if role == "admin":
        return None
    try:
        return OfficerScope.from_json(row.get("scope"))
    except (ValueError, TypeError, AttributeError):
        return OfficerScope.nobody()


def check_name(name: str) -> str:
    name = name.strip()
    if not name:
        raise AccountError("accounts.err.name_empty")
    if len(name) > 191:
        raise AccountError("accounts.err.name_long", max=191)
    if any(ch.isspace() or not ch.isprintable() for ch in name):
        raise AccountError("accounts.err.name_chars", name=name)
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
        raise AccountError("users.err.role")
    return role


def check_password(password: str) -> str:
    if len(password) < 8:
        raise AccountError("users.err.password_short", min=8)
    if len(password) > MAX_PASSWORD:
        raise AccountError("users.err.password_long", max=MAX_PASSWORD)
    return password


def scope_json(role: str, scope: OfficerScope | None) -> str | None:
    """A scope as stored (None: every student); refused for an admin, who sees
    everything."""
    if scope is None or scope.is_empty:
        return None
    if role == "admin":
        raise AccountError("cli.user.admin_scope")
    return scope.to_json()


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
        self,
        name: str,
        password: str,
        role: str | None = None,
        *,
        update: bool = False,
        scope: OfficerScope | None = None,
    ) -> tuple[User, bool]:
        """Add a user (role default petugas; ``scope``: the students a petugas sees), or
        with ``update`` change an existing one's password (and its role and scope when
        given). Returns the user and whether it was created."""
        name = check_user_name(name)
        if role is not None:
            check_role(role)
        hashed = await self._off_loop(hash_password, check_password(password))
        existing = await self.find_user(name)
        if existing is not None:
            if not update:
                raise AccountError("accounts.err.exists", name=name)
            name = str(existing["name"])
            role = role or str(existing["role"])
            stored = scope_json(role, scope) if scope is not None else existing.get("scope")
            stored = None if role == "admin" else stored
            user_id = int(existing["id"])

            async def write(tx: Tx) -> None:
                # A new password (a reset after a theft) or role ends every session the
                # user had, in the same transaction: a stolen cookie dies with the old
                # password, and a demoted user does not keep an admin session.
                if role != "admin":
                    await keep_an_admin(tx, user_id, name)
                await tx.execute("user_update", {"name": name, "password": hashed, "role": role})
                await tx.execute("user_set_scope", {"id": user_id, "scope": stored})
                await tx.execute("sessions_delete_user", {"user_id": user_id})

            await self.db.transact(write)
            return User.from_row(
                {"id": user_id, "name": name, "role": role, "scope": stored}
            ), False
        role = role or "petugas"
        stored = scope_json(role, scope)
        for token in await self.tokens():
            unbound = token["user_id"] is None and token["revoked_at"] is None
            if unbound and login_name(str(token["name"])) == name:
                raise AccountError("accounts.err.token_name", name=name)
        user_id = await self.db.insert(
            "user_insert", {"name": name, "password": hashed, "role": role, "scope": stored}
        )
        return User.from_row({"id": user_id, "name": name, "role": role, "scope": stored}), True

    async def user(self, name: str) -> User | None:
        """The user called ``name`` (any form of the name), with role and scope."""
        row = await self.find_user(name)
        return None if row is None else User.from_row(row)

    async def _existing(self, name: str) -> dict[str, Any]:
        row = await self.find_user(name) if check_name_ok(login_name(name)) else None
        if row is None:
            raise AccountError("cli.user.not_found", name=login_name(name))
        return row

    async def set_scope(self, name: str, scope: OfficerScope | None) -> User:
        """Replace a petugas's scope (None or an empty scope: every student). Their
        sessions go on: the next request (within RecentUsers' ttl) sees the new scope."""
        row = await self._existing(name)
        role = str(row["role"])
        stored = scope_json(role, scope)
        await self.db.execute("user_set_scope", {"id": int(row["id"]), "scope": stored})
        return User.from_row(row | {"scope": stored})

    async def set_role(self, name: str, role: str) -> User:
        """Change a user's role, ending their sessions (an admin's scope is cleared)."""
        check_role(role)
        row = await self._existing(name)
        stored = None if role == "admin" else row.get("scope")
        user_id = int(row["id"])

        async def write(tx: Tx) -> None:
            if role != "admin":
                await keep_an_admin(tx, user_id, str(row["name"]))
            await tx.execute("user_set_role", {"id": user_id, "role": role, "scope": stored})
            await tx.execute("sessions_delete_user", {"user_id": user_id})

        await self.db.transact(write)
        return User.from_row(row | {"role": role, "scope": stored})

    async def reset_password(self, name: str, password: str) -> User:
        """A new password, ending the user's sessions."""
        hashed = await self._off_loop(hash_password, check_password(password))
        row = await self._existing(name)
        user_id = int(row["id"])

        async def write(tx: Tx) -> None:
            await tx.execute("user_set_password", {"id": user_id, "password": hashed})
            await tx.execute("sessions_delete_user", {"user_id": user_id})

        await self.db.transact(write)
        return User.from_row(row)

    async def authenticate(self, name: str, password: str) -> User | None:
        """The user when ``password`` is theirs, else None (same cost either way)."""
        key = login_name(name[:191])
        row = await self.find_user(key) if check_name_ok(key) else None
        if row is None:
            await self._off_loop(_verify_unknown, password[:MAX_PASSWORD])
            return None
        if not await self._off_loop(verify_password, password[:MAX_PASSWORD], str(row["password"])):
            return None
        return User.from_row(row)

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
        """Every user's row: id, name, role, scope (JSON text or None), created_at."""
        return await self.db.fetch_all("users_all")

    async def delete_user(self, name: str) -> bool:
        row = await self.find_user(name)
        if row is None:
            return False
        await self.db.execute("sessions_delete_user", {"user_id": int(row["id"])})
        return bool(await self.db.execute("user_delete", {"name": str(row["name"])}))

    # --- tokens -------------------------------------------------------------------------

    async def create_token(self, name: str, role: str = "admin", user: str | None = None) -> str:
        """A new API token (shown once; only its hash is kept). With ``user``, the token
        is bound to that user: it acts with the user's current role and scope (its own
        role is stored as the user's at creation, for the list)."""
        name, role = check_name(name), check_role(role)
        user_id = None
        if user is not None:
            row = await self._existing(user)
            user_id, role = int(row["id"]), str(row["role"])
        elif check_name_ok(login_name(name)) and await self.find_user(name) is not None:
            # Its runs would read as that user's ("started by"): a scoped petugas sees
            # and cancels the runs started under their name.
            raise AccountError("accounts.err.user_name", name=name)
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        await self.db.insert(
            "token_insert",
            {"name": name, "role": role, "token_hash": token_hash(token), "user_id": user_id},
        )
        return token

    async def token_user(self, token: str) -> User | None:
        if not token.startswith(TOKEN_PREFIX) or len(token) > 200:
            return None
        row = await self.db.fetch_one("token_by_hash", {"token_hash": token_hash(token)})
        if row is None:
            return None
        await self.db.execute("token_touch", {"id": int(row["id"])})
        if row["user_id"] is None:
            return User(int(row["id"]), str(row["name"]), str(row["role"]), via="token")
        if row["user_name"] is None:
            return None  # its user was removed
        user = {"id": row["user_id"], "name": row["user_name"], "role": row["user_role"]}
        return User.from_row(user | {"scope": row["user_scope"]}, via="token")

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
        return User.from_row(row)


def _verify_unknown(password: str) -> bool:
    """A login of an unknown name: as costly as a wrong password (in the login's thread)."""
    return verify_password(password, dummy_hash())
