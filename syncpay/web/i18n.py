"""The UI's words: one message catalogue per language (``locale/<lang>.json``).

Indonesian is the default; ``?lang=en`` switches a session to English. The loader lives
in :mod:`syncpay.i18n` (the sync layer words its activity log from the same catalogues);
this module is the web layer's name for it.
"""

from __future__ import annotations

from ..i18n import DEFAULT, LANGUAGES, LOCALES, LOG_PREFIX, Catalogs, catalogs

__all__ = ["DEFAULT", "LANGUAGES", "LOCALES", "LOG_PREFIX", "Catalogs", "catalogs"]
