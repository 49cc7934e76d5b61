"""The ``__main__`` of ``syncpay.pyz`` (written into the archive by ``python -m syncpay.pyz``).

``python3 syncpay.pyz COMMAND …`` runs ``syncpay COMMAND …``: the archive's ``__main__``
is this file followed by the launch lines of the builder (``syncpay.pyz.LAUNCH``:
:func:`prepare`, then the command line). This file uses the standard library only and
imports nothing of syncpay: it runs before the dependencies can be imported, and the web
application imports it for :func:`unpacked` (so imports keep flowing one way).

- ``pure`` archives (the default) carry the dependencies' pure-Python code; the switches
  below tell aiohttp, multidict, yarl, frozenlist and propcache not to look for their
  compiled modules (a compiled module cannot be loaded from inside a zip).
- ``native`` archives carry the compiled dependencies under ``_native/``; they are
  unpacked once to ``~/.cache/syncpay/native-<digest>/`` (checked against the digest the
  builder recorded, then renamed into place, so a crash or a second process never sees
  half a directory) and put first on ``sys.path``.

:func:`unpacked` (built on :func:`unpack`) gives the web application the static files
as a real directory, which aiohttp serves.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import sys
import sysconfig
import tempfile
import zipfile
from collections.abc import Callable, Iterable
from importlib.resources.abc import Traversable
from pathlib import Path

#: Written by the builder.
MODE = "pure"
NATIVE_DIGEST = ""
NATIVE_EXT_SUFFIX = ""
NATIVE_PREFIX = "_native/"

#: The environment variables that make the dependencies use their pure-Python code.
PURE_SWITCHES = (
    "AIOHTTP_NO_EXTENSIONS",
    "MULTIDICT_NO_EXTENSIONS",
    "YARL_NO_EXTENSIONS",
    "FROZENLIST_NO_EXTENSIONS",
    "PROPCACHE_NO_EXTENSIONS",
)
#: Inside an unpacked directory: one ``<size> <name>`` line per file, written last.
MANIFEST = ".syncpay-manifest"

Member = tuple[str, Callable[[], bytes]]


class DamagedArchive(RuntimeError):
    """What was unpacked does not match the digest recorded at build time."""


def cache_roots() -> list[Path]:
    """Where unpacked copies go, best first: ``SYNCPAY_CACHE_DIR``, the user's cache
    directory, then a per-user folder in the temporary directory."""
    roots: list[Path] = []
    given = os.environ.get("SYNCPAY_CACHE_DIR")
    if given:
        roots.append(Path(given))
    xdg = os.environ.get("XDG_CACHE_HOME")
    if xdg:
        roots.append(Path(xdg) / "syncpay")
    else:
        try:
            roots.append(Path.home() / ".cache" / "syncpay")
        except RuntimeError:  # no home directory
            pass
    uid = os.getuid() if hasattr(os, "getuid") else "user"
    roots.append(Path(tempfile.gettempdir()) / f"syncpay-{uid}")
    return roots


def digest_of(members: Iterable[tuple[str, bytes]]) -> str:
    """sha256 over the names and contents, in the given order."""
    total = hashlib.sha256()
    for name, data in members:
        total.update(name.encode("utf-8") + b"\0")
        total.update(hashlib.sha256(data).digest())
    return total.hexdigest()


def _complete(target: Path) -> bool:
    try:
        lines = (target / MANIFEST).read_text(encoding="utf-8").splitlines()
    except OSError:
        return False
    for line in lines:
        size, _, name = line.partition(" ")
        try:
            if (target / name).stat().st_size != int(size):
                return False
        except (OSError, ValueError):
            return False
    return True


def unpack(name: str, digest: str, members: Iterable[Member]) -> Path:
    """``<cache>/<name>-<digest[:16]>/`` holding ``members`` (relative name → reader).

    Made once: an existing complete copy is reused. A new copy is written to a temporary
    folder beside it, checked against ``digest`` and renamed into place."""
    errors: list[str] = []
    for root in cache_roots():
        target = root / f"{name}-{digest[:16]}"
        if _complete(target):
            return target
        try:
            root.mkdir(parents=True, exist_ok=True)
            _write(root, target, digest, members)
        except OSError as exc:
            errors.append(f"{root}: {exc.strerror or exc}")
            continue
        return target
    raise OSError(f"cannot unpack {name}: " + "; ".join(errors))


def _write(root: Path, target: Path, digest: str, members: Iterable[Member]) -> None:
    work = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=root))
    try:
        written: list[tuple[str, bytes]] = []
        lines: list[str] = []
        for rel, read in members:
            data = read()
            if rel.startswith("/") or ".." in rel.split("/"):
                raise DamagedArchive(f"member outside its folder: {rel}")
            path = work / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
            written.append((rel, data))
            lines.append(f"{len(data)} {rel}")
        if digest_of(written) != digest:
            raise DamagedArchive(f"{target.name}: contents do not match the archive's digest")
        (work / MANIFEST).write_text("\n".join(lines) + "\n", encoding="utf-8")
        work.chmod(0o755)
        if target.exists():  # an incomplete copy left by an older crash, or a damaged one
            stale = Path(tempfile.mkdtemp(prefix=f".{target.name}-stale-", dir=root))
            try:
                target.rename(stale / "old")
            except OSError:
                pass
            shutil.rmtree(stale, ignore_errors=True)
        try:
            work.rename(target)
        except OSError:
            if not _complete(target):  # not another process that won the race
                raise
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _archive() -> str:
    loader = globals().get("__loader__")
    archive = getattr(loader, "archive", None)
    return archive if isinstance(archive, str) else os.path.dirname(os.path.abspath(__file__))


def native_path(archive: str) -> Path:
    """The compiled dependencies, unpacked (once) from ``archive``."""
    with zipfile.ZipFile(archive) as zf:
        names = sorted(n for n in zf.namelist() if n.startswith(NATIVE_PREFIX) and n[-1] != "/")

        def reader(member: str) -> Callable[[], bytes]:
            return lambda: zf.read(member)

        members = [(n[len(NATIVE_PREFIX) :], reader(n)) for n in names]
        return unpack("native", NATIVE_DIGEST, members)


def prepare() -> None:
    """Make the dependencies importable the way this archive carries them."""
    if MODE == "native":
        try:
            sys.path.insert(0, str(native_path(_archive())))
        except (OSError, DamagedArchive) as exc:
            sys.exit(f"syncpay: {exc}")
        if sysconfig.get_config_var("EXT_SUFFIX") == NATIVE_EXT_SUFFIX:
            return
        # Another Python version or platform: the compiled modules do not fit; the
        # pure-Python code beside them still does.
    for switch in PURE_SWITCHES:
        os.environ[switch] = "1"


def unpacked(folder: Traversable, name: str) -> Path:
    """``folder`` (inside the archive) as a real directory: unpacked once to the cache
    (``~/.cache/syncpay/<name>-<digest>/``), for aiohttp's static files."""
    members: list[tuple[str, Traversable]] = []

    def walk(node: Traversable, rel: str) -> None:
        for child in sorted(node.iterdir(), key=lambda c: c.name):
            if child.is_dir():
                walk(child, f"{rel}{child.name}/")
            elif child.is_file():
                members.append((rel + child.name, child))

    walk(folder, "")
    contents = [(rel, node.read_bytes()) for rel, node in members]
    return unpack(name, digest_of(contents), [(rel, _constant(data)) for rel, data in contents])


def _constant(data: bytes) -> Callable[[], bytes]:
    """A reader for :func:`unpack` of bytes already read."""
    return lambda: data
