import dataclasses
import os
import pickle
import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from syncpay.config import (
    VARIABLES,
    ConfigError,
    Settings,
    load_settings,
    parse_dotenv,
)
from syncpay.config.convert import parse_bool

REPO = Path(__file__).resolve().parent.parent

SPEC_DEFAULTS = {
    "DB_CONNECTION": "sqlite",
    "DB_DATABASE": "storage/syncpay.sqlite",
    "DB_HOST": "127.0.0.1",
    "DB_PORT": "3306",
    "DB_USERNAME": "root",
    "DB_PASSWORD": "",
    "QUEUE_CONNECTION": "database",
    "DB_QUEUE_CONNECTION": "sqlite",
    "DB_QUEUE_TABLE": "jobs",
    "DB_QUEUE": "sync-pembayaran",
    "DB_QUEUE_RETRY_AFTER": "660",
    "SYNC_WORKERS": "8",
    "SYNC_TRIES": "3",
    "SYNC_TIMEOUT": "600",
    "SYNC_BACKOFF": "10,30,60",
    "SYNC_CHUNK": "5000",
    "PAYMENT_SOURCE": "http",
    "PAYMENT_API_URL": "",
    "PAYMENT_API_TOKEN": "",
    "PAYMENT_API_TIMEOUT": "30",
    "PAYMENT_API_RATE": "0",
    "PAYMENT_API_CONCURRENCY": "8",
    "PAYMENT_PARSER": "flat",
    "SISWA_API_URL": "",
    "APP_KEY": "",
    "APP_HOST": "127.0.0.1",
    "APP_PORT": "8000",
    "APP_LOCALE": "id",
    "LOG_FILE": "storage/logs/syncpay.log",
    "LOG_LEVEL": "info",
    "SYNC_HISTORY_DAYS": "365",
    "SYNC_NOTIFY_URL": "",
    "SYNC_NOTIFY_SECRET": "",
    "BACKUP_SCHEDULE": "",
    "BACKUP_KEEP": "7",
    "BACKUP_PATH": "storage/backups",
}


def load(overrides=None, environ=None, env_file=None):
    return load_settings(overrides, environ=environ or {}, env_file=env_file)


def write_env(tmp_path: Path, text: str) -> Path:
    path = tmp_path / ".env"
    path.write_text(text, encoding="utf-8")
    return path


# --------------------------------------------------------------------------- defaults


# Variables of our own, beyond SPEC §2 (the sources' finer settings).
EXTRA_DEFAULTS = {
    "PAYMENT_NESTED_BILL_FIELD": "amount_paid",
    "PAYMENT_NESTED_PAID_FIELD": "amount_billed",
    "PAYMENT_API_RETRY_AFTER_MAX": "300",
    "PAYMENT_API_RETRY_AFTER_WAITS": "10",
    "PAYMENT_API_MAX_BYTES": "4194304",
    "PAYMENT_API_MAX_ITEMS": "5000",
    "METRICS_TOKEN": "",
    "SESSION_LIFETIME": "120",
    "APP_TRUST_PROXY": "false",
    "SYNC_SCHEDULE": "",
    "SYNC_PRUNE_DAYS": "180",
    "QUEUE_PRUNE_FAILED_HOURS": "720",
    "LOG_MAX_MB": "10",
    "LOG_BACKUPS": "5",
    "PAYMENT_DB_HOST": "127.0.0.1",
    "PAYMENT_DB_PORT": "3306",
    "PAYMENT_DB_DATABASE": "",
    "PAYMENT_DB_USERNAME": "root",
    "PAYMENT_DB_PASSWORD": "",
    "PAYMENT_DB_QUERY": "",
    "SYNC_NOTIFY_TIMEOUT": "10",
}


def test_variables_are_the_spec_variables_in_spec_order():
    spec_order = [name for name in VARIABLES if name in SPEC_DEFAULTS]
    assert spec_order == list(SPEC_DEFAULTS)
    assert set(VARIABLES) == set(SPEC_DEFAULTS) | set(EXTRA_DEFAULTS)


def test_defaults_equal_spec():
    s = load()
    assert s.redacted() == SPEC_DEFAULTS | EXTRA_DEFAULTS
    assert s == Settings()
    assert s.db_port == 3306
    assert s.db_queue_retry_after == 660
    assert s.sync_backoff == (10, 30, 60)
    assert s.payment_api_timeout == 30.0
    assert isinstance(s.payment_api_timeout, float)
    assert s.payment_api_rate == 0.0
    assert s.payment_api_concurrency == 8


def test_missing_env_file_is_fine(tmp_path):
    assert load(env_file=tmp_path / "nope.env") == Settings()


def test_frozen():
    s = Settings()
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.sync_workers = 1  # type: ignore[misc]
    with pytest.raises((AttributeError, TypeError)):
        s.something_new = 1  # type: ignore[attr-defined]
    assert s.sync_workers == 8


def test_settings_are_hashable_and_comparable():
    assert hash(Settings()) == hash(load())
    assert Settings(sync_workers=4) != Settings()


# --------------------------------------------------------------------------- priority


@pytest.mark.parametrize(
    ("in_file", "in_environ", "in_override", "expected"),
    [
        (False, False, False, 8),
        (True, False, False, 2),
        (True, True, False, 3),
        (True, True, True, 4),
        (False, True, False, 3),
        (False, False, True, 4),
        (True, False, True, 4),
    ],
)
def test_priority(tmp_path, in_file, in_environ, in_override, expected):
    env_file = write_env(tmp_path, "SYNC_WORKERS=2\n" if in_file else "")
    environ = {"SYNC_WORKERS": "3"} if in_environ else {}
    overrides = {"SYNC_WORKERS": "4"} if in_override else None
    s = load_settings(overrides, environ=environ, env_file=env_file)
    assert s.sync_workers == expected


def test_layers_merge_per_variable(tmp_path):
    env_file = write_env(tmp_path, "APP_PORT=9000\nAPP_LOCALE=en\nLOG_LEVEL=debug\n")
    s = load_settings({"LOG_LEVEL": "error"}, environ={"APP_LOCALE": "id"}, env_file=env_file)
    assert (s.app_port, s.app_locale, s.log_level) == (9000, "id", "error")


def test_default_env_file_is_dot_env_in_working_directory(tmp_path, monkeypatch):
    write_env(tmp_path, "SYNC_CHUNK=55\n")
    monkeypatch.chdir(tmp_path)
    assert load_settings(environ={}).sync_chunk == 55
    assert load_settings(environ={}, env_file=None).sync_chunk == 5000


def test_environ_defaults_to_os_environ(monkeypatch):
    for name in VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("SYNC_TRIES", "5")
    monkeypatch.setenv("SOMETHING_ELSE", "x")
    assert load_settings(env_file=None).sync_tries == 5


def test_unknown_keys_in_env_file_are_ignored(tmp_path):
    env_file = write_env(tmp_path, "APP_NAME=Laravel\nMAIL_MAILER=smtp\nSYNC_TRIES=4\n")
    assert load(env_file=env_file).sync_tries == 4


def test_unknown_override_is_a_programming_error():
    with pytest.raises(ValueError, match="SYNC_WORKRES"):
        load({"SYNC_WORKRES": "4"})


def test_none_override_means_not_given():
    assert load({"APP_PORT": None}, environ={"APP_PORT": "9000"}).app_port == 9000


# --------------------------------------------------------------------------- derived defaults


def test_retry_after_follows_timeout_override():
    s = load({"SYNC_TIMEOUT": "700"})
    assert s.db_queue_retry_after == 760


def test_retry_after_follows_timeout_from_env_file(tmp_path):
    env_file = write_env(tmp_path, "SYNC_TIMEOUT=30\n")
    assert load(env_file=env_file).db_queue_retry_after == 90


def test_concurrency_follows_workers():
    assert load({"SYNC_WORKERS": "3"}).payment_api_concurrency == 3
    assert (
        load({"SYNC_WORKERS": "3", "PAYMENT_API_CONCURRENCY": "20"}).payment_api_concurrency == 20
    )


def test_queue_connection_follows_db_connection():
    s = load({"DB_CONNECTION": "mysql", "DB_DATABASE": "sekolah"})
    assert s.db_queue_connection == "mysql"


def test_derived_value_given_in_one_layer_is_kept(tmp_path):
    env_file = write_env(tmp_path, "DB_QUEUE_RETRY_AFTER=5000\n")
    s = load({"SYNC_TIMEOUT": "900"}, env_file=env_file)
    assert s.db_queue_retry_after == 5000


def test_empty_derived_variable_means_derive(tmp_path):
    env_file = write_env(
        tmp_path, "DB_QUEUE_CONNECTION=\nDB_QUEUE_RETRY_AFTER=\nPAYMENT_API_CONCURRENCY=\n"
    )
    s = load({"SYNC_TIMEOUT": "100", "SYNC_WORKERS": "2"}, env_file=env_file)
    assert (s.db_queue_connection, s.db_queue_retry_after, s.payment_api_concurrency) == (
        "sqlite",
        160,
        2,
    )


def test_retry_after_not_above_timeout_is_refused():
    with pytest.raises(ConfigError) as caught:
        load({"DB_QUEUE_RETRY_AFTER": "600"})
    assert str(caught.value) == (
        "DB_QUEUE_RETRY_AFTER: 600 must be greater than the job timeout (SYNC_TIMEOUT=600); "
        "a job still running would be handed to a second worker"
    )


# --------------------------------------------------------------------------- replace / redacted


def test_replace_revalidates_and_keeps_derived_defaults_following():
    s = Settings()
    longer = s.replace(sync_timeout=1000)
    assert longer.db_queue_retry_after == 1060
    assert s.db_queue_retry_after == 660
    assert s.replace(sync_workers=2).payment_api_concurrency == 2
    assert s.replace(sync_workers="2").sync_workers == 2
    explicit = s.replace(db_queue_retry_after=5000)
    assert explicit.replace(sync_timeout=1000).db_queue_retry_after == 5000
    with pytest.raises(ConfigError) as caught:
        explicit.replace(sync_timeout=6000)
    assert caught.value.variable == "DB_QUEUE_RETRY_AFTER"
    with pytest.raises(ConfigError) as caught:
        s.replace(app_port=0)
    assert caught.value.variable == "APP_PORT"
    with pytest.raises(ConfigError) as caught:
        s.replace(db_queue_connection="mysql")
    assert caught.value.variable == "DB_QUEUE_CONNECTION"
    with pytest.raises(TypeError):
        s.replace(no_such_field=1)


def test_redacted_hides_secrets_only_when_set():
    s = load({"DB_PASSWORD": "rahasia", "PAYMENT_API_TOKEN": "tok", "APP_KEY": "base64:abc"})
    shown = s.redacted()
    assert list(shown) == list(VARIABLES)
    assert shown["DB_PASSWORD"] == shown["PAYMENT_API_TOKEN"] == shown["APP_KEY"] == "***"
    assert "rahasia" not in repr(shown)
    assert Settings().redacted()["DB_PASSWORD"] == ""


def test_redacted_values_load_back_to_the_same_settings():
    s = load(
        {
            "SYNC_BACKOFF": "5, 7",
            "PAYMENT_API_TIMEOUT": "2.5",
            "PAYMENT_API_RATE": "12",
            "LOG_LEVEL": "WARNING",
            "PAYMENT_API_URL": "https://api.example.sch.id/v1/payments/{idperson}",
        }
    )
    assert load(s.redacted()) == s


# --------------------------------------------------------------------------- value parsing


@pytest.mark.parametrize("value", ["3.5", "abc", "", "1e3", "0x10", "1_000", "٣", "4 4"])
def test_int_rejects_non_whole_numbers(value):
    with pytest.raises(ConfigError) as caught:
        load({"DB_PORT": value})
    assert caught.value.variable == "DB_PORT"
    assert caught.value.problem == f"{value!r} is not a whole number"


def test_int_accepts_surrounding_spaces_and_sign():
    assert load({"DB_PORT": " 3307 "}).db_port == 3307
    assert load({"SYNC_TRIES": "+2"}).sync_tries == 2


def test_float_values():
    s = load({"PAYMENT_API_TIMEOUT": "2.5", "PAYMENT_API_RATE": "10"})
    assert (s.payment_api_timeout, s.payment_api_rate) == (2.5, 10.0)
    assert load({"PAYMENT_API_RATE": ".5"}).payment_api_rate == 0.5


def test_backoff_list():
    assert load({"SYNC_BACKOFF": "10, 30,60"}).sync_backoff == (10, 30, 60)
    assert load({"SYNC_BACKOFF": "0"}).sync_backoff == (0,)
    assert Settings(sync_backoff=[1, 2]).sync_backoff == (1, 2)


def test_log_level_is_case_insensitive():
    assert load({"LOG_LEVEL": "DEBUG"}).log_level == "debug"


@pytest.mark.parametrize(
    "parser", ["flat", "nested", "mymodule:parse", "school.parsers.api2:parse_items"]
)
def test_parser_forms(parser):
    assert load({"PAYMENT_PARSER": parser}).payment_parser == parser


def test_urls():
    url = "http://127.0.0.1:8100/payments/{idperson}?full=1"
    assert load({"PAYMENT_API_URL": url}).payment_api_url == url
    assert load({"SISWA_API_URL": "https://x.sch.id/siswa"}).siswa_api_url
    # the URL is not required at load time, even for the http source
    assert load({"PAYMENT_SOURCE": "http"}).payment_api_url == ""


def test_mysql_settings():
    s = load({"DB_CONNECTION": "mysql", "DB_DATABASE": "pondok_2024", "DB_PORT": "3307"})
    assert (s.db_connection, s.db_queue_connection, s.db_database) == (
        "mysql",
        "mysql",
        "pondok_2024",
    )
    assert load({"DB_DATABASE": ":memory:"}).db_database == ":memory:"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("true", True),
        ("YES", True),
        ("on", True),
        ("1", True),
        (" true ", True),
        ("false", False),
        ("No", False),
        ("off", False),
        ("0", False),
    ],
)
def test_parse_bool(text, expected):
    assert parse_bool(text) is expected


def test_parse_bool_rejects_other_words():
    with pytest.raises(Exception, match="'maybe'"):
        parse_bool("maybe")


# every validated variable, with a bad value (plus settings needed to reach the check)
BAD_VALUES = [
    ("DB_CONNECTION", "pgsql", {}),
    ("DB_CONNECTION", "", {}),
    ("DB_DATABASE", "", {}),
    ("DB_DATABASE", "my-db", {"DB_CONNECTION": "mysql"}),
    ("DB_DATABASE", "a\0b", {}),
    ("DB_HOST", "", {"DB_CONNECTION": "mysql", "DB_DATABASE": "x"}),
    ("DB_PORT", "abc", {}),
    ("DB_PORT", "0", {}),
    ("DB_PORT", "65536", {}),
    ("DB_PORT", "9" * 40, {}),
    ("QUEUE_CONNECTION", "redis", {}),
    ("DB_QUEUE_CONNECTION", "mysql", {}),
    ("DB_QUEUE_CONNECTION", "pgsql", {}),
    ("DB_QUEUE_TABLE", "jobs; drop table siswa", {}),
    ("DB_QUEUE_TABLE", "1jobs", {}),
    ("DB_QUEUE_TABLE", "j" * 65, {}),
    ("DB_QUEUE", "", {}),
    ("DB_QUEUE", "a,b", {}),
    ("DB_QUEUE", "a b", {}),
    ("DB_QUEUE", "q" * 192, {}),
    ("DB_QUEUE_RETRY_AFTER", "600", {}),
    ("DB_QUEUE_RETRY_AFTER", "30", {"SYNC_TIMEOUT": "60"}),
    ("DB_QUEUE_RETRY_AFTER", "soon", {}),
    ("SYNC_WORKERS", "0", {}),
    ("SYNC_WORKERS", "257", {}),
    ("SYNC_WORKERS", "eight", {}),
    ("SYNC_TRIES", "0", {}),
    ("SYNC_TIMEOUT", "0", {}),
    ("SYNC_TIMEOUT", "1.5", {}),
    ("SYNC_BACKOFF", "", {}),
    ("SYNC_BACKOFF", "10,,30", {}),
    ("SYNC_BACKOFF", "10,-5", {}),
    ("SYNC_BACKOFF", "10s", {}),
    ("SYNC_CHUNK", "0", {}),
    ("SYNC_CHUNK", "100001", {}),
    ("PAYMENT_SOURCE", "ftp", {}),
    ("PAYMENT_API_URL", "ftp://x/{idperson}", {}),
    ("PAYMENT_API_URL", "api.example.sch.id/{idperson}", {}),
    ("PAYMENT_API_URL", "https:///{idperson}", {}),
    ("PAYMENT_API_URL", "https://api.example.sch.id/v1/payments", {}),
    ("PAYMENT_API_URL", "https://api.example.sch.id/v1/payments", {"PAYMENT_SOURCE": "simulator"}),
    ("PAYMENT_API_TIMEOUT", "0", {}),
    ("PAYMENT_API_TIMEOUT", "-1", {}),
    ("PAYMENT_API_TIMEOUT", "fast", {}),
    ("PAYMENT_API_TIMEOUT", "inf", {}),
    ("PAYMENT_API_TIMEOUT", "nan", {}),
    ("PAYMENT_API_RATE", "-0.5", {}),
    ("PAYMENT_API_RATE", "", {}),
    ("PAYMENT_API_CONCURRENCY", "0", {}),
    ("PAYMENT_API_CONCURRENCY", "many", {}),
    ("PAYMENT_PARSER", "xml", {}),
    ("PAYMENT_PARSER", "module.function", {}),
    ("PAYMENT_PARSER", "mod:func:x", {}),
    ("PAYMENT_PARSER", "os; rm -rf /:x", {}),
    ("PAYMENT_NESTED_BILL_FIELD", "amount paid", {}),
    ("PAYMENT_NESTED_PAID_FIELD", "", {}),
    ("PAYMENT_API_RETRY_AFTER_MAX", "-1", {}),
    ("PAYMENT_API_RETRY_AFTER_WAITS", "-1", {}),
    ("PAYMENT_API_RETRY_AFTER_WAITS", "many", {}),
    ("PAYMENT_API_MAX_BYTES", "1023", {}),
    ("PAYMENT_API_MAX_ITEMS", "0", {}),
    ("PAYMENT_DB_PORT", "x", {}),
    ("PAYMENT_DB_QUERY", "SELECT * FROM jurnal WHERE idperson = ?", {}),
    ("SISWA_API_URL", "localhost/siswa", {}),
    ("APP_HOST", "", {}),
    ("APP_PORT", "http", {}),
    ("APP_PORT", "70000", {}),
    ("APP_LOCALE", "fr", {}),
    ("APP_LOCALE", "EN-us", {}),
    ("LOG_LEVEL", "verbose", {}),
    ("SESSION_LIFETIME", "0", {}),
    ("APP_TRUST_PROXY", "maybe", {}),
    ("SYNC_SCHEDULE", "25:00", {}),
    ("SYNC_SCHEDULE", "0 2 * *", {}),
    ("SYNC_SCHEDULE", "0 0 31 2 *", {}),
    ("SYNC_PRUNE_DAYS", "-1", {}),
    ("SYNC_HISTORY_DAYS", "-1", {}),
    ("SYNC_HISTORY_DAYS", "36501", {}),
    ("BACKUP_SCHEDULE", "25:00", {}),
    ("BACKUP_KEEP", "-1", {}),
    ("BACKUP_KEEP", "many", {}),
    ("BACKUP_PATH", "", {}),
    ("SYNC_NOTIFY_URL", "ftp://gateway.example/hook", {"SYNC_NOTIFY_SECRET": "k"}),
    ("SYNC_NOTIFY_URL", "https://a.example/hook, gateway/hook", {"SYNC_NOTIFY_SECRET": "k"}),
    ("SYNC_NOTIFY_URL", "http://:8080/hook", {"SYNC_NOTIFY_SECRET": "k"}),
    ("SYNC_NOTIFY_SECRET", "", {"SYNC_NOTIFY_URL": "https://gateway.example/hook"}),
    ("SYNC_NOTIFY_TIMEOUT", "0", {}),
    ("QUEUE_PRUNE_FAILED_HOURS", "1.5", {}),
    ("LOG_MAX_MB", "-1", {}),
    ("LOG_BACKUPS", "many", {}),
    ("SESSION_LIFETIME", "2h", {}),
]


@pytest.mark.parametrize(("variable", "value", "extra"), BAD_VALUES)
def test_bad_value_names_the_variable_on_one_line(variable, value, extra):
    with pytest.raises(ConfigError) as caught:
        load({**extra, variable: value})
    error = caught.value
    assert error.variable == variable
    assert str(error) == f"{variable}: {error.problem}"
    assert len(str(error).splitlines()) == 1
    assert "\n" not in str(error) and "\r" not in str(error)


@pytest.mark.parametrize("value", ["line\nbreak", "x" * 5000, "\u2028"])
def test_problem_stays_one_line_for_nasty_values(value):
    with pytest.raises(ConfigError) as caught:
        load({"DB_CONNECTION": value})
    assert len(str(caught.value).splitlines()) == 1
    assert len(str(caught.value)) < 200


def test_every_validated_variable_is_in_the_bad_value_table():
    unvalidated = {"DB_USERNAME", "DB_PASSWORD", "PAYMENT_API_TOKEN", "APP_KEY", "LOG_FILE"}
    unvalidated.add("METRICS_TOKEN")
    unvalidated |= {
        "PAYMENT_DB_HOST",
        "PAYMENT_DB_DATABASE",
        "PAYMENT_DB_USERNAME",
        "PAYMENT_DB_PASSWORD",
    }
    assert {variable for variable, _, _ in BAD_VALUES} == set(VARIABLES) - unvalidated


def test_config_error_shape():
    error = ConfigError("DB_PORT", "'abc' is not a whole number")
    assert (error.variable, error.problem) == ("DB_PORT", "'abc' is not a whole number")
    assert str(error) == "DB_PORT: 'abc' is not a whole number"
    copy = pickle.loads(pickle.dumps(error))
    assert (copy.variable, copy.problem, str(copy)) == (error.variable, error.problem, str(error))


def test_choice_message():
    with pytest.raises(ConfigError, match=r"^DB_CONNECTION: 'pgsql' is not one of sqlite, mysql$"):
        load({"DB_CONNECTION": "pgsql"})


def test_queue_connection_message():
    with pytest.raises(ConfigError) as caught:
        load({"DB_QUEUE_CONNECTION": "mysql"})
    assert caught.value.problem == (
        "must be the same as DB_CONNECTION (progress is counted in the same transaction "
        "that removes the job)"
    )


# --------------------------------------------------------------------------- .env reader


def test_dotenv_basic_forms():
    text = (
        "# full-line comment\n"
        "\n"
        "   \n"
        "PLAIN=value\n"
        "SPACED  =   some value with spaces   \n"
        "export EXPORTED=yes\n"
        "export\tTABBED=1\n"
        "INLINE=abc # a comment\n"
        "HASH_IN_VALUE=abc#def\n"
        "HASH_FIRST=#fff\n"
        "ONLY_COMMENT= # nothing here\n"
        "EMPTY=\n"
        'EMPTY_DOUBLE=""\n'
        "EMPTY_SINGLE=''\n"
        "DOLLAR=pa$$word ${HOME}\n"
        "dotted.key_1=ok\n"
        "_UNDER=ok\n"
        "EQUALS=a=b=c\n"
        "  INDENTED=ok\n"
        "export=keyword as a key\n"
    )
    assert parse_dotenv(text) == {
        "PLAIN": "value",
        "SPACED": "some value with spaces",
        "EXPORTED": "yes",
        "TABBED": "1",
        "INLINE": "abc",
        "HASH_IN_VALUE": "abc#def",
        "HASH_FIRST": "#fff",
        "ONLY_COMMENT": "",
        "EMPTY": "",
        "EMPTY_DOUBLE": "",
        "EMPTY_SINGLE": "",
        "DOLLAR": "pa$$word ${HOME}",
        "dotted.key_1": "ok",
        "_UNDER": "ok",
        "EQUALS": "a=b=c",
        "INDENTED": "ok",
        "export": "keyword as a key",
    }


def test_dotenv_quotes_and_escapes():
    text = (
        "SINGLE='literal \\n # not a comment \"x\"'\n"
        'DOUBLE="tab\\there\\nnew \\"quoted\\" back\\\\slash"\n'
        'KEEP="C:\\data\\x"\n'
        'DOLLAR="\\$HOME"\n'
        'SPACES="  padded  "\n'
        'COMMENTED="a # b" # real comment\n'
        "TIGHT='x'#comment\n"
        'QUOTED_SPACE =   "v"   \n'
        "MIXED='it\"s'\n"
    )
    assert parse_dotenv(text) == {
        "SINGLE": 'literal \\n # not a comment "x"',
        "DOUBLE": 'tab\there\nnew "quoted" back\\slash',
        "KEEP": "C:\\data\\x",
        "DOLLAR": "$HOME",
        "SPACES": "  padded  ",
        "COMMENTED": "a # b",
        "TIGHT": "x",
        "QUOTED_SPACE": "v",
        "MIXED": 'it"s',
    }


def test_dotenv_multiline_double_quotes_keep_line_numbers():
    text = 'KEY="-----BEGIN-----\nline two\n-----END-----"\nNEXT=1\nBAD LINE\n'
    with pytest.raises(ConfigError, match="line 5:"):
        parse_dotenv(text)
    assert parse_dotenv(text.replace("BAD LINE\n", "")) == {
        "KEY": "-----BEGIN-----\nline two\n-----END-----",
        "NEXT": "1",
    }


def test_dotenv_crlf_and_bom():
    text = '\ufeffA=1\r\nB="x\r\ny"\r\n# c\r\nC=3 # c\r\nD=\r\n'
    assert parse_dotenv(text) == {"A": "1", "B": "x\ny", "C": "3", "D": ""}


def test_dotenv_last_duplicate_wins():
    assert parse_dotenv("A=1\nA=2\n") == {"A": "2"}


def test_dotenv_no_trailing_newline_and_empty_text():
    assert parse_dotenv("A=1") == {"A": "1"}
    assert parse_dotenv("") == {}
    assert parse_dotenv("\n\n# only comments\n") == {}


@pytest.mark.parametrize(
    ("text", "line", "fragment"),
    [
        ("A=1\nJUSTTEXT\n", 2, "no '='"),
        ("A=1\n\nexport B\n", 3, "no '='"),
        ("1ABC=x\n", 1, "'1ABC' is not a valid variable name"),
        ("MY KEY=x\n", 1, "'MY KEY' is not a valid variable name"),
        ("A-B=x\n", 1, "'A-B' is not a valid variable name"),
        ("=x\n", 1, "no variable name"),
        ('A=1\nB="unterminated\nC=3\n', 2, "unterminated double quote"),
        ("A='open\n", 1, "unterminated single quote"),
        ('A="x" trailing\n', 1, "unexpected text after the closing quote"),
        ("A='x'y\n", 1, "unexpected text after the closing quote"),
        ('A="multi\nline" junk\n', 2, "unexpected text after the closing quote"),
        ('A="ends with backslash\\', 1, "unterminated double quote"),
        ("A=1\r\nBAD\r\n", 2, "no '='"),
    ],
)
def test_dotenv_malformed_lines(text, line, fragment):
    with pytest.raises(ConfigError) as caught:
        parse_dotenv(text, source="conf/.env")
    assert caught.value.variable == "conf/.env"
    assert caught.value.problem.startswith(f"line {line}: ")
    assert fragment in caught.value.problem
    assert len(str(caught.value).splitlines()) == 1


def test_dotenv_export_alone_is_a_key():
    assert parse_dotenv("export =x\nOK=1\n") == {"export": "x", "OK": "1"}


def test_dotenv_error_uses_default_source_name():
    with pytest.raises(ConfigError) as caught:
        parse_dotenv("oops\n")
    assert str(caught.value) == ".env: line 1: no '=' (expected KEY=value)"


def test_malformed_env_file_stops_loading(tmp_path):
    env_file = write_env(tmp_path, "SYNC_WORKERS=4\nBROKEN\n")
    with pytest.raises(ConfigError) as caught:
        load(env_file=env_file)
    assert caught.value.variable == str(env_file)
    assert caught.value.problem.startswith("line 2: ")


def test_bad_value_in_env_file_names_the_variable(tmp_path):
    env_file = write_env(tmp_path, "DB_PORT=abc\n")
    with pytest.raises(ConfigError, match=r"^DB_PORT: 'abc' is not a whole number$"):
        load(env_file=env_file)


def test_env_file_that_is_a_directory(tmp_path, monkeypatch):
    (tmp_path / ".env").mkdir()
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError) as caught:
        load_settings(environ={})
    assert caught.value.variable == ".env"
    assert caught.value.problem.startswith("cannot read")


def test_env_file_that_is_not_utf8(tmp_path):
    env_file = tmp_path / ".env"
    env_file.write_bytes(b"A=\xff\xfe\n")
    with pytest.raises(ConfigError) as caught:
        load(env_file=env_file)
    assert caught.value.problem.startswith("cannot read")


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root reads all")
def test_env_file_without_permission(tmp_path):
    env_file = write_env(tmp_path, "A=1\n")
    env_file.chmod(0)
    try:
        with pytest.raises(ConfigError, match="cannot read"):
            load(env_file=env_file)
    finally:
        env_file.chmod(0o600)


def test_env_file_with_bom_and_crlf(tmp_path):
    env_file = tmp_path / ".env"
    env_file.write_bytes("\ufeffSYNC_WORKERS=5\r\nLOG_LEVEL=debug\r\n".encode())
    s = load(env_file=env_file)
    assert (s.sync_workers, s.log_level) == (5, "debug")


FRAGMENTS = st.sampled_from(
    [
        "A",
        "B_1",
        "export ",
        "=",
        "'",
        '"',
        "\\",
        "#",
        " ",
        "\t",
        "\n",
        "\r\n",
        "\r",
        "x",
        "$",
        "\ufeff",
        "1",
        ".",
        "\\n",
        '\\"',
        "é",
        "\0",
    ]
)


@settings(max_examples=400, deadline=None)
@given(st.one_of(st.text(), st.lists(FRAGMENTS, max_size=40).map("".join)))
def test_parse_dotenv_returns_a_dict_or_raises_config_error(text):
    try:
        result = parse_dotenv(text)
    except ConfigError as error:
        assert error.variable == ".env"
        assert re.match(r"line [0-9]+: ", error.problem)
        assert len(str(error).splitlines()) == 1
    else:
        assert isinstance(result, dict)
        assert all(isinstance(k, str) and isinstance(v, str) for k, v in result.items())
        assert all(re.fullmatch(r"[A-Za-z_][A-Za-z0-9_.]*", key) for key in result)


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.sampled_from(VARIABLES), st.text(max_size=20), max_size=6))
def test_load_settings_returns_settings_or_raises_config_error(overrides):
    try:
        assert isinstance(load(overrides), Settings)
    except ConfigError as error:
        assert error.variable in VARIABLES
        assert len(str(error).splitlines()) == 1


# --------------------------------------------------------------------------- .env.example


def example_names(text: str) -> list[str]:
    return re.findall(r"^(?:# ?)?([A-Z][A-Z0-9_]*)=", text, flags=re.MULTILINE)


def test_env_example_lists_every_variable_in_order():
    text = (REPO / ".env.example").read_text(encoding="utf-8")
    assert example_names(text) == list(VARIABLES)


def test_env_example_comments_every_variable():
    lines = (REPO / ".env.example").read_text(encoding="utf-8").splitlines()
    for index, line in enumerate(lines):
        if re.match(r"^(?:# ?)?[A-Z][A-Z0-9_]*=", line):
            above = lines[index - 1]
            assert above.startswith("# ") and not re.match(r"^# ?[A-Z][A-Z0-9_]*=", above), line


def test_env_example_loads_and_gives_the_defaults():
    path = REPO / ".env.example"
    values = parse_dotenv(path.read_text(encoding="utf-8"), source=".env.example")
    assert set(values) <= set(VARIABLES)
    assert load(env_file=path) == Settings()
    commented = dict(
        re.findall(r"^# ?([A-Z][A-Z0-9_]*)=(.*)$", path.read_text(encoding="utf-8"), re.MULTILINE)
    )
    for name, value in {**values, **commented}.items():
        assert (SPEC_DEFAULTS | EXTRA_DEFAULTS)[name] == value, name


def test_env_file_permission_error_is_reported(tmp_path, monkeypatch):
    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr("syncpay.config.dotenv.open", refuse, raising=False)
    with pytest.raises(ConfigError) as caught:
        load(env_file=tmp_path / ".env")
    assert caught.value.problem == "cannot read: permission denied"
