"""What ``Queue.push_many`` reads its items through: in chunks, and again from the start
when its transaction runs again."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from itertools import islice
from typing import Any, TypeVar

T = TypeVar("T")


class Replayable:
    """A push's items, which can be read from the start again. ``Database.transact`` runs
    a transaction again after a transient failure (a lost connection, a deadlock); a
    push over a one-shot iterator (a generator) would then write only the items not yet
    read, and commit a part of the push. A one-shot iterator's items are therefore kept
    as they are read (only the data: the rows are made again), a list or any other
    collection is simply read again."""

    def __init__(self, items: Iterable[Mapping[str, Any]]) -> None:
        self._items = items
        self._seen: list[Mapping[str, Any]] | None = [] if iter(items) is items else None

    def __iter__(self) -> Iterator[Mapping[str, Any]]:
        if self._seen is None:
            return iter(self._items)
        return self._replay(self._seen)

    def _replay(self, seen: list[Mapping[str, Any]]) -> Iterator[Mapping[str, Any]]:
        yield from seen[:]  # what an earlier run of the transaction read
        for item in self._items:
            seen.append(item)
            yield item


def chunks(rows: Iterable[T], size: int) -> Iterator[list[T]]:
    """``rows`` in lists of ``size`` (the last one shorter)."""
    iterator = iter(rows)
    while chunk := list(islice(iterator, size)):
        yield chunk
