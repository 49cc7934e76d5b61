"""The students room: the roster import (``siswa:import``) and the students' read model.

- ``rows.py``: one roster row checked (:func:`validate_row`, :class:`Student`);
- ``read.py``: a roster source read (a CSV file, the roster API; :class:`RosterError`);
- ``importing.py``: the import in one transaction, pruning guarded (:class:`ImportReport`);
- ``filters.py``: what the list is asked for (:class:`Filters`); ``listing.py``: the
  list read from the indexes, page by page, and the filter's choices; ``records.py``: a
  student as the pages read it; ``detail.py``: a student's items grouped by period;
- ``model.py``: :class:`Students`, all of it for one database (``SyncPay.students``).

Nothing here knows the web: the pages reach the students through ``SyncPay.students``.
"""

from .filters import Filters
from .importing import MAX_REMOVE_PERCENT, ImportReport, import_api, import_csv, import_rows
from .model import Students
from .read import RosterError, api_rows, fetch_api, read_csv
from .rows import Student, validate_row

__all__ = [
    "MAX_REMOVE_PERCENT",
    "Filters",
    "ImportReport",
    "RosterError",
    "Student",
    "Students",
    "api_rows",
    "fetch_api",
    "import_api",
    "import_csv",
    "import_rows",
    "read_csv",
    "validate_row",
]
