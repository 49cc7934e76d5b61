"""Our `.env` reader: ``KEY=value`` lines, quotes, escapes and comments, each mistake
reported as ``ConfigError(file, "line N: …")``."""

from __future__ import annotations

import os
import re

from .errors import ConfigError, show

_ENTRY = re.compile(r"[ \t]*(?:export[ \t]+)?([A-Za-z_][A-Za-z0-9_.]*)[ \t]*=")
_INLINE_COMMENT = re.compile(r"[ \t]#")
_ESCAPES = {"n": "\n", "t": "\t", '"': '"', "\\": "\\", "$": "$"}


def parse_dotenv(text: str, source: str = ".env") -> dict[str, str]:
    """Parse the text of a `.env` file; raise `ConfigError(source, "line N: …")`."""
    text = text.removeprefix("\ufeff").replace("\r\n", "\n").replace("\r", "\n")
    result: dict[str, str] = {}
    pos, line_no, size = 0, 1, len(text)
    while pos < size:
        end = text.find("\n", pos)
        end = size if end < 0 else end
        line = text[pos:end]
        stripped = line.strip(" \t")
        if not stripped or stripped.startswith("#"):
            pos, line_no = end + 1, line_no + 1
            continue
        match = _ENTRY.match(line)
        if match is None:
            raise ConfigError(source, f"line {line_no}: {_diagnose(line)}")
        key = match.group(1)
        after_eq = pos + match.end()
        start = after_eq
        while start < end and text[start] in " \t":
            start += 1
        if start < end and text[start] in "'\"":
            value, close = _read_quoted(text, start)
            if close < 0:
                kind = "double" if text[start] == '"' else "single"
                raise ConfigError(source, f"line {line_no}: unterminated {kind} quote")
            line_no += text.count("\n", start, close)
            end = text.find("\n", close)
            end = size if end < 0 else end
            rest = text[close:end].strip(" \t")
            if rest and not rest.startswith("#"):
                problem = f"unexpected text after the closing quote: {show(rest)}"
                raise ConfigError(source, f"line {line_no}: {problem}")
        else:
            value = text[after_eq:end]
            comment = _INLINE_COMMENT.search(value)
            if comment is not None:
                value = value[: comment.start()]
            value = value.strip(" \t")
        result[key] = value
        pos, line_no = end + 1, line_no + 1
    return result


def _read_quoted(text: str, start: int) -> tuple[str, int]:
    """Read the quoted value opening at `start`; return it and the index after the
    closing quote, or ("", -1) when the quote is never closed."""
    if text[start] == "'":
        close = text.find("'", start + 1)
        return ("", -1) if close < 0 else (text[start + 1 : close], close + 1)
    parts: list[str] = []
    i = start + 1
    while i < len(text):
        char = text[i]
        if char == '"':
            return "".join(parts), i + 1
        if char == "\\" and i + 1 < len(text) and text[i + 1] in _ESCAPES:
            parts.append(_ESCAPES[text[i + 1]])
            i += 2
            continue
        parts.append(char)
        i += 1
    return "", -1


def _diagnose(line: str) -> str:
    if "=" not in line:
        return "no '=' (expected KEY=value)"
    key = line.split("=", 1)[0].strip(" \t")
    if key.startswith("export") and key[6:7] in (" ", "\t"):
        key = key[6:].strip(" \t")
    if not key:
        return "no variable name before '='"
    return f"{show(key)} is not a valid variable name (letters, digits, _ and .)"


def read_env_file(env_file: str | os.PathLike[str]) -> dict[str, str]:
    source = os.fspath(env_file)
    try:
        with open(env_file, "rb") as handle:
            data = handle.read()
    except FileNotFoundError:
        return {}
    except IsADirectoryError:
        raise ConfigError(source, "cannot read: it is a directory") from None
    except PermissionError:
        raise ConfigError(source, "cannot read: permission denied") from None
    except OSError as error:
        raise ConfigError(source, f"cannot read: {error.strerror or error}") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise ConfigError(source, f"cannot read: not UTF-8 text (byte {error.start})") from None
    return parse_dotenv(text, source)
