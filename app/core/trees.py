"""Nesting flat rows into a tree in one pass (trees are read with one query, never recursion)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol, Self, TypeVar


class TreeRow(Protocol):
    @property
    def id(self) -> int: ...

    @property
    def parent_id(self) -> int | None: ...


class TreeNode(Protocol):
    @property
    def children(self) -> list[Self]: ...


R = TypeVar("R", bound=TreeRow)
N = TypeVar("N", bound=TreeNode)


def nest(rows: Sequence[R], node: Callable[[R], N]) -> list[N]:
    """Nest `rows` (already ordered) under their parents, keeping that order among siblings.

    A row whose parent is not among `rows` (deleted, or hidden from the caller) becomes a root.
    """
    nodes = {row.id: node(row) for row in rows}
    roots: list[N] = []
    for row in rows:
        parent = nodes.get(row.parent_id) if row.parent_id is not None else None
        (parent.children if parent is not None else roots).append(nodes[row.id])
    return roots
