"""The OpenAPI document's part for the users page (``/admin/users``, admins only): its
paths and named schemas, with the limits :mod:`..routes.users` checks."""

from __future__ import annotations

from typing import Any

from ...accounts import MAX_PASSWORD, ROLES
from ...officers import MAX_PARTS, MAX_VALUE
from ..routes.users import BASE, MAX_NAME
from ..views.users import MIN_PASSWORD
from .parts import MOMENT, PRINTABLE, STR, json_content, object_of, operation

__all__ = ["USER_PATHS", "USER_SCHEMAS"]

_ROLE = {"type": "string", "enum": list(ROLES)}
#: One value of a scope: not blank, no control character, at most MAX_VALUE characters.
_VALUE = {
    "type": "string",
    "minLength": 1,
    "maxLength": MAX_VALUE,
    "pattern": f"^{PRINTABLE}[^\\s\\x00-\\x1f\\x7f-\\x9f]{PRINTABLE}$",
}
#: Text without a control (C0, DEL, C1) or a bidi control character (refused, 422).
_NO_CONTROL = "[^\\x00-\\x1f\\x7f-\\x9f\\u202a-\\u202e\\u2066-\\u2069]*"
_NO_COLON = "[^:\\x00-\\x1f\\x7f-\\x9f]*"
_KELAS_TEXT = {
    **_VALUE,
    # The unit (before the first ':') and the class each have a character not a space.
    "pattern": f"^{_NO_COLON}[^\\s:\\x00-\\x1f\\x7f-\\x9f]{_NO_COLON}:"
    f"{PRINTABLE}[^\\s\\x00-\\x1f\\x7f-\\x9f]{PRINTABLE}$",
    "description": "UNIT:KELAS (split at the first ':'); a longer one as {unit, kelas}",
}
_PAIR = object_of({"unit": _VALUE, "kelas": _VALUE})


def _values(item: dict[str, Any], description: str) -> dict[str, Any]:
    """A scope field: one value, or a list of them (null: none)."""
    return {
        "nullable": True,
        "description": description,
        "oneOf": [item, {"type": "array", "items": item, "maxItems": MAX_PARTS}],
    }


#: The path's user: a name as stored (no spaces); any other is no user (404).
_NAME = {
    "name": "name",
    "in": "path",
    "required": True,
    "schema": {"type": "string", "minLength": 1, "maxLength": MAX_NAME},
    "description": "the user's name",
}
_SCOPE_PARTS = {
    "units": {"type": "array", "items": STR},
    "kelas": {"type": "array", "items": object_of({"unit": STR, "kelas": STR})},
    "asrama": {"type": "array", "items": STR},
    "diniyah": {"type": "array", "items": STR},
}

USER_SCHEMAS: dict[str, Any] = {
    "User": object_of(
        {
            "name": STR,
            "role": _ROLE,
            "scope": {
                **object_of(_SCOPE_PARTS),
                "nullable": True,
                "description": "the students a petugas sees: any unit, class, dormitory or"
                " diniyah level named; null: every student (always for an admin)",
            },
            "created_at": MOMENT,
        }
    ),
    "UserList": object_of(
        {
            "status": {"type": "boolean", "enum": [True]},
            "data": {"type": "array", "items": {"$ref": "#/components/schemas/User"}},
        }
    ),
    "UserChanged": object_of(
        {
            "status": {"type": "boolean", "enum": [True]},
            "message": STR,
            "user": {"$ref": "#/components/schemas/User"},
        }
    ),
    "RoleBody": {
        "type": "object",
        "required": ["role"],
        "properties": {"role": _ROLE},
    },
    "ScopeBody": {
        "type": "object",
        "description": "The scope becomes exactly these parts (a student in any of them is"
        " seen); none: every student. Another field is refused.",
        "additionalProperties": False,
        "properties": {
            "units": _values(_VALUE, "whole units (UnitFormal)"),
            "kelas": _values({"oneOf": [_KELAS_TEXT, _PAIR]}, "classes of a unit"),
            "asrama": _values(_VALUE, "dormitories (AsramaPondok)"),
            "diniyah": _values(_VALUE, "diniyah levels (TingkatDiniyah)"),
        },
    },
    "PasswordBody": {
        "type": "object",
        "required": ["password"],
        "properties": {
            "password": {
                "type": "string",
                "minLength": MIN_PASSWORD,
                "maxLength": MAX_PASSWORD,
                "pattern": f"^{_NO_CONTROL}$",
                "description": "no control or bidi control character",
            },
        },
    },
}

_CHANGED = json_content({"$ref": "#/components/schemas/UserChanged"}, "the user as it now is")


def _action(
    summary: str, body: str, errors: tuple[int, ...], *, required: bool = True
) -> dict[str, Any]:
    spec = operation(
        summary,
        _CHANGED,
        errors,
        parameters=[_NAME],
        body={"$ref": f"#/components/schemas/{body}"},
        description="Admins only. A form (the page's, with its CSRF `_token`) is sent back"
        " to the page instead.",
    )
    spec["requestBody"]["required"] = required
    return {"post": spec}


USER_PATHS: dict[str, Any] = {
    BASE: {
        "get": operation(
            "The users with their roles and scopes (admin)",
            json_content({"$ref": "#/components/schemas/UserList"}, "the users, by name"),
            (401, 403),
            description="JSON for a bearer token or `Accept: application/json`; a browser"
            " gets the HTML page.",
        )
    },
    f"{BASE}/{{name}}/role": _action(
        "Set a user's role (admin); their sessions end. The last admin stays one (409)",
        "RoleBody",
        (401, 403, 404, 409, 419, 422),
    ),
    f"{BASE}/{{name}}/scope": _action(
        "Set a petugas's scope (admin); an admin's is refused (409)",
        "ScopeBody",
        (401, 403, 404, 409, 419, 422),
        required=False,  # no body: no part, every student
    ),
    f"{BASE}/{{name}}/password": _action(
        "Reset a user's password (admin); their sessions end",
        "PasswordBody",
        (401, 403, 404, 419, 422),
    ),
}
