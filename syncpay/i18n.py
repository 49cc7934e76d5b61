"""The message catalogues: one per language (``syncpay/web/locale/<lang>.json``).

Indonesian is the default. The web pages take their words from here
(:mod:`syncpay.web.i18n`), and so does the sync layer for its activity log: a log line is
stored as a key under ``js.log.`` and its values, and its Indonesian text is made from
``id.json`` (one source per language, below the web layer so that :mod:`syncpay.sync`
need not import :mod:`syncpay.web`). A key missing from a catalogue falls back to
Indonesian, then to the key itself (a test checks that both catalogues have the same
keys).
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from importlib import resources
from importlib.resources.abc import Traversable
from typing import Any

# A Path, or a zipfile.Path when running from syncpay.pyz.
LOCALES = resources.files("syncpay") / "web" / "locale"
LANGUAGES = ("id", "en")
DEFAULT = "id"
#: The activity log's templates: ``js.log.<key>`` (``js.*`` keys reach the page's script).
LOG_PREFIX = "js.log."
#: The words the sync layer puts into a failure's reason (stored in Indonesian, as
#: ``id.json`` has them), which a page shows in its own language: ``js.reason.<key>``.
REASON_PREFIX = "js.reason."
REASON_KEYS = ("not_in_roster", "cut_off")


class Catalogs:
    def __init__(self, directory: Traversable = LOCALES) -> None:
        self.messages: dict[str, dict[str, str]] = {}
        for lang in LANGUAGES:
            with (directory / f"{lang}.json").open(encoding="utf-8") as fh:
                self.messages[lang] = json.load(fh)

    def text(self, lang: str, key: str, **values: Any) -> str:
        table = self.messages.get(lang) or self.messages[DEFAULT]
        template = table.get(key) or self.messages[DEFAULT].get(key) or key
        if values:
            try:
                return template.format(**values)
            except (KeyError, IndexError, ValueError):
                return template
        return template

    def client(self, lang: str) -> dict[str, str]:
        """The keys the browser's scripts use (``js.*``), for the page's data block."""
        table = self.messages[DEFAULT] | self.messages.get(lang, {})
        return {k: v for k, v in table.items() if k.startswith("js.")}

    def log_text(
        self, lang: str, key: str | None, values: Mapping[str, Any] | None, message: str
    ) -> str:
        """An activity-log line in ``lang``: its template ``js.log.<key>`` filled with its
        values; the stored ``message`` when the line has no key (written before keys were
        stored), the key is unknown, or the values do not fit the template."""
        if not key:
            return message
        template = (self.messages.get(lang) or {}).get(LOG_PREFIX + key) or self.messages[
            DEFAULT
        ].get(LOG_PREFIX + key)
        if template is None:
            return message
        try:
            return template.format_map(dict(values or {}))
        except (KeyError, IndexError, ValueError, AttributeError, TypeError):
            return message

    def reason_words(self, lang: str) -> list[tuple[str, str]]:
        """The sync layer's stored (Indonesian) reason words and their ``lang`` words, for
        a page's script to do what :meth:`reason_text` does."""
        table = self.messages.get(lang) or {}
        return [
            (self.messages[DEFAULT][REASON_PREFIX + key], table[REASON_PREFIX + key])
            for key in REASON_KEYS
            if lang != DEFAULT and REASON_PREFIX + key in table
        ]

    def reason_text(self, lang: str, reason: str) -> str:
        """A stored failure reason in ``lang``: the sync layer's own Indonesian words in it
        (``js.reason.*``) replaced; what came from outside (an API's error) unchanged."""
        for stored, shown in self.reason_words(lang) if reason else ():
            reason = reason.replace(stored, shown)
        return reason


@functools.cache
def catalogs() -> Catalogs:
    """The packaged catalogues, read once per process."""
    return Catalogs()
