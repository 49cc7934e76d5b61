"""The accounts that may use the pages and the API: ``user:create``, ``user:scope``,
``user:list``, ``user:delete``, ``user:login-link``, ``token:create``, ``token:list``,
``token:revoke``. A petugas may have a scope (issue #15: units, classes, dormitories,
diniyah levels): they then see and sync only those students."""

from __future__ import annotations

import argparse
import getpass
import sys
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from ..accounts import ROLES, AccountError, Accounts, User
from ..officers import OfficerScope, ScopeFlagError
from .base import CliError, Context, command
from .output import words, words_n

# --- scopes -----------------------------------------------------------------------------


def scope_arguments(parser: argparse.ArgumentParser) -> None:
    """The scope flags, each repeatable: the parts a petugas sees (any of them)."""
    flags = (
        ("--unit", "units", "U", "a unit (UnitFormal), e.g. SMP"),
        ("--kelas", "kelas", "UNIT:KELAS", 'a class of a unit, e.g. "SMP:VII A"'),
        ("--asrama", "asrama", "A", "a dormitory (AsramaPondok)"),
        ("--diniyah", "diniyah", "D", "a diniyah level (TingkatDiniyah)"),
    )
    for flag, dest, metavar, what in flags:
        parser.add_argument(
            flag,
            dest=dest,
            action="append",
            default=[],
            metavar=metavar,
            help=f"{what}; repeatable",
        )


def scope_of(args: argparse.Namespace) -> OfficerScope | None:
    """The scope the flags give (None: none given); a bad value is one line, exit 1."""
    try:
        scope = OfficerScope.parse(args.units, args.kelas, args.asrama, args.diniyah)
    except ScopeFlagError as exc:
        raise CliError(words(exc.key, **exc.values)) from exc
    return None if scope.is_empty else scope


def scope_text(scope: OfficerScope | None) -> str:
    """A scope as the command line writes it, or "all students"."""
    return " ".join(scope.flags()) if scope is not None else words("cli.user.scope_all")


def stored_scope(row: Mapping[str, Any]) -> OfficerScope | None:
    """A users row's scope as it counts (an admin's: none)."""
    return User.from_row(row).sees


# --- users ------------------------------------------------------------------------------


def _user_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("name", metavar="NAME", help="the user's login name")
    parser.add_argument(
        "--role",
        choices=ROLES,
        default=None,
        help="default: petugas (with --update: the user's current role)",
    )
    parser.add_argument(
        "--update",
        action="store_true",
        help="change the password (and --role, and the scope when given) of an existing user",
    )
    scope_arguments(parser)


def read_password(name: str) -> str:
    """From a prompt (twice) on a terminal, else the first line of stdin."""
    if sys.stdin.isatty():
        first = getpass.getpass(words("cli.user.password_prompt", name=name))
        again = getpass.getpass(words("cli.user.password_again"))
        if first != again:
            raise CliError(words("cli.user.passwords_differ"))
        return first
    line = sys.stdin.readline()
    if not line:
        raise CliError(words("cli.user.no_password"))
    return line.rstrip("\r\n")


@command(
    "user:create", "add a user who may log in (password from a prompt or stdin)", _user_arguments
)
async def user_create(ctx: Context) -> int:
    """Add a user: admin may start, cancel and reset syncs; petugas may view every page
    and sync single students. A petugas given a scope (--unit, --kelas UNIT:KELAS,
    --asrama, --diniyah, each repeatable) sees only those students, and may sync them.
    The password is read from a prompt, or from stdin."""
    args = ctx.args
    scope = scope_of(args)
    if scope is not None and args.role == "admin":
        raise CliError(words("cli.user.admin_scope"))
    password = read_password(args.name)
    try:
        user, created = await Accounts(ctx.db).create_user(
            args.name, password, args.role, update=args.update, scope=scope
        )
    except AccountError as exc:
        raise CliError(words(exc.key, **exc.values)) from exc
    done = "cli.user.created" if created else "cli.user.updated"
    ctx.say(words(done, name=user.name, role=user.role))
    if user.scoped:
        ctx.say(words("cli.user.scope", name=user.name, scope=scope_text(user.scope)))
    return 0


def _scope_command_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("name", metavar="NAME", help="the petugas's login name")
    scope_arguments(parser)
    parser.add_argument(
        "--clear", action="store_true", help="no scope: the petugas sees every student"
    )


@command("user:scope", "set (replace) or clear a petugas's scope", _scope_command_arguments)
async def user_scope(ctx: Context) -> int:
    """Replace the scope of a petugas with the one the flags give (--unit, --kelas
    UNIT:KELAS, --asrama, --diniyah, each repeatable), or with --clear remove it (they
    see every student again). Prints the new scope. Their open sessions see it within a
    second."""
    args = ctx.args
    scope = scope_of(args)
    if args.clear == (scope is not None):
        raise CliError(words("cli.user.scope_usage"), 2)
    accounts = Accounts(ctx.db)
    found = await accounts.user(args.name)
    if found is None:
        raise CliError(words("cli.user.not_found", name=args.name))
    if found.is_admin and scope is not None:
        raise CliError(words("cli.user.admin_scope"))
    try:
        user = await accounts.set_scope(found.name, scope)
    except AccountError as exc:
        raise CliError(words(exc.key, **exc.values)) from exc
    ctx.out(words("cli.user.scope", name=user.name, scope=scope_text(user.sees)))
    return 0


@command("user:list", "list the users")
async def user_list(ctx: Context) -> int:
    """List the users who may log in: name, role (admin or petugas), when each was
    created and the scope (the students a petugas sees), one per line, separated by
    tabs."""
    rows = await Accounts(ctx.db).users()
    if not rows:
        ctx.say(words("cli.user.none"))
        return 0
    for row in rows:
        scope = scope_text(stored_scope(row))
        ctx.out(f"{row['name']}\t{row['role']}\t{_when(row['created_at'])}\t{scope}")
    return 0


def _user_name_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("name", metavar="NAME", help="the user's login name")


@command("user:delete", "remove a user (and end their sessions)", _user_name_argument)
async def user_delete(ctx: Context) -> int:
    """Remove a user: they can no longer log in, and the sessions they have open end at
    once."""
    if not await Accounts(ctx.db).delete_user(ctx.args.name):
        raise CliError(words("cli.user.not_found", name=ctx.args.name))
    ctx.say(words("cli.user.deleted", name=ctx.args.name))
    return 0


def _login_link_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("name", metavar="NAME", help="the user the link logs in")


@command("user:login-link", "print a one-time login link for a user", _login_link_arguments)
async def user_login_link(ctx: Context) -> int:
    """Print a link that logs NAME in once, within 24 hours, without a password: for the
    demo's admin after its link or password scrolled away, or a user who forgot the
    password (set a new one with `user:create NAME --update`). The address is
    APP_HOST:APP_PORT; behind a proxy, use the proxy's address with the same path."""
    accounts = Accounts(ctx.db)
    user = await accounts.find_user(ctx.args.name)
    if user is None:
        raise CliError(words("cli.user.not_found", name=ctx.args.name))
    secret = await accounts.create_login_link(str(user["name"]))
    host = ctx.settings.app_host
    host = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    shown = f"[{host}]" if ":" in host else host
    ctx.out(f"http://{shown}:{ctx.settings.app_port}/login/once/{secret}")
    ctx.say(words("cli.user.login_link"))
    return 0


def _token_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("name", metavar="NAME", help="what the token is for, e.g. cron-nightly")
    parser.add_argument("--role", choices=ROLES, default="admin", help="default: admin")
    parser.add_argument(
        "--user",
        metavar="USER",
        default=None,
        help="bind the token to a user: it acts as them, with their current role and scope",
    )


@command(
    "token:create", "print a new API token for scripts (Authorization: Bearer …)", _token_arguments
)
async def token_create(ctx: Context) -> int:
    """Make an API token. It is printed once; only its hash is stored. Scripts send it in
    the header "Authorization: Bearer TOKEN" and need no CSRF token. With --user NAME it
    acts as that user (their role and scope at each use; it stops when they are
    removed)."""
    args = ctx.args
    if args.user is not None and await Accounts(ctx.db).user(args.user) is None:
        raise CliError(words("cli.user.not_found", name=args.user))
    try:
        token = await Accounts(ctx.db).create_token(args.name, args.role, user=args.user)
    except AccountError as exc:
        raise CliError(words(exc.key, **exc.values)) from exc
    ctx.out(token)
    return 0


@command("token:list", "list the API tokens (never their values)")
async def token_list(ctx: Context) -> int:
    """List the API tokens: id, name, role, whether active or revoked (and when), when
    each was last used, and the user a bound token acts as. A token's value is shown
    only once, by token:create."""
    rows = await Accounts(ctx.db).tokens()
    if not rows:
        ctx.say(words("cli.token.none"))
        return 0
    for row in rows:
        revoked = row["revoked_at"]
        state = words("cli.token.revoked_at", when=_when(revoked)) if revoked else None
        state = state or words("cli.token.active")
        used = _when(row["last_used_at"]) if row["last_used_at"] else words("cli.token.never_used")
        line = f"{row['id']}\t{row['name']}\t{row['role']}\t{state}\t{used}"
        if row["user_id"] is not None:
            line += "\t" + words("cli.token.user", name=row["user_name"] or "-")
        ctx.out(line)
    return 0


def _token_name_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "name", metavar="NAME", help="the tokens' name (as given to token:create) or an id"
    )


@command("token:revoke", "revoke the API tokens with that name (or id)", _token_name_argument)
async def token_revoke(ctx: Context) -> int:
    """Revoke the active API tokens with that name, or the one with that id (token:list
    shows both): scripts using them get 401 from then on."""
    count = await Accounts(ctx.db).revoke_token(ctx.args.name)
    if not count:
        raise CliError(words("cli.token.not_found", name=ctx.args.name))
    ctx.say(words_n("cli.token.revoked", count))
    return 0


def _when(epoch: object) -> str:
    if epoch is None:
        return "-"
    return datetime.fromtimestamp(int(str(epoch))).strftime("%Y-%m-%d %H:%M")
