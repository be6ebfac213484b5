"""Where each node of the canvas goes: branches side by side, long chains wrapped into columns.

Pure arithmetic on the spec (no Qt), so it is tested without a window. A layer that reads
a layer some earlier layer already reads starts a branch in the column to the right (a
residual block's projection shortcut beside its main path); a merge sits below the lowest
of its inputs. A long network is then cut into column groups at the layers everything flows
through (a block's output), choosing the cut that lets the whole network fit the view at
the largest scale, so VGG-16 and ResNet-18 show whole at first sight.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass

from cnnstudio.network.spec import INPUT, NetworkSpec

NODE_W = 250
NODE_H = 76
GAP = 40
PITCH = NODE_H + GAP
COLUMN_PITCH = NODE_W + 90
"""A branch column's distance from the one before: room for the skip lanes in between."""
GROUP_GAP = 150
"""Extra room between two wrapped column groups, for the edge that climbs to the next one."""
MARGIN = 40
MAX_ROWS_UNWRAPPED = 12
"""A network of at most this many rows stays one column: it is read top to bottom at full size."""


@dataclass(frozen=True)
class Slot:
    """A node's place: its column group, the branch column in it and the row in it."""

    group: int
    column: int
    row: int


@dataclass
class Layout:
    slots: dict[str, Slot]
    group_x: list[float]
    """Scene x of each group's first column."""

    def __post_init__(self):
        self._by_slot: dict[Slot, str] | None = None

    def position(self, name: str) -> tuple[float, float]:
        """Top-left corner of node ``name`` in scene coordinates."""
        slot = self.slots[name]
        return self.group_x[slot.group] + slot.column * COLUMN_PITCH, slot.row * PITCH

    def at(self, group: int, column: int, row: int) -> str | None:
        if self._by_slot is None:
            self._by_slot = {slot: name for name, slot in self.slots.items()}
        return self._by_slot.get(Slot(group, column, row))

    @property
    def size(self) -> tuple[float, float]:
        """Width and height the nodes take, in scene units."""
        width = max(self.position(n)[0] for n in self.slots) + NODE_W
        height = (max(s.row for s in self.slots.values()) + 1) * PITCH - GAP
        return width, height


class _FreeCells:
    """The next free cell right of (or below) a taken one, in near-constant time: pointers over
    taken cells, shortened as they are followed (a wide network's thousand branches off one layer
    would otherwise scan every column taken so far for each new one)."""

    def __init__(self):
        self.right: dict[tuple[int, int], int] = {}
        """(column, row) taken -> a column to its right to look at next."""
        self.down: dict[tuple[int, int], int] = {}

    def __contains__(self, cell: tuple[int, int]) -> bool:
        return cell in self.right

    def take(self, column: int, row: int) -> None:
        self.right[(column, row)] = column + 1
        self.down[(column, row)] = row + 1

    def free_column(self, column: int, row: int) -> int:
        """The first free column from ``column`` on in ``row``."""
        return _follow(self.right, column, lambda c: (c, row))

    def free_row(self, column: int, row: int) -> int:
        """The first free row from ``row`` on in ``column``."""
        return _follow(self.down, row, lambda r: (column, r))


def _follow(pointers: dict, start: int, cell) -> int:
    """Follow ``pointers`` (keyed by ``cell(index)``) from ``start`` to the first index with none,
    pointing every cell passed straight at it."""
    path = []
    index = start
    while cell(index) in pointers:
        path.append(index)
        index = pointers[cell(index)]
    for taken in path:
        pointers[cell(taken)] = index
    return index


def branch_slots(spec: NetworkSpec) -> dict[str, tuple[int, int]]:
    """(column, row) of every node before wrapping: the chain down column 0, branches beside it."""
    place: dict[str, tuple[int, int]] = {INPUT: (0, 0)}
    taken = _FreeCells()
    taken.take(0, 0)
    readers: dict[str, int] = {}
    lowest = 0
    for i, layer in enumerate(spec.layers):
        srcs = [s for s in spec.inputs_of(i) if s in place]
        if not srcs:
            column, row = 0, lowest + 1
        elif len(srcs) > 1:
            column, row = place[srcs[0]][0], max(place[s][1] for s in srcs) + 1
        else:
            src_column, src_row = place[srcs[0]]
            column, row = src_column, src_row + 1
            if readers.get(srcs[0], 0):
                column = src_column + 1
                while True:  # the first column free in this row and the next
                    column = taken.free_column(column, row)
                    below = taken.free_column(column, row + 1)
                    if below == column:
                        break
                    column = below
        row = taken.free_row(column, row)
        for src in srcs:
            readers[src] = readers.get(src, 0) + 1
        place[layer.name] = (column, row)
        taken.take(column, row)
        lowest = max(lowest, row)
    return place


def cut_rows(spec: NetworkSpec, place: dict[str, tuple[int, int]]) -> list[int]:
    """Rows after which the network may wrap: a node in column 0 that every later edge leaves from
    or passes below (nothing reaches over it), the output of a block."""
    edges = [(place[src][1], place[layer.name][1]) for i, layer in enumerate(spec.layers)
             for src in spec.inputs_of(i) if src in place]
    rows = sorted({r for c, r in place.values() if c == 0})
    occupied = {}
    for c, r in place.values():
        occupied.setdefault(r, set()).add(c)
    last = max(rows)
    # an edge reaching over row r (top < r < bottom), or leaving r for beyond r + 1, blocks a cut
    # after r: mark the spans [top, bottom - 1] at once (one pass, not every edge for every row)
    crossing = [0] * (last + 2)
    for top, bottom in edges:
        if bottom - top >= 2:
            crossing[top] += 1
            crossing[min(bottom, last + 1)] -= 1
    blocked, depth = set(), 0
    for r in range(last + 1):
        depth += crossing[r]
        if depth:
            blocked.add(r)
    return [r for r in rows if r < last and occupied[r] == {0} and r not in blocked]


def arrange(spec: NetworkSpec) -> tuple[dict[str, tuple[int, int]], list[int]]:
    """What the layout of ``spec`` keeps whatever the view's size: the unwrapped slots and the cut rows."""
    place = branch_slots(spec)
    return place, cut_rows(spec, place)


def layout(spec: NetworkSpec, view_width: float = 860, view_height: float = 560,
           arranged: tuple[dict[str, tuple[int, int]], list[int]] | None = None) -> Layout:
    """The slots that fit the whole network in a view of this size at the largest scale (at most 1).
    ``arranged``: :func:`arrange` of ``spec``, when the caller kept it from an earlier layout."""
    place, cuts = arranged or arrange(spec)
    total = max(r for _c, r in place.values()) + 1
    if total <= MAX_ROWS_UNWRAPPED:
        return _wrap(place, [], total)
    widest = [0] * total
    """The last column used in each row, so a wrap height is scored without placing every node."""
    for c, r in place.values():
        widest[r] = max(widest[r], c)
    best = None
    for rows in _row_counts(total):
        starts = _group_starts(cuts, total, rows)
        columns = [1 + max(widest[a:b]) for a, b in zip(starts, [*starts[1:], total], strict=True)]
        height = max(b - a for a, b in zip(starts, [*starts[1:], total], strict=True)) * PITCH - GAP
        width = (sum(columns) - 1) * COLUMN_PITCH + (len(columns) - 1) * GROUP_GAP + NODE_W
        scale = min(1.0, (view_width - 2 * MARGIN) / width, (view_height - 2 * MARGIN) / height)
        key = (round(scale, 3), -len(starts))
        if best is None or key > best[0]:
            best = (key, rows)
    return _wrap(place, cuts, best[1])


EXHAUSTIVE_ROWS = 300
"""Up to this many rows every wrap height is tried; beyond, about 60 heights spaced by 10% (a
100,000-layer network would otherwise try 100,000 wraps of 100,000 nodes)."""


def _row_counts(total: int) -> list[int]:
    if total <= EXHAUSTIVE_ROWS:
        return sorted({total, *range(4, total)})
    counts, rows = {total}, 4.0
    while rows < total:
        counts.add(int(rows))
        rows *= 1.1
    return sorted(counts)


def _wrap(place: dict[str, tuple[int, int]], cuts: list[int], max_rows: int) -> Layout:
    """Cut the rows into groups of at most ``max_rows`` (where cuts allow) and place them side by side."""
    total = max(r for _c, r in place.values()) + 1
    starts = _group_starts(cuts, total, max_rows)

    def group_of(row: int) -> int:
        return bisect.bisect_right(starts, row) - 1

    slots = {name: Slot(group_of(r), c, r - starts[group_of(r)]) for name, (c, r) in place.items()}
    widths = [1] * len(starts)
    for slot in slots.values():
        widths[slot.group] = max(widths[slot.group], 1 + slot.column)
    group_x, x = [], 0.0
    for columns in widths:
        group_x.append(x)
        x += columns * COLUMN_PITCH + GROUP_GAP
    return Layout(slots=slots, group_x=group_x)


def _group_starts(cuts: list[int], total: int, max_rows: int) -> list[int]:
    """The first row of each column group when the rows are cut (where cuts allow) every ``max_rows``:
    each group ends at the last cut that keeps it within ``max_rows``, or at the first cut after
    its start when none does. One binary search per group, not a pass over every cut."""
    ends = [*cuts, total - 1]
    starts = [0]
    while True:
        start = starts[-1]
        k = bisect.bisect_right(ends, start + max_rows - 1) - 1
        if k < 0 or ends[k] < start:  # no cut within reach: the group runs to the next one
            k = bisect.bisect_left(ends, start)
        if k >= len(ends) - 1:
            return starts
        starts.append(ends[k] + 1)


def fit_scale(layout_: Layout, view_width: float, view_height: float) -> float:
    """The largest scale (at most 1) at which every node fits a view of this size."""
    width, height = layout_.size
    return min(1.0, (view_width - 2 * MARGIN) / width, (view_height - 2 * MARGIN) / height)
