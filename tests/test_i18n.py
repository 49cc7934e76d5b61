"""The message catalogues (``syncpay/web/locale/*.json``) and the activity log's words:
both languages have the same keys and placeholders, every log line the sync layer
writes has a template, its Indonesian text is the one written before keys were stored,
and a line the catalogue cannot word falls back to its stored message."""

from __future__ import annotations

import ast
import re
import string
from pathlib import Path
from typing import Any

import pytest

from syncpay.i18n import DEFAULT, LANGUAGES, LOG_PREFIX, Catalogs, catalogs
from syncpay.sync.activity import log_message

ROOT = Path(__file__).resolve().parent.parent
SYNC_LAYER = ROOT / "syncpay" / "sync"


def placeholders(template: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}


def log_line_calls() -> dict[str, set[str]]:
    """Every ``log_line(tx, run, "<key>", level, **values)`` of the sync layer: key → the
    names of the values it passes."""
    calls: dict[str, set[str]] = {}
    for path in sorted(SYNC_LAYER.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.Call):
                continue
            if not (isinstance(node.func, ast.Name) and node.func.id == "log_line"):
                continue
            key = node.args[2]
            assert isinstance(key, ast.Constant) and isinstance(key.value, str), (
                f"{path.name}:{node.lineno}: a log line's key must be a literal"
            )
            names = {k.arg for k in node.keywords}
            assert None not in names, f"{path.name}:{node.lineno}: values must be named"
            calls.setdefault(key.value, set()).update(n for n in names if n is not None)
    return calls


def test_both_catalogues_have_the_same_keys_and_placeholders() -> None:
    tables = Catalogs().messages
    assert set(tables) == set(LANGUAGES)
    keys = set(tables[DEFAULT])
    for lang, table in tables.items():
        assert set(table) == keys, (
            f"{lang}: missing {sorted(keys - set(table))}, extra {sorted(set(table) - keys)}"
        )
        for key, text in table.items():
            assert placeholders(text) == placeholders(tables[DEFAULT][key]), (lang, key)


def test_every_log_line_the_sync_layer_writes_has_a_template() -> None:
    calls = log_line_calls()
    assert {"started", "finished", "student_failed", "cancelled_by"} <= set(calls)
    templates = {
        key.removeprefix(LOG_PREFIX): text
        for key, text in Catalogs().messages[DEFAULT].items()
        if key.startswith(LOG_PREFIX)
    }
    assert set(templates) == set(calls), "a key without a template, or a template unused"
    for key, names in calls.items():
        # scope_detail is for the page (it words the scope), not the template.
        assert placeholders(templates[key]) == names - {"scope_detail"}, key


def test_the_sync_layer_does_not_import_the_web_layer() -> None:
    for path in sorted(SYNC_LAYER.glob("*.py")):
        text = path.read_text(encoding="utf-8")
        assert not re.search(r"^\s*(from|import)\s+(syncpay\.web|\.\.web)\b", text, re.M), path


SCOPE = {"kind": "kelas", "unit": "SMP", "kelas": "VII A", "idperson": None, "students": None}


@pytest.mark.parametrize(
    ("key", "values", "before"),
    [
        # The texts the sync layer wrote as finished sentences before keys were stored.
        (
            "started",
            {"by": "Bu Siti", "scope": "Kelas VII A (SMP)", "total": 30, "scope_detail": SCOPE},
            "Sinkronisasi dimulai oleh Bu Siti: Kelas VII A (SMP), 30 siswa",
        ),
        ("queued", {"total": 1000}, "1000 siswa masuk antrean"),
        (
            "student_failed",
            {"name": "Ahmad {x}", "idperson": "2025000001", "reason": "HTTP 500"},
            "Gagal: Ahmad {x} (2025000001) - HTTP 500",
        ),
        (
            "failures_not_listed",
            {},
            "Kegagalan berikutnya tidak dicatat satu per satu; lihat daftar siswa yang gagal.",
        ),
        ("finished", {"success": 3, "failed": 0}, "Sinkronisasi selesai - 3 berhasil, 0 gagal"),
        (
            "unchanged_retries",
            {"unchanged": 5, "retries": 2},
            "5 siswa tidak berubah, 2 percobaan ulang",
        ),
        ("cancelled_by", {"by": "admin"}, "Sinkronisasi dibatalkan oleh admin"),
        ("cancelled_by_system", {}, "Sinkronisasi dibatalkan oleh sistem"),
        ("dispatch_failed", {"reason": "boom"}, "Penjadwalan siswa gagal: boom"),
    ],
)
def test_the_indonesian_message_is_the_text_written_before(
    key: str, values: dict[str, Any], before: str
) -> None:
    assert log_message(key, values) == before
    assert catalogs().log_text("id", key, values, "?") == before


def test_a_line_the_catalogue_cannot_word_is_shown_as_its_message() -> None:
    words = catalogs()
    finished = {"success": 3, "failed": 0}
    assert (
        words.log_text("en", "finished", finished, "x") == "Sync finished - 3 succeeded, 0 failed"
    )
    assert words.log_text("fr", "finished", finished, "x") == words.log_text(
        "id", "finished", finished, "x"
    )
    assert words.log_text("en", None, None, "Baris lama") == "Baris lama"
    assert words.log_text("en", "no_such_key", {}, "Baris baru") == "Baris baru"
    assert words.log_text("en", "finished", {"success": 3}, "Selesai") == "Selesai"
    assert words.log_text("en", "finished", None, "Selesai") == "Selesai"
    # An unknown key still writes a line (and logs an error): the name and the values.
    assert log_message("no_such_key", {"n": 1}) == 'no_such_key: {"n": 1}'


def test_a_failure_reason_is_shown_in_the_pages_words() -> None:
    """The sync layer's own words in a stored reason are translated for the page; an
    API's error, and the Indonesian page, are left as they are."""
    cat = catalogs()
    cut = "HTTP 500 (percobaan terakhir terputus: sync.student was cut off 3 times)"
    english = "HTTP 500 (last attempts cut off: sync.student was cut off 3 times)"
    assert cat.reason_text("en", cut) == english
    assert cat.reason_text("en", "siswa tidak ada lagi") == "no longer in the roster"
    api = "HTTP 404 siswa tidak ditemukan"  # the API's own words
    assert cat.reason_text("en", api) == api
    assert cat.reason_text("id", cut) == cut
    assert cat.reason_text("en", "") == ""
    assert cat.reason_words("id") == []
    assert dict(cat.reason_words("en")) == {
        "siswa tidak ada lagi": "no longer in the roster",
        "percobaan terakhir terputus": "last attempts cut off",
    }
