"""Which students a run covers: all, a unit, a class (of a unit), a list of ids, or an
officer's scope (issue #15: a scoped petugas's own students, ``kind`` "officer")."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from ..i18n import DEFAULT, catalogs
from ..officers import OfficerScope


class ScopeError(ValueError):
    """A scope that cannot be run: its catalogue ``key`` (``sync.err.*``, no values);
    ``message`` and ``str()`` are its text in the default language."""

    def __init__(self, key: str) -> None:
        self.key = key
        self.values: dict[str, Any] = {}
        self.message = catalogs().text(DEFAULT, key)
        super().__init__(self.message)


@dataclass(frozen=True, slots=True)
class Scope:
    unit: str | None = None
    kelas: str | None = None
    idpersons: tuple[str, ...] | None = None
    _ids: frozenset[str] = field(default=frozenset(), compare=False, repr=False)
    #: An officer's scope (the students of a scoped petugas) and whose it is.
    officer: OfficerScope | None = None
    officer_name: str | None = None

    def __post_init__(self) -> None:
        if self.officer is not None:
            if self.officer.is_empty:
                raise ScopeError("sync.err.empty_scope")
            if self.unit is not None or self.kelas is not None or self.idpersons is not None:
                raise ScopeError("sync.err.both_scopes")
        if self.idpersons is not None:
            # Upper case, as the roster stores them (MySQL compares ids case-blind).
            ids = tuple(sorted({str(i).strip().upper() for i in self.idpersons if str(i).strip()}))
            if not ids:
                raise ScopeError("sync.err.empty_list")
            if self.unit is not None or self.kelas is not None:
                raise ScopeError("sync.err.both_scopes")
            object.__setattr__(self, "idpersons", ids)
            object.__setattr__(self, "_ids", frozenset(ids))
        for name in ("unit", "kelas"):
            value = getattr(self, name)
            if value is not None:
                value = str(value).strip()
                object.__setattr__(self, name, value or None)

    @property
    def kind(self) -> str:
        if self.officer is not None:
            return "officer"
        if self.idpersons is not None:
            return "one" if len(self.idpersons) == 1 else "list"
        if self.kelas is not None:
            return "kelas"
        if self.unit is not None:
            return "unit"
        return "all"

    @property
    def is_all(self) -> bool:
        return self.kind == "all"

    def label(self) -> str:
        """For the page and the log (Indonesian, as the page speaks)."""
        if self.officer is not None:
            return f"Siswa petugas {self.officer_name or '-'}"[:191]
        if self.idpersons is not None:
            if len(self.idpersons) == 1:
                return f"Siswa {self.idpersons[0]}"
            return f"{len(self.idpersons)} siswa terpilih"
        if self.kelas is not None:
            return f"Kelas {self.kelas}" + (f" ({self.unit})" if self.unit else "")
        if self.unit is not None:
            return f"Unit {self.unit}"
        return "Semua siswa"

    def detail(self) -> dict[str, Any]:
        """What a page needs to word the scope in its own language (``label`` is the
        Indonesian wording, kept with the run): the kind, and its unit, class, the one
        student or the number of students."""
        ids = self.idpersons
        detail: dict[str, Any] = {
            "kind": self.kind,
            "unit": self.unit,
            "kelas": self.kelas,
            "idperson": ids[0] if ids is not None and len(ids) == 1 else None,
            "students": len(ids) if ids is not None else None,
        }
        if self.officer is not None:
            detail |= {"officer": self.officer_name, "parts": self.officer.to_dict()}
        return detail

    def covers(self, student: dict[str, Any]) -> bool:
        """Whether this scope includes ``student`` (a siswa row)."""
        if self.officer is not None:
            return self.officer.covers(student)
        if self.idpersons is not None:
            return str(student["idperson"]) in self._ids
        if self.unit is not None and student.get("UnitFormal") != self.unit:
            return False
        return self.kelas is None or student.get("KelasFormal") == self.kelas

    def to_json(self) -> str:
        data: dict[str, Any] = {"unit": self.unit, "kelas": self.kelas, "idpersons": self.idpersons}
        if self.officer is not None:
            data |= {"officer": json.loads(self.officer.to_json()), "by": self.officer_name}
        return json.dumps(data, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> Scope:
        data = json.loads(text)
        ids = data.get("idpersons")
        if data.get("officer") is not None:
            officer = OfficerScope.from_json(json.dumps(data["officer"]))
            return cls(officer=officer or OfficerScope.nobody(), officer_name=data.get("by"))
        return cls(data.get("unit"), data.get("kelas"), tuple(ids) if ids is not None else None)
