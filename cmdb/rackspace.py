"""Units of a rack, pure: which U are taken, which runs are free, where an
asset of a given height fits. The rack page draws the free runs and the asset
form offers the positions that fit; the service layer (and the database's
one-row-per-U index) still decides whether a placement is allowed."""

from __future__ import annotations

from typing import Iterable


def occupied(placements: Iterable[tuple[int | None, int]], height_u: int) -> set[int]:
    """The U numbers taken by (position_u, height_u) placements, inside the rack."""
    taken: set[int] = set()
    for position, size in placements:
        if position is None:
            continue
        taken.update(u for u in range(position, position + max(1, size)) if 1 <= u <= height_u)
    return taken


def free_runs(height_u: int, taken: set[int]) -> list[tuple[int, int]]:
    """Free U as (lowest, highest) runs, bottom up."""
    runs: list[tuple[int, int]] = []
    start: int | None = None
    for u in range(1, height_u + 2):
        free = u <= height_u and u not in taken
        if free and start is None:
            start = u
        elif not free and start is not None:
            runs.append((start, u - 1))
            start = None
    return runs


def fitting_positions(height_u: int, taken: set[int], size: int) -> list[int]:
    """Every lowest U at which an asset `size` U high fits without touching a taken U."""
    size = max(1, size)
    return [p for low, high in free_runs(height_u, taken) for p in range(low, high - size + 2)]
