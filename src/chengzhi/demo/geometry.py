"""Areas of the demo city: one jittered grid whose cells are the communities; streets, districts and the city
are rectangular blocks of cells.

Every vertex and every edge midpoint is computed once and shared by all the polygons that use it, so neighbours
meet along identical edges and never overlap. Corners move by at most `CORNER_JITTER` of a cell and midpoints by
at most `MIDPOINT_JITTER`: each cell stays star-shaped around its centre, hence a valid polygon.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

from shapely.geometry import Point, Polygon
from shapely.prepared import PreparedGeometry, prep

CORNER_JITTER = 0.18
MIDPOINT_JITTER = 0.09
DIGITS = 6  # about 0.1 m: enough for an area, and shared vertices stay exactly equal

Coordinate = tuple[float, float]


@dataclass(frozen=True)
class Block:
    """Cells [col0, col1) × [row0, row1) of the grid; columns run west to east, rows south to north."""

    col0: int
    row0: int
    col1: int
    row1: int

    def cells(self) -> list[tuple[int, int]]:
        return [(c, r) for r in range(self.row0, self.row1) for c in range(self.col0, self.col1)]


@dataclass
class Grid:
    cols: int
    rows: int
    west: float
    south: float
    cell_lon: float
    cell_lat: float
    corners: dict[tuple[int, int], Coordinate] = field(default_factory=dict)
    # Midpoint of the edge from corner (i, j) eastwards ("h") or northwards ("v").
    midpoints: dict[tuple[str, int, int], Coordinate] = field(default_factory=dict)
    _prepared: dict[tuple[int, int], PreparedGeometry] = field(default_factory=dict)

    def corner(self, i: int, j: int) -> Coordinate:
        return self.corners[(i, j)]

    def ring(self, block: Block) -> list[Coordinate]:
        """The block's outline, counter-clockwise from its south-west corner, closed."""
        c0, r0, c1, r1 = block.col0, block.row0, block.col1, block.row1
        ring: list[Coordinate] = []
        for i in range(c0, c1):  # south side, eastwards
            ring += [self.corner(i, r0), self.midpoints[("h", i, r0)]]
        for j in range(r0, r1):  # east side, northwards
            ring += [self.corner(c1, j), self.midpoints[("v", c1, j)]]
        for i in range(c1, c0, -1):  # north side, westwards
            ring += [self.corner(i, r1), self.midpoints[("h", i - 1, r1)]]
        for j in range(r1, r0, -1):  # west side, southwards
            ring += [self.corner(c0, j), self.midpoints[("v", c0, j - 1)]]
        ring.append(ring[0])
        return ring

    def geojson(self, block: Block) -> dict[str, Any]:
        return {"type": "Polygon", "coordinates": [[list(p) for p in self.ring(block)]]}

    def polygon(self, block: Block) -> Polygon:
        return Polygon(self.ring(block))

    def centre(self, col: int, row: int) -> Coordinate:
        points = [self.corner(col, row), self.corner(col + 1, row)]
        points += [self.corner(col + 1, row + 1), self.corner(col, row + 1)]
        return (sum(p[0] for p in points) / 4, sum(p[1] for p in points) / 4)

    def point_in_cell(self, rng: random.Random, col: int, row: int) -> Coordinate:
        """A random point strictly inside the cell (lon, lat), rounded like a phone's GPS fix."""
        prepared = self._prepared.get((col, row))
        if prepared is None:
            prepared = self._prepared[(col, row)] = prep(self.polygon(Block(col, row, col + 1, row + 1)))
        lon0, lat0 = self.centre(col, row)
        for _ in range(40):
            lon = round(lon0 + rng.uniform(-0.42, 0.42) * self.cell_lon, DIGITS)
            lat = round(lat0 + rng.uniform(-0.42, 0.42) * self.cell_lat, DIGITS)
            if prepared.contains(Point(lon, lat)):
                return lon, lat
        return round(lon0, DIGITS), round(lat0, DIGITS)


def make_grid(
    rng: random.Random, *, cols: int, rows: int, west: float, south: float, cell_lon: float, cell_lat: float
) -> Grid:
    grid = Grid(cols=cols, rows=rows, west=west, south=south, cell_lon=cell_lon, cell_lat=cell_lat)

    def jittered(x: float, y: float, amount: float) -> Coordinate:
        return (
            round(x + rng.uniform(-amount, amount) * cell_lon, DIGITS),
            round(y + rng.uniform(-amount, amount) * cell_lat, DIGITS),
        )

    for j in range(rows + 1):
        for i in range(cols + 1):
            grid.corners[(i, j)] = jittered(west + i * cell_lon, south + j * cell_lat, CORNER_JITTER)
    for j in range(rows + 1):
        for i in range(cols + 1):
            if i < cols:
                a, b = grid.corners[(i, j)], grid.corners[(i + 1, j)]
                grid.midpoints[("h", i, j)] = jittered((a[0] + b[0]) / 2, (a[1] + b[1]) / 2, MIDPOINT_JITTER)
            if j < rows:
                a, b = grid.corners[(i, j)], grid.corners[(i, j + 1)]
                grid.midpoints[("v", i, j)] = jittered((a[0] + b[0]) / 2, (a[1] + b[1]) / 2, MIDPOINT_JITTER)
    return grid


def split(block: Block, rng: random.Random) -> list[Block]:
    """Four sub-blocks: a 2 × 2 split near the middle in each direction (odd sizes are cut either way)."""
    width, height = block.col1 - block.col0, block.row1 - block.row0
    if width < 2 or height < 2:
        raise ValueError("a block needs two columns and two rows to split in four")
    cut_col = block.col0 + rng.choice(sorted({width // 2, (width + 1) // 2}))
    cut_row = block.row0 + rng.choice(sorted({height // 2, (height + 1) // 2}))
    return [
        Block(block.col0, block.row0, cut_col, cut_row),
        Block(cut_col, block.row0, block.col1, cut_row),
        Block(block.col0, cut_row, cut_col, block.row1),
        Block(cut_col, cut_row, block.col1, block.row1),
    ]
