"""The documentation agrees with the code: every setting is documented with its default,
every relative link leads somewhere, every ``syncpay COMMAND`` (and its ``--flags``)
exists, and the systemd units under docs/deploy/ verify."""

from __future__ import annotations

import ast
import re
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

from syncpay.cli.app import build_parser
from syncpay.cli.base import COMMANDS
from syncpay.config import VARIABLES, Settings
from syncpay.config.settings import DERIVED

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
DEPLOY = DOCS / "deploy"
PAGES = [*sorted(DOCS.glob("*.md")), ROOT / "README.md"]
CONFIGURATION = DOCS / "configuration.md"

FENCE = re.compile(r"^([ \t]*)(```+|~~~+)([^\n]*)\n(.*?)^[ \t]*\2[ \t]*$", re.S | re.M)
INLINE_CODE = re.compile(r"(`+)(.+?)\1", re.S)
LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
SHELL_LANGUAGES = {"bash", "sh", "shell", "console", "text", ""}
#: Where the program's name stands in a command line: ``syncpay``, ``…/bin/syncpay``,
#: ``…/syncpay.pyz``, ``python run.py``, ``python -m syncpay``.
PROGRAM = re.compile(
    r"(?:(?<=\s)|(?<=^)|(?<=[`(]))"
    r"(?:(?:\S*/bin/)?syncpay|(?:\S*/)?syncpay\.pyz|python3? run\.py|python3? -m syncpay)"
    r"(?=\s|$)",
    re.M,
)
COMMAND_NAME = re.compile(r"[a-z][a-z-]*(?::[a-z-]+)?")
GLOBAL_FLAGS = {"-v", "-vv", "--verbose", "-q", "--quiet", "--env-file"}
SHELL_END = {"&&", "||", "|", ";", ">", ">>", "2>&1", "2>/dev/null", "&", "#", "\\"}


def _text(page: Path) -> str:
    return page.read_text(encoding="utf-8")


def _without_code(text: str) -> str:
    return INLINE_CODE.sub("", FENCE.sub("", text))


# --------------------------------------------------------------------------- settings


def _config_rows() -> dict[str, str]:
    """``VARIABLE`` → its default cell, from the tables of configuration.md."""
    rows: dict[str, str] = {}
    for line in _text(CONFIGURATION).splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) >= 3 and re.fullmatch(r"`[A-Z][A-Z0-9_]*`", cells[0]):
            name = cells[0].strip("`")
            assert name not in rows, f"{name} has two rows in configuration.md"
            rows[name] = cells[1]
    return rows


def test_every_variable_is_documented_with_its_default() -> None:
    rows = _config_rows()
    defaults = Settings().redacted()  # variable → default as text (no secret is set)
    missing = [name for name in VARIABLES if name not in rows]
    assert not missing, f"not in docs/configuration.md: {missing}"
    for name in VARIABLES:
        cell = rows[name]
        if name.lower() in DERIVED:
            # "= SYNC_TIMEOUT + 60": names the setting it follows
            others = [v for v in VARIABLES if v != name and re.search(rf"\b{v}\b", cell)]
            assert others, f"{name}: a derived default should name its source: {cell!r}"
        elif defaults[name] == "":
            assert cell == "empty", f"{name}: the default is empty, the docs say {cell!r}"
        else:
            assert cell == f"`{defaults[name]}`", (
                f"{name}: the default is {defaults[name]!r}, the docs say {cell!r}"
            )


def test_no_unknown_variable_is_documented() -> None:
    unknown = sorted(set(_config_rows()) - set(VARIABLES))
    assert not unknown, f"docs/configuration.md documents variables that do not exist: {unknown}"


#: Settings that no module but config/ needs to read, each with the reason.
UNREAD_SETTINGS: dict[str, str] = {
    # SPEC's settings table names it; the queue shares the application's database (its
    # acks count progress in the same transaction), so config/ only checks that it
    # equals DB_CONNECTION and refuses any other value.
    "DB_QUEUE_CONNECTION": "checked by config/ to equal DB_CONNECTION",
}


def _attributes_read(package: Path) -> dict[str, set[str]]:
    """Attribute name → the modules under ``package`` (config/ left out) that read it."""
    found: dict[str, set[str]] = {}
    for module in sorted(package.rglob("*.py")):
        if package / "config" in module.parents:
            continue
        for node in ast.walk(ast.parse(_text(module), str(module))):
            if isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Load):
                found.setdefault(node.attr, set()).add(module.relative_to(ROOT).as_posix())
    return found


def test_every_setting_is_read_by_the_code() -> None:
    """A setting in docs/configuration.md that nothing reads would be a promise the code
    does not keep (as ``SYNC_CHUNK`` was; that it sizes the dispatch is proven by
    test_sync.py::test_sync_chunk_sizes_the_dispatch_transactions)."""
    read = _attributes_read(ROOT / "syncpay")
    names = sorted(set(VARIABLES) | set(_config_rows()))
    unread = [n for n in names if n.lower() not in read and n not in UNREAD_SETTINGS]
    assert not unread, f"settings no module under syncpay/ reads: {unread}"
    stale = [n for n in UNREAD_SETTINGS if n.lower() in read or n not in VARIABLES]
    assert not stale, f"UNREAD_SETTINGS lists settings that are read or gone: {stale}"


# --------------------------------------------------------------------------- links


def _slug(heading: str) -> str:
    """GitHub's anchor for a heading."""
    text = re.sub(r"[`*_]", "", heading.strip().lower())
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def _anchors(page: Path) -> set[str]:
    text = FENCE.sub("", _text(page))
    return {_slug(m.group(1)) for m in re.finditer(r"^#{1,6}\s+(.+?)\s*#*$", text, re.M)}


def _links(page: Path) -> list[str]:
    return [m.group(1) for m in LINK.finditer(_without_code(_text(page)))]


def test_pages_are_found() -> None:
    names = {p.name for p in PAGES}
    for name in ("install.md", "configuration.md", "sources.md", "deploy.md"):
        assert name in names
    assert ROOT / "README.md" in PAGES


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_relative_links_point_to_existing_files(page: Path) -> None:
    broken = []
    for target in _links(page):
        if re.match(r"[a-z][a-z0-9+.-]*:", target, re.I):  # https:, mailto:, …
            continue
        path, _, anchor = target.partition("#")
        resolved = (page.parent / path).resolve() if path else page
        if not resolved.exists():
            broken.append(f"{target} (no {resolved.relative_to(ROOT)})")
        elif anchor and resolved.suffix == ".md" and anchor not in _anchors(resolved):
            broken.append(f"{target} (no heading #{anchor} in {resolved.name})")
    assert not broken, f"{page.name}: broken links: {broken}"


# --------------------------------------------------------------------------- commands


def _command_lines(text: str) -> list[str]:
    """Lines that may hold a command: inline code spans and shell-like code blocks
    (in ``text`` / ``console`` blocks only the lines typed at a ``$`` prompt)."""
    lines: list[str] = []
    for fence in FENCE.finditer(text):
        indent, language = len(fence.group(1)), fence.group(3).strip().lower()
        if language not in SHELL_LANGUAGES:
            continue
        body = [line[indent:] for line in fence.group(4).splitlines()]
        if language in ("text", "console", ""):
            body = [line[2:] for line in body if line.startswith("$ ")]
        lines.extend(body)
    lines.extend(m.group(2) for m in INLINE_CODE.finditer(FENCE.sub("", text)))
    return lines


def _invocations(line: str) -> list[list[str]]:
    """The argument lists following each ``syncpay`` in a line (up to a shell operator)."""
    found = []
    for match in PROGRAM.finditer(line):
        before = line[: match.start()].split()
        if before and before[-1].startswith("-"):
            continue  # another program's option value: `sudo -u syncpay`, `python -m …`
        rest = line[match.end() :]
        try:
            words = shlex.split(rest, comments=True)
        except ValueError:
            words = rest.split()
        args: list[str] = []
        for word in words:
            if word in SHELL_END or word.startswith(("&&", "||", "|", ">", ";")):
                break
            args.append(word)
        found.append(args)
    return found


def _options() -> dict[str, set[str]]:
    """Command name or alias → the option strings its parser accepts."""
    parser = build_parser()
    sub = next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction")
    options: dict[str, set[str]] = {}
    for name, child in sub.choices.items():
        options[name] = set(child._option_string_actions)
    return options


def _check(args: list[str], options: dict[str, set[str]]) -> str | None:
    """What is wrong with one documented invocation, or None."""
    i = 0
    while i < len(args) and args[i].split("=", 1)[0] in GLOBAL_FLAGS:
        i += 2 if args[i] == "--env-file" else 1
    if i >= len(args):
        return None
    first = args[i]
    if first.startswith("-"):
        # No command: serve. Its flags are not checked, as `syncpay.pyz --native` also
        # names a variant of the single-file build in prose.
        return None
    if COMMAND_NAME.fullmatch(first):
        if first not in options:
            return f"unknown command {first!r}"
    else:
        return None  # not a command line (a path, a placeholder, …)
    for flag in args[i + 1 :]:
        if flag.startswith("--") and len(flag) > 2:
            option = flag.split("=", 1)[0]
            if option not in options[first]:
                return f"{first}: unknown option {option!r}"
    return None


def _documents() -> list[Path]:
    return PAGES + sorted(p for p in DEPLOY.iterdir() if p.is_file())


def test_every_documented_command_exists() -> None:
    options = _options()
    names = {n for c in COMMANDS.values() for n in (c.name, *c.aliases)}
    assert names <= set(options)
    problems = []
    for page in _documents():
        text = _text(page)
        if page.suffix == ".md":
            lines = _command_lines(text)
        else:  # unit files and configs: the command lines they run
            lines = re.findall(r"^\s*[#;]?\s*(?:ExecStart|command)=(.*)$", text, re.M)
        for line in lines:
            for args in _invocations(line):
                problem = _check(args, options)
                if problem:
                    problems.append(f"{page.relative_to(ROOT)}: {line.strip()!r}: {problem}")
    assert not problems, "\n".join(problems)


def test_the_command_check_catches_mistakes() -> None:
    options = _options()
    assert _check(["queue:monitr"], options) == "unknown command 'queue:monitr'"
    assert _check(["migrate", "--stats"], options) == "migrate: unknown option '--stats'"
    assert _check(["--demo"], options) is None
    assert _check(["--workers", "8"], options) is None
    assert _check(["-q", "work", "--stop-when-empty"], options) is None
    assert _check(["--env-file", "x.env", "sync", "--unit", "SMP"], options) is None
    assert _invocations("cd /srv && /srv/syncpay/venv/bin/syncpay migrate --status | less") == [
        ["migrate", "--status"]
    ]
    assert _invocations("python3 syncpay.pyz serve --workers 8") == [["serve", "--workers", "8"]]
    assert _invocations("import syncpay") == [[]]
    assert _invocations("sudo -u syncpay /srv/syncpay/venv/bin/syncpay migrate") == [["migrate"]]
    assert _invocations("useradd --home-dir /srv/syncpay --shell /bin/false syncpay") == [[]]
    assert _invocations("python -m syncpay.pyz --native") == []


# --------------------------------------------------------------------------- unit files

UNITS = sorted(DEPLOY.glob("*.service"))


def test_unit_files_exist() -> None:
    assert {u.name for u in UNITS} >= {"syncpay.service", "syncpay-worker@.service"}


@pytest.mark.parametrize("unit", UNITS, ids=lambda u: u.name)
def test_unit_files_verify(unit: Path, tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed")
    # A template is verified through an instance of it.
    name = unit.name.replace("@.", "@1.")
    copy = tmp_path / name
    copy.write_text(_text(unit), encoding="utf-8")
    result = subprocess.run(
        [analyze, "verify", "--man=no", str(copy)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    problems = []
    for line in (result.stdout + result.stderr).splitlines():
        missing = re.search(r"Command (\S+) is not executable: No such file or directory", line)
        if missing and not Path(missing.group(1)).exists():
            continue  # the paths of the target machine (/srv/syncpay/venv/…) are not here
        if line.strip():
            problems.append(line)
    assert not problems, f"{unit.name}:\n" + "\n".join(problems)


RUN_AS = re.compile(r"^\s*(?:User|user)\s*=\s*(\S+)", re.M)


@pytest.mark.parametrize("file", sorted(DEPLOY.iterdir()), ids=lambda f: f.name)
def test_a_file_that_runs_as_a_user_says_how_to_create_it(file: Path) -> None:
    """A unit or Supervisor file naming ``User=x`` tells, in itself, how to make ``x``.

    Copied alone to /etc, a file whose user does not exist fails to start with a message
    that does not name the cause.
    """
    text = _text(file)
    for user in set(RUN_AS.findall(text)):
        assert re.search(rf"useradd\b[^\n]*\b{re.escape(user)}\s*$", text, re.M), (
            f"{file.name} runs as {user!r} but does not say how to create that user"
        )
