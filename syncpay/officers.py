"""An officer's scope (issue #15): which students a ``petugas`` sees and may sync.

A scope is a union of parts: whole units (``UnitFormal``), classes of a unit
(``UnitFormal`` + ``KelasFormal``), dormitories (``AsramaPondok``) and diniyah levels
(``TingkatDiniyah``). A student is covered when any part names them. No scope (``None``)
means every student; an empty scope is stored as no scope. The values are compared
exactly as the roster stores them (MySQL compares them as its collation does, without
case, as the list's unit and class filters do).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from .i18n import DEFAULT, catalogs

__all__ = [
    "MAX_PARTS",
    "MAX_VALUE",
    "PAIR_SEPARATOR",
    "OfficerScope",
    "ScopeFlagError",
    "scope_params",
]

#: The longest value (the roster's columns are VARCHAR(100)).
MAX_VALUE = 100
#: At most this many parts in one scope (units + classes + dormitories + levels).
MAX_PARTS = 200
#: Between a class's unit and its name in the SQL that compares pairs (a control
#: character: no value holds one).
PAIR_SEPARATOR = "\x1f"


class ScopeFlagError(ValueError):
    """A scope value that cannot be used: its catalogue ``key`` (``scope.err.*``) and
    ``values``; ``message`` and ``str()`` are its text in the default language."""

    def __init__(self, key: str, **values: Any) -> None:
        self.key = key
        self.values: dict[str, Any] = values
        self.message = catalogs().text(DEFAULT, key, **values)
        super().__init__(self.message)


def _value(flag: str, raw: object) -> str:
    text = str(raw).strip()
    if not text:
        raise ScopeFlagError("scope.err.empty", flag=flag)
    if len(text) > MAX_VALUE:
        raise ScopeFlagError("scope.err.long", flag=flag, value=text[:20] + "…", max=MAX_VALUE)
    if not text.isprintable():
        raise ScopeFlagError("scope.err.unprintable", flag=flag, value=ascii(text)[1:-1][:40])
    return text


def _values(flag: str, raw: Iterable[object]) -> tuple[str, ...]:
    return tuple(sorted({_value(flag, item) for item in raw}))


def _pair(raw: object) -> tuple[str, str]:
    if isinstance(raw, (tuple, list)) and len(raw) == 2:
        return _value("--kelas", raw[0]), _value("--kelas", raw[1])
    text = str(raw)
    unit, colon, kelas = text.partition(":")
    if not colon or not unit.strip() or not kelas.strip():
        raise ScopeFlagError("scope.err.kelas", value=text.strip()[:MAX_VALUE])
    return _value("--kelas", unit), _value("--kelas", kelas)


@dataclass(frozen=True, slots=True)
class OfficerScope:
    """The students an officer sees: the union of its four kinds of parts, each
    normalised (stripped, deduplicated, sorted)."""

    units: tuple[str, ...] = ()
    kelas: tuple[tuple[str, str], ...] = ()
    asrama: tuple[str, ...] = ()
    diniyah: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "units", _values("--unit", self.units))
        object.__setattr__(self, "kelas", tuple(sorted({_pair(p) for p in self.kelas})))
        object.__setattr__(self, "asrama", _values("--asrama", self.asrama))
        object.__setattr__(self, "diniyah", _values("--diniyah", self.diniyah))
        parts = len(self.units) + len(self.kelas) + len(self.asrama) + len(self.diniyah)
        if parts > MAX_PARTS:
            raise ScopeFlagError("scope.err.too_many", max=MAX_PARTS)

    @classmethod
    def parse(
        cls,
        units: Iterable[str] = (),
        kelas: Iterable[str] = (),
        asrama: Iterable[str] = (),
        diniyah: Iterable[str] = (),
    ) -> OfficerScope:
        """From the command line's flags (``kelas`` as ``UNIT:KELAS``); raises
        :class:`ScopeFlagError` naming the first bad value."""
        return cls(tuple(units), tuple(_pair(k) for k in kelas), tuple(asrama), tuple(diniyah))

    @classmethod
    def nobody(cls) -> OfficerScope:
        """A scope that covers no student (a unit no roster row can have: the roster
        refuses control characters)."""
        scope = cls()
        object.__setattr__(scope, "units", (PAIR_SEPARATOR,))
        return scope

    @property
    def is_empty(self) -> bool:
        return not (self.units or self.kelas or self.asrama or self.diniyah)

    def covers(self, student: Mapping[str, Any]) -> bool:
        """Whether ``student`` (a siswa row: its roster columns) is in this scope."""
        unit = student.get("UnitFormal")
        if unit is not None and unit in self.units:
            return True
        if unit is not None and (unit, student.get("KelasFormal")) in self.kelas:
            return True
        asrama = student.get("AsramaPondok")
        if asrama is not None and asrama in self.asrama:
            return True
        diniyah = student.get("TingkatDiniyah")
        return diniyah is not None and diniyah in self.diniyah

    def covers_unit(self, unit: str) -> bool:
        """Whether every student of ``unit`` is in this scope by the unit itself."""
        return unit in self.units

    def covers_kelas(self, unit: str, kelas: str) -> bool:
        """Whether every student of the class ``kelas`` of ``unit`` is in this scope by
        the unit or the class itself."""
        return unit in self.units or (unit, kelas) in self.kelas

    def params(self) -> dict[str, Any]:
        """The parameters of the SQL that checks a student is covered (``:scoped``,
        ``:scope_units``, ``:scope_kelas``, ``:scope_asrama``, ``:scope_diniyah``,
        ``:scope_sep``); :func:`scope_params` gives the unscoped ones."""
        return {
            "scoped": 1,
            "scope_units": list(self.units),
            "scope_kelas": [f"{u}{PAIR_SEPARATOR}{k}" for u, k in self.kelas],
            "scope_asrama": list(self.asrama),
            "scope_diniyah": list(self.diniyah),
            "scope_sep": PAIR_SEPARATOR,
        }

    def to_dict(self) -> dict[str, list[Any]]:
        """For JSON answers."""
        return {
            "units": list(self.units),
            "kelas": [{"unit": u, "kelas": k} for u, k in self.kelas],
            "asrama": list(self.asrama),
            "diniyah": list(self.diniyah),
        }

    def flags(self) -> list[str]:
        """The scope as the command line writes it (``--unit SMP --kelas "SMA:X IPA"``)."""
        parts = [f"--unit {_quote(u)}" for u in self.units]
        parts += [f"--kelas {_quote(f'{u}:{k}')}" for u, k in self.kelas]
        parts += [f"--asrama {_quote(a)}" for a in self.asrama]
        parts += [f"--diniyah {_quote(d)}" for d in self.diniyah]
        return parts

    def to_json(self) -> str:
        data = {
            "units": list(self.units),
            "kelas": [list(pair) for pair in self.kelas],
            "asrama": list(self.asrama),
            "diniyah": list(self.diniyah),
        }
        return json.dumps(data, separators=(",", ":"), ensure_ascii=False)

    @classmethod
    def from_json(cls, text: str | None) -> OfficerScope | None:
        """The stored scope; None for no scope (NULL, or an empty one)."""
        if text is None or not str(text).strip():
            return None
        data = json.loads(str(text))
        if not isinstance(data, dict):
            raise ScopeFlagError("scope.err.stored")
        kelas = []
        for pair in data.get("kelas") or ():
            if isinstance(pair, dict):
                pair = (pair.get("unit", ""), pair.get("kelas", ""))
            kelas.append(tuple(pair))
        scope = cls(
            tuple(data.get("units") or ()),
            tuple(kelas),
            tuple(data.get("asrama") or ()),
            tuple(data.get("diniyah") or ()),
        )
        return None if scope.is_empty else scope


def scope_params(scope: OfficerScope | None) -> dict[str, Any]:
    """The scope SQL's parameters for ``scope``; for None (every student) ``:scoped`` is
    0 and the lists are empty (``IN (NULL)``: never looked at)."""
    if scope is None or scope.is_empty:
        return {
            "scoped": 0,
            "scope_units": [],
            "scope_kelas": [],
            "scope_asrama": [],
            "scope_diniyah": [],
            "scope_sep": PAIR_SEPARATOR,
        }
    return scope.params()


def _quote(value: str) -> str:
    return f'"{value}"' if any(ch in value for ch in " \"'$`\\") else value
