"""Agents moving at the same time: stopping them before they touch each other.

Each agent's motion over a step is a *path*: ``P`` breakpoints at times
``T_0 = 0 <= T_1 <= ... <= T_{P-1} = 1`` (fractions of the step) with
positions ``X_k``, moving in a straight line between them. The `torch` physics
has two breakpoints (start and end); `slide` has one more per wall it slid
along. An agent *truncated* at time ``t`` follows its path until ``t`` and
rests there.

Walls are handled first, for each agent alone. Agents are then resolved
together, since whether ``i`` hits ``j`` depends on where ``j`` stops, which
depends on the others:

1. Every agent starts with ``t``, the time at which the walls stop it (1 if
   none does). Each round, each agent's ``t`` becomes the smallest of itself
   and its stop times against every other agent's truncated path (:func:`megastep_physics.sweep.disc_stop_times` on each
   stretch where both move in straight lines). ``t`` only ever decreases;
   when a round changes nothing, no truncated path brings two agents within
   the hit radius, because any such contact would start while one of them is
   still moving and would lower its ``t``.
2. Chains of agents rarely need more than a few rounds. If ``A + 1`` rounds
   have not settled, every agent that would still be lowered is held at its
   start (``t = 0``), repeated until nothing changes; at most ``A`` times,
   since each repetition holds at least one more agent and agents that all
   stand still cannot collide.

Only pairs close enough to meet are examined: two agents whose starts are
farther apart than the lengths of both paths plus the stop radius never touch.

The CUDA kernels run the same rounds with one thread per agent.
"""
from __future__ import annotations

import torch

from .sweep import INF, disc_stop_times


def position_at(times: torch.Tensor, points: torch.Tensor, at: torch.Tensor) -> torch.Tensor:
    """Where a path is at time ``at``.

    :param times: ``(..., P)`` breakpoint times, non-decreasing, first 0 and last 1.
    :param points: ``(..., P, 2)`` metres.
    :param at: ``(...)`` times in [0, 1].
    :returns: ``(..., 2)`` metres; exactly a breakpoint's position at its time.
    """
    n = times.shape[-1]
    index = ((times <= at[..., None]).sum(-1) - 1).clamp(0, n - 2)
    t0 = times.gather(-1, index[..., None])[..., 0]
    t1 = times.gather(-1, (index + 1)[..., None])[..., 0]
    x0 = points.gather(-2, index[..., None, None].expand(*index.shape, 1, 2))[..., 0, :]
    x1 = points.gather(-2, (index + 1)[..., None, None].expand(*index.shape, 1, 2))[..., 0, :]
    span = t1 - t0
    flat = ~(span > 0)
    fraction = ((at - t0) / span.masked_fill(flat, 1.0)).masked_fill_(flat, 0.0)
    moved = x0 + fraction[..., None] * (x1 - x0)
    return torch.where((fraction >= 1)[..., None], x1, moved)


def truncated(times: torch.Tensor, points: torch.Tensor, stop: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """A path that follows ``times, points`` until ``stop`` and then rests.

    :returns: ``(..., P + 1)`` times and ``(..., P + 1, 2)`` positions: every breakpoint
        moved to ``min(T_k, stop)``, then a last one at time 1 at the resting place.
    """
    clipped = times.minimum(stop[..., None])
    at = torch.cat([clipped, torch.ones_like(stop)[..., None]], -1)
    where = torch.cat([clipped, stop[..., None]], -1)
    n = times.shape[-1]
    places = position_at(
        times[..., None, :].expand(*times.shape[:-1], n + 1, n),
        points[..., None, :, :].expand(*points.shape[:-2], n + 1, n, 2),
        where,
    )
    return at, places


def pair_stop_times(first: tuple, second: tuple, stop_radius: float, hit_radius: float) -> torch.Tensor:
    """When each of ``N`` pairs of truncated paths must stop, as a time in [0, 1] or inf.

    :param first: ``(times (N, Q), points (N, Q, 2))`` of a truncated path, one per pair.
    :param second: the same for the other agent of each pair.
    :returns: ``(N,)`` the earliest time the two come within ``stop_radius`` on a stretch
        where they come within ``hit_radius``; ``inf`` if they never do.
    """
    (ti, xi), (tj, xj) = first, second
    # every stretch k of i against every stretch m of j: (N, Q - 1, Q - 1)
    ti0, ti1 = ti[:, :-1, None], ti[:, 1:, None]
    tj0, tj1 = tj[:, None, :-1], tj[:, None, 1:]
    lo = torch.maximum(ti0, tj0)
    hi = torch.minimum(ti1, tj1)
    overlap = hi > lo

    def along(t0, t1, x0, x1, at):
        span = (t1 - t0).masked_fill(~overlap, 1.0)
        fraction = ((at - t0) / span)[..., None]
        return x0 + fraction * (x1 - x0)

    xi0, xi1 = xi[:, :-1, None, :], xi[:, 1:, None, :]
    xj0, xj1 = xj[:, None, :-1, :], xj[:, None, 1:, :]
    q0 = along(ti0, ti1, xi0, xi1, lo) - along(tj0, tj1, xj0, xj1, lo)
    q1 = along(ti0, ti1, xi0, xi1, hi) - along(tj0, tj1, xj0, xj1, hi)
    dq = q1 - q0
    fraction = disc_stop_times(q0[..., 0], q0[..., 1], dq[..., 0], dq[..., 1], stop_radius, hit_radius)
    at = (lo + fraction * (hi - lo)).masked_fill_(~(overlap & (fraction <= 1)), INF)
    return at.flatten(1).amin(1)


def candidate_pairs(times: torch.Tensor, points: torch.Tensor, stop_radius: float) -> tuple[torch.Tensor, torch.Tensor]:
    """The ordered pairs ``(i, j)`` of agents in one env that could come within ``stop_radius``.

    :param times: ``(E, A, P)``.
    :param points: ``(E, A, P, 2)``.
    :returns: two ``(N,)`` int64 tensors of flat agent indices ``e * A + i``; both orders of each pair.
    """
    n_envs, n_agents = times.shape[:2]
    reach = torch.linalg.vector_norm(points[:, :, 1:] - points[:, :, :-1], dim=-1).sum(-1)  # (E, A) metres
    start = points[:, :, 0]
    gap = torch.linalg.vector_norm(start[:, :, None] - start[:, None, :], dim=-1)
    near = gap <= reach[:, :, None] + reach[:, None, :] + stop_radius
    near &= ~torch.eye(n_agents, dtype=torch.bool, device=times.device)
    env, i, j = torch.nonzero(near, as_tuple=True)
    return env * n_agents + i, env * n_agents + j


def resolve_agent_contacts(
    times: torch.Tensor, points: torch.Tensor, stops: torch.Tensor, stop_radius: float, hit_radius: float
) -> torch.Tensor:
    """Lowers each agent's stop time until no two agents' truncated paths touch (module docstring).

    :param times: ``(E, A, P)`` breakpoint times of each agent's path.
    :param points: ``(E, A, P, 2)`` metres.
    :param stops: ``(E, A)`` the times at which the walls already stop each agent.
    :param stop_radius: metres between centres at which agents stop (``2 r + margin``).
    :param hit_radius: metres between centres that must never be reached (``2 r + margin / 2``).
    :returns: ``(E, A)`` stop times, each at most its ``stops``.
    """
    n_envs, n_agents, n_points = times.shape
    first, second = candidate_pairs(times, points, stop_radius)
    if len(first) == 0:
        return stops
    flat_times = times.reshape(-1, n_points)
    flat_points = points.reshape(-1, n_points, 2)
    pair_times = (flat_times[first], flat_points[first]), (flat_times[second], flat_points[second])
    stops = stops.reshape(-1)

    def contacts(stops):
        ends = (stops[first], stops[second])
        return pair_stop_times(
            truncated(*pair_times[0], ends[0]), truncated(*pair_times[1], ends[1]), stop_radius, hit_radius
        )

    for _ in range(n_agents + 1):
        lowered = stops.scatter_reduce(0, first, contacts(stops), reduce="amin", include_self=True)
        if torch.equal(lowered, stops):
            return stops.reshape(n_envs, n_agents)
        stops = lowered
    for _ in range(n_agents):
        blocked = contacts(stops) < stops[first]
        if not bool(blocked.any()):
            break
        stops = stops.index_fill(0, first[blocked], 0.0)
    return stops.reshape(n_envs, n_agents)
