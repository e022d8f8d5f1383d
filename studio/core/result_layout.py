"""Where a new image goes on the canvas when nothing says where: a grid near its source.

Appending every result to the right of the last one made an endless strip that ran off the
screen after a few generations. Instead, results fill the cells of a square-ish grid that
grows outward from the picture they came from (the layer a Vary or Re-run started from, or
the layer the user has selected), so a batch and its variations stay together and within
one view. Plain data (``(x, y, w, h)`` tuples), no Qt, so the rule is testable on its own.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

Rect = tuple[float, float, float, float]
GAP = 16.0


def ring_cells(limit: int = 64) -> Iterator[tuple[int, int]]:
    """Grid cells (column, row) by growing squares: (0,0), (1,0), (1,1), (0,1), (2,0)…

    Each ring fills its new column top to bottom and then its new row left to right, so
    the grid stays close to square and never becomes a strip.
    """
    yield 0, 0
    for ring in range(1, limit):
        for row in range(ring + 1):
            yield ring, row
        for column in range(ring):
            yield column, ring


def overlaps(a: Rect, b: Rect) -> bool:
    ax, ay, aw, ah = a
    bx, by, bw, bh = b
    return ax < bx + bw - 0.5 and bx < ax + aw - 0.5 and ay < by + bh - 0.5 and by < ay + ah - 0.5


def grid_spot(size: tuple[float, float], occupied: Iterable[Rect], anchor: Rect | None = None, *, gap: float = GAP) -> tuple[float, float]:
    """Top-left corner for a ``size`` picture in the first free grid cell around ``anchor``.

    Cells are as large as the bigger of the new picture and the anchor, plus ``gap``, so
    neighbours of equal size line up. Without an anchor the grid starts at the origin.
    """
    width, height = float(size[0]), float(size[1])
    taken = list(occupied)
    if anchor is None:
        origin_x, origin_y, cell_w, cell_h = 0.0, 0.0, width, height
    else:
        origin_x, origin_y = anchor[0], anchor[1]
        cell_w, cell_h = max(width, anchor[2]), max(height, anchor[3])
    step_x, step_y = cell_w + gap, cell_h + gap
    for column, row in ring_cells():
        x, y = origin_x + column * step_x, origin_y + row * step_y
        if not any(overlaps((x, y, width, height), other) for other in taken):
            return x, y
    # Past 64 rings: below everything, which is still free by construction.
    bottom = max((r[1] + r[3] for r in taken), default=0.0)
    return origin_x, bottom + gap
