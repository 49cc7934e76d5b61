"""The roster columns of ``siswa``, in table order (the names in files and the API).

On their own, below both the roster import (``students/``) and the simulator
(whose fake school data has the same columns), so neither imports the other for them.
"""

__all__ = ["ROSTER_COLUMNS"]

ROSTER_COLUMNS: tuple[str, ...] = (
    "idperson",
    "nama",
    "gender",
    "lahirtempat",
    "lahirtanggal",
    "phone",
    "UnitFormal",
    "KelasFormal",
    "AsramaPondok",
    "KamarPondok",
    "TingkatDiniyah",
    "KelasDiniyah",
)
