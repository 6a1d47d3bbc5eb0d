"""The dependency graph between assets, pure (no database, no framework).

An edge `asset -> depends_on` of kind `power` (fed by that UPS/PDU) or
`uplink` (reached through it). "Upstream" follows edges towards what an asset
depends on; "downstream" goes the other way, towards everything a fault would
impact. The incident engine reuses this to turn "this UPS is on battery" into
"these assets are affected".

Callers load the edges they need (the whole graph, or the reachable part of
it) and build a `Graph`; nothing here knows where edges come from.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Iterable

KINDS = ("power", "uplink")


@dataclass(frozen=True)
class Edge:
    asset: int
    depends_on: int
    kind: str


class Graph:
    def __init__(self, edges: Iterable[Edge | tuple[int, int, str]] = ()):
        self.up: dict[int, list[Edge]] = {}
        self.down: dict[int, list[Edge]] = {}
        for edge in edges:
            self.add(edge if isinstance(edge, Edge) else Edge(*edge))

    def add(self, edge: Edge) -> None:
        self.up.setdefault(edge.asset, []).append(edge)
        self.down.setdefault(edge.depends_on, []).append(edge)

    def path(self, start: int, goal: int, kinds: Iterable[str] | None = None) -> list[int] | None:
        """The shortest chain start -> ... -> goal following `depends_on`, or None."""
        allowed = set(kinds) if kinds is not None else None
        previous: dict[int, int | None] = {start: None}
        queue = deque([start])
        while queue:
            node = queue.popleft()
            if node == goal:
                chain = [node]
                while previous[chain[-1]] is not None:
                    chain.append(previous[chain[-1]])  # type: ignore[arg-type]
                return chain[::-1]
            for edge in self.up.get(node, ()):
                if (allowed is None or edge.kind in allowed) and edge.depends_on not in previous:
                    previous[edge.depends_on] = node
                    queue.append(edge.depends_on)
        return None

    def cycle_if_added(self, asset: int, depends_on: int) -> list[int] | None:
        """The cycle a new edge asset -> depends_on would close, as the list of
        assets along it (first == last), or None when the edge is safe.
        Any existing chain depends_on -> ... -> asset closes a cycle whatever its
        kinds: a power loop is as wrong as an uplink loop."""
        if asset == depends_on:
            return [asset, asset]
        chain = self.path(depends_on, asset)
        return [asset, *chain] if chain else None

    def _walk(self, starts: Iterable[int], edges_of: dict[int, list[Edge]], far_end: str, kinds) -> dict[int, int]:
        allowed = set(kinds) if kinds is not None else None
        depth: dict[int, int] = {}
        queue = deque((s, 0) for s in starts)
        seen = set(s for s, _ in queue)
        while queue:
            node, d = queue.popleft()
            for edge in edges_of.get(node, ()):
                if allowed is not None and edge.kind not in allowed:
                    continue
                other = getattr(edge, far_end)
                if other not in seen:
                    seen.add(other)
                    depth[other] = d + 1
                    queue.append((other, d + 1))
        return depth

    def downstream(self, roots: Iterable[int], kinds: Iterable[str] | None = None) -> dict[int, int]:
        """Every asset that depends, directly or through others, on one of
        `roots` -> its distance from the nearest root (roots themselves excluded),
        in breadth-first order: nearest first, ties in the order edges were added."""
        return self._walk(roots, self.down, "asset", kinds)

    def upstream(self, starts: Iterable[int], kinds: Iterable[str] | None = None) -> dict[int, int]:
        """Every asset one of `starts` depends on, directly or not -> distance,
        in breadth-first order (as `downstream`)."""
        return self._walk(starts, self.up, "depends_on", kinds)

    def upstream_edges(self, starts: Iterable[int], kinds: Iterable[str] | None = None) -> list[Edge]:
        """The edges of the upstream chain of `starts`, nearest first."""
        allowed = set(kinds) if kinds is not None else None
        reached = set(starts)
        frontier = list(reached)
        out: list[Edge] = []
        while frontier:
            nxt = []
            for node in frontier:
                for edge in self.up.get(node, ()):
                    if allowed is not None and edge.kind not in allowed:
                        continue
                    out.append(edge)
                    if edge.depends_on not in reached:
                        reached.add(edge.depends_on)
                        nxt.append(edge.depends_on)
            frontier = nxt
        return out

    def impact(self, failed: Iterable[int]) -> dict[int, str]:
        """What `failed` failing does downstream: every asset below them ->
        "down" when every one of its feeds of one kind (power, uplink) is lost,
        else "at_risk" (a feed lost, another still up: redundancy), nearest first.
        The graph must hold the downstream assets' other feeds too."""
        lost = set(failed)
        order = self.downstream(lost)
        changed = True
        while changed:  # until nothing more is lost: BFS order is not always upstream-first
            changed = False
            for a in order:
                if a in lost:
                    continue
                feeds: dict[str, list[bool]] = {}
                for edge in self.up.get(a, ()):
                    feeds.setdefault(edge.kind, []).append(edge.depends_on in lost)
                if any(all(v) for v in feeds.values()):
                    lost.add(a)
                    changed = True
        return {a: ("down" if a in lost else "at_risk") for a in order}
