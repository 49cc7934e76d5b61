"""The UI's words: one message catalogue per language (``locale/<lang>.json``).

Indonesian is the default; ``?lang=en`` switches a session to English. A key missing
from a catalogue falls back to Indonesian, then to the key itself (a test checks that
both catalogues have the same keys).
"""

from __future__ import annotations

import json
from importlib import resources
from importlib.resources.abc import Traversable
from typing import Any

# A Path, or a zipfile.Path when running from syncpay.pyz.
LOCALES = resources.files("syncpay") / "web" / "locale"
LANGUAGES = ("id", "en")
DEFAULT = "id"


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
