"""Geodesic distances through free space, against paths worked out by hand on 1 m grids."""
import math

import numpy as np
import pytest
import torch

from megastep_core import Geometry
from megastep_envs.modules.occupancy import OccupancyGrid, wavefront
from megastep_geometry import homes, toys


def grid_geometry(rows: list[str], resolution: float = 1.0) -> Geometry:
    """A geometry whose mask is drawn as text, top row last so that row i is y in [i, i + 1) cells: ``.`` free,
    ``#`` occupied. Its walls are only its outline (the distance code reads the mask alone)."""
    mask = np.array([[c == "." for c in row] for row in rows], dtype=bool)
    height, width = mask.shape[0] * resolution, mask.shape[1] * resolution
    corners = np.array([[0, 0], [width, 0], [width, height], [0, height]], dtype=np.float32)
    walls = np.stack([corners, np.roll(corners, -1, 0)], 1)
    return Geometry(walls=walls, lights=np.array([[width / 2, height / 2, 1.0]]), mask=mask,
                    resolution=resolution, name="drawn")


def centre(row: int, column: int, resolution: float = 1.0) -> list[float]:
    """The centre of cell [row, column], in metres."""
    return [(column + 0.5) * resolution, (row + 0.5) * resolution]


def distance(geometry: Geometry, start, goal) -> float:
    grid = OccupancyGrid([geometry])
    return float(grid.geodesic_distance(torch.tensor([[start]]), torch.tensor([goal]))[0, 0])


def test_a_straight_corridor_is_its_length():
    corridor = grid_geometry(["." * 10])
    assert distance(corridor, centre(0, 0), centre(0, 7)) == pytest.approx(7.0)
    # off the cells' centres, along the row: still the straight line
    assert distance(corridor, [0.2, 0.5], [9.7, 0.5]) == pytest.approx(9.5)
    # the same in a finer grid, a toy corridor of real walls (10 cm cells)
    toy = toys.corridor(6.0, 1.2)
    y = toy.origin[1] + 0.55
    assert distance(toy, [0.55, y], [5.25, y]) == pytest.approx(4.7, abs=1e-4)


def test_an_l_shaped_route_goes_around_the_wall():
    # row 0 is the bottom; the wall (#) fills row 1 but for its right end
    l_shaped = grid_geometry([
        "....",
        "###.",
        "....",
    ][::-1])
    start, goal = centre(0, 0), centre(2, 0)
    # 3 m right along row 0, 2 m up column 3, 3 m back left along row 2; no corner step is allowed past the
    # wall's end (it would cut the corner of the occupied cell [1, 2])
    assert distance(l_shaped, start, goal) == pytest.approx(8.0)
    assert distance(l_shaped, start, centre(2, 2)) == pytest.approx(6.0)


def test_a_route_with_a_corner_step():
    room = grid_geometry([
        "....",
        "....",
        "###.",
        "....",
    ][::-1])
    # 3 m right, 2 m up column 3 to row 2, then one corner step to [3, 2]: its 2 x 2 block is free
    assert distance(room, centre(0, 0), centre(3, 2)) == pytest.approx(5 + math.sqrt(2))
    # within one open area, a diagonal line is its straight length
    assert distance(room, centre(2, 0), centre(3, 1)) == pytest.approx(math.sqrt(2))


def test_an_unreachable_goal_is_infinitely_far():
    two_rooms = grid_geometry(["..#..", "..#..", "..#.."])
    assert distance(two_rooms, centre(1, 0), centre(1, 4)) == math.inf
    assert distance(two_rooms, centre(1, 0), centre(1, 1)) == pytest.approx(1.0)
    # a point on an occupied cell is joined to nothing, so that it cannot join the rooms on both sides of a wall
    assert distance(two_rooms, centre(1, 0), centre(1, 2)) == math.inf
    assert distance(two_rooms, centre(1, 2), centre(1, 4)) == math.inf


def test_the_goal_itself_is_at_zero_and_points_beside_it_at_their_straight_line():
    room = grid_geometry(["....."] * 4)
    goal = [2.3, 1.7]
    for point in ([2.3, 1.7], [2.9, 1.2], [1.6, 2.4]):
        assert distance(room, point, goal) == pytest.approx(math.dist(point, goal), abs=1e-6)


def test_many_envs_and_points_are_measured_at_once():
    corridor, l_shaped = grid_geometry(["." * 10]), grid_geometry(["....", "###.", "...."][::-1])
    grid = OccupancyGrid([corridor, l_shaped, corridor])
    points = torch.tensor([[centre(0, 0), centre(0, 9)], [centre(0, 0), centre(2, 3)], [centre(0, 2), [9.5, 0.5]]])
    goals = torch.tensor([centre(0, 5), centre(2, 0), centre(0, 2)])
    expected = torch.tensor([[5.0, 4.0], [8.0, 3.0], [0.0, 7.0]])
    assert torch.allclose(grid.geodesic_distance(points, goals), expected)


def test_geodesic_distances_in_a_home_are_never_shorter_than_the_straight_line():
    home = homes.sample(1, split="test", seed=0)[0]
    grid = OccupancyGrid([home])
    free = np.argwhere(home.mask)
    rng = np.random.default_rng(0)
    cells = free[rng.choice(len(free), 41, replace=False)]
    points = torch.tensor((cells[:, ::-1] + 0.5) * home.resolution + home.origin, dtype=torch.float32)
    goal, starts = points[:1], points[None, 1:]
    geodesic = grid.geodesic_distance(starts, goal)[0]
    straight = (starts[0] - goal).norm(dim=-1)
    reachable = geodesic.isfinite()
    assert reachable.float().mean() > 0.5  # a home's rooms are joined by doors
    assert (geodesic[reachable] >= straight[reachable] - 1e-4).all()
    # and no longer than the eight-direction grid's bound over a straight line, where nothing is in the way:
    # the free cells of a home are most of it, so some pairs are in open sight
    assert (geodesic[reachable] <= straight[reachable] * 1.0824 + 2 * home.resolution).any()


def test_the_wavefront_stops_after_max_passes():
    free = torch.zeros(1, 3, 12, dtype=torch.bool)
    free[0, 1, 1:11] = True
    start = torch.full((1, 3, 12), float("inf"))
    start[0, 1, 1] = 0.0
    # the in-place shifts carry a pass along a whole row in the direction they sweep
    assert wavefront(free, start)[0, 1, 10] == 9.0
    partial = wavefront(free, start.flip(-1), max_passes=0)
    assert partial[0, 1, 10] == 0.0 and partial[0, 1, 1] == math.inf
    with pytest.raises(ValueError, match="free and distances"):
        wavefront(free, start[0])


def dijkstra(free: np.ndarray, source: tuple[int, int]) -> np.ndarray:
    """The shortest distances in cells from ``source`` over the same graph as the wavefront's, by Dijkstra's
    algorithm cell by cell: an independent reference."""
    import heapq

    height, width = free.shape
    distance = np.full(free.shape, np.inf)
    distance[source] = 0.0
    queue = [(0.0, source)]
    while queue:
        d, (i, j) = heapq.heappop(queue)
        if d > distance[i, j]:
            continue
        for di in (-1, 0, 1):
            for dj in (-1, 0, 1):
                a, b = i + di, j + dj
                if (di, dj) == (0, 0) or not (0 <= a < height and 0 <= b < width) or not free[a, b]:
                    continue
                if di and dj and not (free[i, b] and free[a, j]):  # a corner step needs its 2 x 2 block free
                    continue
                step = d + (math.sqrt(2) if di and dj else 1.0)
                if step < distance[a, b]:
                    distance[a, b] = step
                    heapq.heappush(queue, (step, (a, b)))
    return distance


def test_the_wavefront_finds_what_dijkstra_finds_on_random_grids():
    rng = np.random.default_rng(0)
    # sparse walls leave long straight runs, which a pass of the wavefront follows by doubling
    for density, shape in [(0.02, (3, 40, 53)), (0.2, (6, 14, 17)), (0.35, (6, 14, 17)), (0.45, (6, 14, 17))]:
        free = rng.random(shape) > density
        free[:, [0, -1]] = False
        free[:, :, [0, -1]] = False
        start = torch.full(free.shape, math.inf)
        expected = np.full(free.shape, math.inf)
        for b in range(len(free)):
            cells = np.argwhere(free[b])
            source = tuple(cells[rng.integers(len(cells))])
            start[(b, *source)] = 0.0
            expected[b] = dijkstra(free[b], source)
        got = wavefront(torch.as_tensor(free), start).double().numpy()
        assert np.array_equal(np.isinf(got), np.isinf(expected))
        assert np.allclose(got[np.isfinite(got)], expected[np.isfinite(expected)], atol=1e-4)


def test_a_clearance_keeps_paths_an_agents_radius_from_the_walls():
    pillar = toys.column(4.0, 4.0, 1.0)  # the pillar covers 1.5-2.5 m on both axes
    start, goal = torch.tensor([[[1.0, 2.0]]]), torch.tensor([[3.0, 2.0]])
    bare = float(OccupancyGrid([pillar]).geodesic_distance(start, goal))
    eroded = OccupancyGrid([pillar], clearance=0.156)
    wide = float(eroded.geodesic_distance(start, goal))
    # round the pillar 0.156 m off its corners rather than grazing them: longer
    assert 2 + 2 * (math.sqrt(2) - 1) * 0.5 < bare < wide < 3.4
    # an agent touching the pillar stands on an eroded cell, and is still joined to the free cells beside it
    touching = torch.tensor([[[1.5 - 0.11, 2.0]]])
    assert not eroded.free(touching).any()
    assert math.isfinite(float(eroded.geodesic_distance(touching, goal)))
    with pytest.raises(ValueError, match="clearance must be"):
        OccupancyGrid([pillar], clearance=-1.0)
