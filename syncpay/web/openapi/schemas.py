"""The OpenAPI document's named schemas (``#/components/schemas/…``): what each JSON answer
carries, field by field."""

from __future__ import annotations

from typing import Any

from ...students.filters import (
    COUNT_CAP,
    MAX_PAGE,
    PER_PAGE,
    STATUSES,
)
from ...students.history import HISTORY_LIMIT
from ...sync.progress import SPEC_PROGRESS_FIELDS
from ..routes.sync_input import (
    MAX_IDS,
)
from .parts import (
    AMOUNT,
    CHANGES,
    COUNT,
    IDPERSON,
    INT,
    MOMENT,
    NAME,
    NAMOUNT,
    NINT,
    NSTR,
    RUN_STATUS,
    STATE,
    STR,
    object_of,
    totals_of,
)

SCHEMAS: dict[str, Any] = {
    "Error": {
        "type": "object",
        "required": ["status", "message"],
        "properties": {"status": {"type": "boolean", "enum": [False]}, "message": STR},
    },
    "Ok": {
        "type": "object",
        "required": ["status"],
        "properties": {
            "status": {"type": "boolean", "enum": [True]},
            "message": STR,
            "run_id": NINT,
        },
    },
    "Scope": {
        "type": "object",
        "description": "No field: every student. A list of students excludes unit and class.",
        "properties": {
            "unit": NAME,
            "kelas": NAME,
            "idperson": {
                "nullable": True,
                "oneOf": [
                    IDPERSON,
                    {"type": "array", "items": IDPERSON, "minItems": 1, "maxItems": MAX_IDS},
                ],
            },
        },
        # Students, or a unit / class: not both (null counts as not given).
        "not": {
            "anyOf": [
                {
                    "required": ["idperson", other],
                    "properties": {
                        "idperson": {"anyOf": [STR, {"type": "array"}]},
                        other: STR,
                    },
                }
                for other in ("unit", "kelas")
            ]
        },
    },
    "LogLine": {
        "type": "object",
        "required": ["id", "at", "level", "message", "key", "values"],
        "properties": {
            "id": INT,
            "at": NSTR,
            "level": STR,
            "message": {**STR, "description": "the line in Indonesian"},
            "key": {
                **NSTR,
                "description": "the line's template: the message catalogue's js.log.<key>"
                " (filled with values, in the page's language); null for a line written"
                " before keys were stored, which is shown as its message",
            },
            "values": {
                "type": "object",
                "nullable": True,
                "additionalProperties": True,
                "description": "the values of the template's {placeholders} (a student's"
                " name, an error, counts …); null when key is null",
            },
        },
    },
    "Progress": {
        "type": "object",
        "required": list(SPEC_PROGRESS_FIELDS),
        "properties": {
            "total": INT,
            "processed": INT,
            "failed": INT,
            "successCount": INT,
            "unchanged": INT,
            "percent": {"type": "number", "minimum": 0, "maximum": 100},
            "isRunning": {"type": "boolean"},
            "status": RUN_STATUS,
            "run_id": NINT,
            "scope": NSTR,
            "scope_detail": {
                "type": "object",
                "nullable": True,
                "description": "the run's scope, for a page to word in its language",
                "properties": {
                    "kind": {
                        "type": "string",
                        "enum": ["all", "unit", "kelas", "one", "list", "officer"],
                    },
                    "unit": NSTR,
                    "kelas": NSTR,
                    "idperson": NSTR,
                    "students": NINT,
                    "officer": {
                        "type": "string",
                        "description": "kind officer: the scoped petugas whose students it runs",
                    },
                    "parts": {
                        "type": "object",
                        "description": "kind officer: the officer's scope",
                        "properties": {
                            "units": {"type": "array", "items": {"type": "string"}},
                            "kelas": {
                                "type": "array",
                                "items": {
                                    "type": "object",
                                    "properties": {
                                        "unit": {"type": "string"},
                                        "kelas": {"type": "string"},
                                    },
                                },
                            },
                            "asrama": {"type": "array", "items": {"type": "string"}},
                            "diniyah": {"type": "array", "items": {"type": "string"}},
                        },
                    },
                },
            },
            "started_at": NSTR,
            "finished_at": NSTR,
            "started_by": NSTR,
            "elapsed_seconds": NINT,
            "eta_seconds": NINT,
            "rate_per_second": {"type": "number"},
            "waiting_for_worker": {
                "type": "boolean",
                "description": "the run is running but no worker pool (server or `syncpay"
                " work`, on any machine) has served its queue for a few seconds: nothing"
                " works it until one starts",
            },
            "retry_waiting": {
                **INT,
                "description": "the run's students waiting out a backoff (or a Retry-After)"
                " before their next try (looked up while eta_seconds is null or under 300;"
                " 0 otherwise)",
            },
            "next_retry_seconds": {
                **NINT,
                "description": "seconds until the first of them is due (null: none"
                " waits); the run cannot end sooner, whatever eta_seconds says",
            },
            "logs": {"type": "array", "items": {"$ref": "#/components/schemas/LogLine"}},
            "changes": CHANGES,
        },
    },
    "Health": {
        "type": "object",
        "required": ["status", "database", "workers"],
        "properties": {
            "status": STR,
            "database": STR,
            "workers": {"type": "object"},
            "backup": {
                "type": "object",
                "description": "the last successful backup: when (UTC) and its age; nulls "
                "when none is known",
                "properties": {
                    "last_at": {"type": "string", "format": "date-time", "nullable": True},
                    "age_seconds": {"type": "integer", "nullable": True},
                },
            },
        },
    },
    "Data": {
        "type": "object",
        "required": ["status"],
        "properties": {"status": {"type": "boolean", "enum": [True]}},
        "additionalProperties": True,
    },
    "StudentRow": object_of(
        {
            "idperson": STR,
            "nama": STR,
            "unit": NSTR,
            "kelas": NSTR,
            "total_tunggakan": {**NAMOUNT, "description": "arrears; null: never synced"},
            "status": STATE,
            "synced_at": {**MOMENT, "description": "last sync (UTC); null: never"},
            "sync_error": {**NSTR, "description": "why the last sync failed; null: it did not"},
            "url": {**STR, "description": "the student's path on this server"},
        }
    ),
    "StudentList": object_of(
        {
            "status": {"type": "boolean", "enum": [True]},
            "data": {
                "type": "array",
                "items": {"$ref": "#/components/schemas/StudentRow"},
                "maxItems": PER_PAGE,
            },
            "page": {"type": "integer", "minimum": 1, "maximum": MAX_PAGE},
            "per_page": {"type": "integer", "enum": [PER_PAGE]},
            "has_next": {"type": "boolean"},
            "total": {
                "type": "integer",
                "minimum": 0,
                "description": (
                    f"students matching; absent when more than {COUNT_CAP} match "
                    "(counting stops there) and this is not the last page"
                ),
            },
        },
        "total",
    ),
    "PaymentItem": object_of(
        {
            "title": STR,
            "category": {**STR, "description": "empty when the source names none"},
            "due": {"type": "string", "format": "date", "nullable": True},
            "is_due": {
                "type": "boolean",
                "description": "counts in the totals today (due today or earlier, or no date)",
            },
            "tagihan": {**AMOUNT, "description": "the bill"},
            "dibayar": {**AMOUNT, "description": "paid"},
        }
    ),
    "PaymentGroup": object_of(
        {
            "period": {**STR, "description": "the source's period, e.g. 20242025; may be empty"},
            "label": STR,
            "totals": totals_of(AMOUNT, "over the period's items already due"),
            "not_due": {"type": "integer", "minimum": 0, "description": "items not due yet"},
            "items": {"type": "array", "items": {"$ref": "#/components/schemas/PaymentItem"}},
        }
    ),
    "StudentDetail": object_of(
        {
            "status": {"type": "boolean", "enum": [True]},
            "data": object_of(
                {
                    "idperson": STR,
                    "nama": STR,
                    "gender": {"type": "string", "enum": ["L", "P"], "nullable": True},
                    "unit": NSTR,
                    "kelas": NSTR,
                    "asrama": NSTR,
                    "kamar": NSTR,
                    "tingkat_diniyah": NSTR,
                    "kelas_diniyah": NSTR,
                    "status": STATE,
                    "synced_at": {**MOMENT, "description": "last sync (UTC); null: never"},
                    "sync_error": NSTR,
                    "totals": totals_of(NAMOUNT, "as stored by the last sync; null: never synced"),
                    "parse_error": {
                        **NSTR,
                        "description": "why the stored answer could not be read (then no groups)",
                    },
                    "groups": {
                        "type": "array",
                        "description": "payment items by period, newest period first",
                        "items": {"$ref": "#/components/schemas/PaymentGroup"},
                    },
                    "history": {
                        "type": "array",
                        "description": "each sync that changed the totals or state, newest first",
                        "maxItems": HISTORY_LIMIT,
                        "items": object_of(
                            {
                                "changed_at": {"type": "string", "format": "date-time"},
                                "run_id": {"type": "integer", "nullable": True},
                                "run_kept": {
                                    "type": "boolean",
                                    "description": "false: the run has been pruned since",
                                },
                                "tunggakan_before": NAMOUNT,
                                "tunggakan_after": AMOUNT,
                                "kelebihan_before": NAMOUNT,
                                "kelebihan_after": AMOUNT,
                                "status_before": STATE,
                                "status_after": STATE,
                            },
                            description="*_before null: never synced before",
                        ),
                    },
                    "history_more": {
                        "type": "boolean",
                        "description": "older history lines exist that are not listed",
                    },
                    "run": object_of(
                        {
                            "run_id": {"type": "integer", "minimum": 1},
                            "status": {
                                "type": "string",
                                "enum": ["running", "completed", "cancelled"],
                            },
                            "total": COUNT,
                            "processed": COUNT,
                            "failed": COUNT,
                        },
                        description="only with ?run_id=: that run's state",
                    ),
                },
                "run",
            ),
        }
    ),
}

#: The report (``/admin/laporan``): a group is a class, a unit or the total.
_REPORT_GROUP = {
    "unit": {**NSTR, "description": "null: the total of the whole school, or no unit"},
    "kelas": {**NSTR, "description": "a class; null for a unit or a total"},
    "students": COUNT,
    **{state: COUNT for state in STATUSES},
    "lunas_rate": {
        "type": "number",
        "minimum": 0,
        "maximum": 1,
        "nullable": True,
        "description": "lunas / (lunas + belum_lunas); null: none of them synced",
    },
    **{
        f"total_{name}": {**NAMOUNT, "description": "summed; null: none of them synced"}
        for name in ("tagihan", "dibayar", "tunggakan", "kelebihan")
    },
    "synced_oldest": {**MOMENT, "description": "the group's oldest last sync (UTC)"},
    "synced_newest": {**MOMENT, "description": "the group's newest last sync (UTC)"},
}
SCHEMAS["ReportGroup"] = object_of(
    _REPORT_GROUP, description="counts and the sums of the totals stored by the last syncs"
)
SCHEMAS["Report"] = object_of(
    {
        "status": {"type": "boolean", "enum": [True]},
        "unit": {**NSTR, "description": "the unit asked for (?unit=); null: the whole school"},
        "total": {"$ref": "#/components/schemas/ReportGroup"},
        "units": {
            "type": "array",
            "items": object_of(
                {
                    **_REPORT_GROUP,
                    "classes": {
                        "type": "array",
                        "items": {"$ref": "#/components/schemas/ReportGroup"},
                    },
                }
            ),
        },
    }
)
