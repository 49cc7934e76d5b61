"""``python -m syncpay.pyz``: build ``dist/syncpay.pyz``, syncpay in one file.

The archive carries syncpay and its runtime dependencies (aiohttp, aiosqlite, aiomysql
and what they need), taken from the packages installed in this environment, so no
network is needed. A school server with only Python 3.11+ runs it::

    python3 syncpay.pyz --demo
    python3 syncpay.pyz serve --workers 8      # every `syncpay COMMAND` works the same

Two ways to carry the dependencies (see docs/deploy-pyz.md for the measured choice):

- ``pure`` (default): their pure-Python code only, switched to it by the archive's
  ``__main__`` (:mod:`syncpay._pyz_main`). Runs on any CPU and libc.
- ``native`` (``--native``): their compiled modules too, unpacked once to a cache
  directory on first run. Only for the Python version and platform it was built on.

Each module is also stored compiled for this Python (unchecked-hash ``.pyc``, beside its
source, where zipimport looks), so start-up does not compile aiohttp each time; another
Python version ignores them and compiles the sources. The build is reproducible: the
same inputs give a byte-identical file (sorted entries, fixed timestamps, bytecode
compiled with a fixed hash seed).
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import os
import re
import stat
import subprocess
import sys
import sysconfig
import tempfile
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from . import _pyz_main

#: The runtime dependencies (setup.cfg install_requires); what they need is followed.
ROOTS = ("aiohttp", "aiosqlite", "aiomysql")
SHEBANG = b"#!/usr/bin/env python3\n"
DEFAULT_OUTPUT = Path("dist") / "syncpay.pyz"
#: Zip entries' timestamp (the earliest a zip can hold).
EPOCH = (1980, 1, 1, 0, 0, 0)
#: Not needed at run time (type stubs, Cython and C sources, headers, build records).
SKIP_SUFFIXES = (".pyi", ".pyx", ".pxd", ".pxi", ".c", ".h", ".cpp", ".pyc", ".pyo", ".typed")
COMPILED_SUFFIXES = (".so", ".pyd", ".dylib")
#: Kept from each ``*.dist-info`` (importlib.metadata reads METADATA; licences travel).
#: The end of the archive's ``__main__`` (after the text of :mod:`syncpay._pyz_main`):
#: make the dependencies importable, then run the command line. Here, not in
#: ``_pyz_main.py``, so that module (which the web application uses) imports nothing of ours.
LAUNCH = """

if __name__ == "__main__":
    prepare()
    from syncpay.cli import main

    sys.exit(main())
"""
DIST_INFO_KEEP = re.compile(
    r"^(METADATA|top_level\.txt|licenses/.+|(LICEN[CS]E|COPYING|NOTICE|AUTHORS)[^/]*)$"
)

_COMPILER = """
import json, py_compile, sys
for source, target, shown in json.load(sys.stdin):
    py_compile.compile(source, cfile=target, dfile=shown, doraise=True,
                       invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH)
"""


class BuildError(Exception):
    """The archive cannot be built (a dependency is missing, two packages clash…)."""


@dataclass(frozen=True, slots=True)
class Entry:
    """One file of the archive: its name inside and where its bytes come from."""

    name: str
    source: Path


@dataclass(frozen=True, slots=True)
class Built:
    path: Path
    mode: str
    size: int
    files: int
    distributions: tuple[str, ...]


# --- what goes in ------------------------------------------------------------------------


def _requirement_name(requirement: str) -> tuple[str, str]:
    """``'yarl<2.0,>=1.25; python_version < "3.13"'`` → ``('yarl', 'python_version …')``."""
    spec, _, marker = requirement.partition(";")
    found = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)", spec)
    if found is None:
        raise BuildError(f"cannot read the requirement {requirement!r}")
    return found.group(1), marker.strip()


def distributions(roots: Iterable[str] = ROOTS) -> list[importlib.metadata.Distribution]:
    """The installed distributions syncpay needs at run time: ``roots`` and their
    requirements, recursively. A requirement that holds only for some extra is left
    out; one under another marker (``python_version < "3.11"``) is taken if installed."""
    found: dict[str, importlib.metadata.Distribution] = {}
    todo: list[tuple[str, str]] = [(name, "") for name in roots]
    while todo:
        name, marker = todo.pop()
        key = re.sub(r"[-_.]+", "-", name).lower()
        if key in found:
            continue
        try:
            dist = importlib.metadata.distribution(name)
        except importlib.metadata.PackageNotFoundError:
            if marker:
                continue  # not for this Python (e.g. async-timeout before 3.11)
            raise BuildError(f"{name} is not installed (pip install -e .)") from None
        found[key] = dist
        for requirement in dist.requires or ():
            child, child_marker = _requirement_name(requirement)
            if "extra" not in child_marker:
                todo.append((child, child_marker))
    return [found[key] for key in sorted(found)]


def _dependency_entries(dist: importlib.metadata.Distribution, native: bool) -> list[Entry]:
    entries = []
    for file in dist.files or ():
        parts = file.parts
        if not parts or parts[0] == ".." or "__pycache__" in parts:
            continue  # scripts in bin/, bytecode of the installing Python
        name = "/".join(parts)
        if parts[0].endswith(".dist-info"):
            if not DIST_INFO_KEEP.match("/".join(parts[1:])):
                continue
        elif name.endswith(SKIP_SUFFIXES) or (name.endswith(COMPILED_SUFFIXES) and not native):
            continue
        source = Path(str(dist.locate_file(file)))
        if not source.is_file():
            raise BuildError(f"{dist.metadata['Name']}: {name} is listed but missing")
        entries.append(Entry(name, source))
    return entries


def syncpay_entries() -> list[Entry]:
    """syncpay's own files: the modules and every data file read at run time."""
    package = Path(__file__).resolve().parent
    entries = []
    for path in sorted(package.rglob("*")):
        rel = path.relative_to(package)
        if (
            not path.is_file()
            or "__pycache__" in rel.parts
            or any(part.startswith(".") for part in rel.parts)
            or path.name.endswith(("~", ".pyc", ".pyo", *COMPILED_SUFFIXES))
        ):
            continue
        entries.append(Entry("syncpay/" + rel.as_posix(), path))
    return entries


# --- building ----------------------------------------------------------------------------


def _compile(entries: list[Entry], workdir: Path, shown_prefix: str) -> dict[str, Path]:
    """Archive name of each ``.pyc`` → its compiled file, for every ``.py`` in ``entries``
    (compiled by a fresh interpreter with a fixed hash seed, so the bytes repeat)."""
    jobs: list[tuple[str, str, str]] = []
    result: dict[str, Path] = {}
    for index, entry in enumerate(entries):
        if not entry.name.endswith(".py"):
            continue
        target = workdir / f"{index}.pyc"
        jobs.append((str(entry.source), str(target), shown_prefix + entry.name))
        result[entry.name] = target
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    env["PYTHONHASHSEED"] = "0"
    done = subprocess.run(
        [sys.executable, "-s", "-c", _COMPILER],
        input=json.dumps(jobs),
        env=env,
        text=True,
        capture_output=True,
        check=False,
    )
    if done.returncode != 0:
        lines = done.stderr.strip().splitlines() or ["(no message)"]
        raise BuildError(f"compiling the modules failed: {lines[-1]}")
    return result


def _pyc_name(name: str, native: bool) -> str:
    """Where the bytecode of ``name`` goes: beside it inside the zip (zipimport), in
    ``__pycache__`` when it is unpacked to a real directory (the file-system loader)."""
    if not native:
        return name + "c"
    folder, _, module = name.rpartition("/")
    tag = sys.implementation.cache_tag
    return f"{folder}/__pycache__/{module[:-3]}.{tag}.pyc" if folder else f"__pycache__/{name}c"


def _main_source(native_digest: str, native: bool) -> bytes:
    text = Path(_pyz_main.__file__).read_text(encoding="utf-8")
    values = {
        "MODE": "native" if native else "pure",
        "NATIVE_DIGEST": native_digest,
        "NATIVE_EXT_SUFFIX": sysconfig.get_config_var("EXT_SUFFIX") if native else "",
    }
    for key, value in values.items():
        text, count = re.subn(rf"^{key} = .*$", f"{key} = {value!r}", text, count=1, flags=re.M)
        if count != 1:
            raise BuildError(f"_pyz_main.py has no line `{key} = …`")
    return (text.rstrip("\n") + "\n" + LAUNCH).encode("utf-8")


def _zipinfo(name: str) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name, EPOCH)
    info.create_system = 3  # Unix, so the mode below is honoured
    info.external_attr = (stat.S_IFREG | 0o644) << 16
    info.compress_type = zipfile.ZIP_DEFLATED
    return info


def build(
    output: Path = DEFAULT_OUTPUT, *, native: bool = False, compile_bytecode: bool = True
) -> Built:
    """Write the archive to ``output`` (replaced atomically)."""
    dists = distributions()
    deps: list[Entry] = []
    for dist in dists:
        deps.extend(_dependency_entries(dist, native))
    own = syncpay_entries()
    prefix = _pyz_main.NATIVE_PREFIX if native else ""
    files: dict[str, bytes | Path] = {}
    for entry in own:
        files[entry.name] = entry.source
    for entry in deps:
        name = prefix + entry.name
        if name in files:
            raise BuildError(f"two packages bring {entry.name}")
        files[name] = entry.source
    with tempfile.TemporaryDirectory(prefix="syncpay-pyz-") as work:
        if compile_bytecode:
            shown = "syncpay.pyz/"  # the file name tracebacks show (fixed: reproducible)
            (Path(work) / "own").mkdir()
            (Path(work) / "deps").mkdir()
            for name, pyc in _compile(own, Path(work) / "own", shown).items():
                files[name + "c"] = pyc
            for name, pyc in _compile(deps, Path(work) / "deps", shown).items():
                files[prefix + _pyc_name(name, native)] = pyc
        native_digest = ""
        if native:
            names = sorted(n for n in files if n.startswith(prefix))
            native_digest = _pyz_main.digest_of((n[len(prefix) :], _read(files[n])) for n in names)
        files["__main__.py"] = _main_source(native_digest, native)
        output.parent.mkdir(parents=True, exist_ok=True)
        temporary = output.with_name(f".{output.name}.{os.getpid()}.tmp")
        try:
            with open(temporary, "wb") as fh:
                fh.write(SHEBANG)
                with zipfile.ZipFile(fh, "w", compresslevel=9) as zf:
                    for name in sorted(files):
                        zf.writestr(_zipinfo(name), _read(files[name]))
            temporary.chmod(0o755)
            os.replace(temporary, output)
        finally:
            temporary.unlink(missing_ok=True)
    versions = tuple(f"{d.metadata['Name']} {d.version}" for d in dists)
    kind = "native" if native else "pure"
    return Built(output, kind, output.stat().st_size, len(files), versions)


def _read(source: bytes | Path) -> bytes:
    return source if isinstance(source, bytes) else source.read_bytes()


# --- running from the archive ------------------------------------------------------------


# --- command line ------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m syncpay.pyz",
        description="Build syncpay and its dependencies into one runnable file.",
    )
    parser.add_argument(
        "-o", "--output", type=Path, default=DEFAULT_OUTPUT, help="default: dist/syncpay.pyz"
    )
    parser.add_argument(
        "--native",
        action="store_true",
        help="carry the compiled dependencies (this Python and platform only), unpacked "
        "to ~/.cache/syncpay on first run",
    )
    parser.add_argument(
        "--no-compile", action="store_true", help="leave out the bytecode (smaller, slower start)"
    )
    args = parser.parse_args(argv)
    try:
        built = build(args.output, native=args.native, compile_bytecode=not args.no_compile)
    except (BuildError, OSError) as exc:
        print(f"syncpay.pyz: {exc}", file=sys.stderr)
        return 1
    print(
        f"{built.path}: {built.size / 1e6:.1f} MB, {built.files} files, {built.mode} "
        f"({', '.join(built.distributions)})"
    )
    print(f"Run it: python3 {built.path} --demo")
    return 0


if __name__ == "__main__":
    sys.exit(main())
