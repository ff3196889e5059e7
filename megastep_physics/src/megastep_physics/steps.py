"""One physics step in PyTorch: ``stop_step`` (the `torch` backend) and ``slide_step`` (`slide`).

These are the reference that the CUDA kernels of the same names in
``cuda/physics.cu`` are tested against; they run on any device.

``stop_step``: each agent moves by ``velocity * dt`` until it would touch a
wall or another agent, stops just short (at the stop radius, see
:mod:`megastep_physics.sweep`), and loses its velocity and angular velocity.

``slide_step``: agents touching each other first share their closing speed
(each loses half of it, as two equal masses in a perfectly inelastic
collision, so a moving agent pushes a resting one). Then each agent moves; at
a wall it loses only the part of its velocity that points into the wall and
slides on along it for the rest of the step, up to ``sub_contacts`` times.
Agents meeting during the step stop just short of each other; they push at
the next step.

Both turn every agent by ``angvelocity * dt`` (a disc can always turn) and
return the progress: the part of the intended move ``velocity * dt`` achieved,
``(E, A)`` in [0, 1] (1 for agents that were not asked to move).
"""
from __future__ import annotations

import torch

from megastep_core.walls import WallTable, walls_near

from .candidates import first_wall_contact
from .paths import position_at, resolve_agent_contacts
from .sweep import nearest_on_wall

HALF_TURN, TURN = torch.tensor(180.0), torch.tensor(360.0)  # zero-dimensional: see sweep.ZERO


def wrap_degrees(angles: torch.Tensor) -> torch.Tensor:
    """Angles in degrees, wrapped to [-180, 180)."""
    wrapped = torch.remainder(angles + HALF_TURN, TURN) - HALF_TURN
    return torch.where(wrapped >= HALF_TURN, wrapped - TURN, wrapped)


def _wall_groups(walls: WallTable, positions: torch.Tensor, moves: torch.Tensor, stop_radius: float):
    """The candidate walls of every agent, flat, for moves that stay within ``moves``' length of the start."""
    n_envs, n_agents = positions.shape[:2]
    geometry = walls.env_geometry[:, None].expand(n_envs, n_agents).reshape(-1)
    reach = torch.linalg.vector_norm(moves, dim=-1).reshape(-1) + stop_radius
    return walls_near(walls, positions.reshape(-1, 2), geometry, reach)


def contact_radii(agent_radius: float, margin: float) -> tuple[float, float, float, float]:
    """Stop and hit radii against walls, then against other agents (centre to centre), in metres."""
    return agent_radius + margin, agent_radius + margin / 2, 2 * agent_radius + margin, 2 * agent_radius + margin / 2


def stop_step(walls: WallTable, positions: torch.Tensor, velocity: torch.Tensor, dt: float, agent_radius: float,
              margin: float) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Moves every agent until it would touch something; see the module docstring.

    :param positions: ``(E, A, 2)`` metres.
    :param velocity: ``(E, A, 2)`` metres per second.
    :param dt: seconds.
    :param agent_radius: metres.
    :param margin: metres left between a stopped agent and what stopped it.
    :returns: new ``(E, A, 2)`` positions, ``(E, A)`` progress, and ``(E, A)`` bool: stopped short.
    """
    wall_stop, wall_hit, agent_stop, agent_hit = contact_radii(agent_radius, margin)
    moves = velocity * torch.tensor(dt, dtype=torch.float32)
    groups = _wall_groups(walls, positions, moves, wall_stop)
    stops, _ = first_wall_contact(groups, positions.reshape(-1, 2), moves.reshape(-1, 2), wall_stop, wall_hit)
    stops = stops.clamp(max=1.0).reshape(positions.shape[:2])
    if positions.shape[1] > 1:
        times = torch.tensor([0.0, 1.0], device=positions.device).expand(*stops.shape, 2)
        points = torch.stack([positions, positions + moves], -2)
        stops = resolve_agent_contacts(times, points, stops, agent_stop, agent_hit)
    new_positions = positions + stops[..., None] * moves
    moving = (moves != 0).any(-1)
    # an agent not asked to move achieved all of it, even if another ran into it
    return new_positions, stops.masked_fill(~moving, 1.0), moving & (stops < 1)


def _dot(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """``a . b`` over the last dimension of 2, as ``ax * bx + ay * by`` (the order the kernels use)."""
    return a[..., 0] * b[..., 0] + a[..., 1] * b[..., 1]


def push_apart(positions: torch.Tensor, velocity: torch.Tensor, contact_distance: float) -> torch.Tensor:
    """Agents within ``contact_distance`` (centre to centre, metres) that close in share their closing speed.

    Each of two touching agents loses half of their closing speed along the line between their
    centres, as equal masses in a perfectly inelastic collision; contacts with several agents add up.

    :returns: ``(E, A, 2)`` new velocities, metres per second.
    """
    offsets = positions[:, None, :, :] - positions[:, :, None, :]  # (E, A, A, 2): j minus i
    distance = torch.sqrt(_dot(offsets, offsets))
    touching = (distance < contact_distance) & (distance > 0)
    normal = offsets / distance.masked_fill(~touching, 1.0)[..., None]
    closing = _dot(velocity[:, :, None, :] - velocity[:, None, :, :], normal)  # (v_i - v_j) . n_ij
    share = (closing / 2).masked_fill_(~(touching & (closing > 0)), 0.0)
    # summed over the other agents in order, as the kernels do
    total = torch.zeros_like(velocity)
    for other in range(positions.shape[1]):
        total = total + share[:, :, other, None] * normal[:, :, other]
    return velocity - total


def slide_step(
    walls: WallTable,
    positions: torch.Tensor,
    velocity: torch.Tensor,
    dt: float,
    agent_radius: float,
    margin: float,
    sub_contacts: int,
    record_path: bool = False,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """Moves every agent, sliding along walls; see the module docstring.

    :param sub_contacts: how many walls an agent may meet and slide along in one step; after the
        last it rests for the remainder of the step.
    :param record_path: also return the path each agent took.
    :returns: new ``(E, A, 2)`` positions, new ``(E, A, 2)`` velocities, ``(E, A)`` progress, and
        if ``record_path``, ``(E, A, sub_contacts + 2, 2)`` metres: the corners of each agent's
        path, from its start to its end (repeated where it met fewer walls), else None.
    """
    wall_stop, wall_hit, agent_stop, agent_hit = contact_radii(agent_radius, margin)
    dt = torch.tensor(dt, dtype=torch.float32)  # zero-dimensional: see sweep.ZERO
    intended = velocity * dt
    n_agents = positions.shape[1]
    if n_agents > 1:
        velocity = push_apart(positions, velocity, agent_stop + margin)

    # the path, flat over agents: breakpoint k at times[k], at points[k], with velocity speeds[k] after it
    n = positions.shape[0] * n_agents
    here, flat_velocity = positions.reshape(n, 2), velocity.reshape(n, 2)
    groups = _wall_groups(walls, positions, velocity * dt, wall_stop)  # sliding never lengthens the path
    times, points, speeds = [here.new_zeros(n)], [here], [flat_velocity]
    remaining = here.new_ones(n)
    check_early = positions.device.type == "cpu"  # a host sync per sub-contact costs more on a GPU
    for _ in range(sub_contacts):
        moves = flat_velocity * (dt * remaining)[:, None]
        t, wall = first_wall_contact(groups, here, moves, wall_stop, wall_hit)
        contact = wall >= 0
        free = ~contact
        t = t.masked_fill_(free, 1.0)
        here = here + t[:, None] * moves
        now = (times[-1] + t * remaining).masked_fill_(free, 1.0)
        remaining = (remaining * (1 - t)).masked_fill_(free, 0.0)

        # lose the part of the velocity into the wall: its normal points from the wall to the centre
        w = walls.walls[wall.clamp(min=0)]
        nx, ny = nearest_on_wall(here[:, 0], here[:, 1], w[:, 0], w[:, 1], w[:, 2], w[:, 3],
                                 walls.lengths[wall.clamp(min=0)])
        normal = torch.stack([here[:, 0] - nx, here[:, 1] - ny], -1)
        normal = normal / torch.sqrt(_dot(normal, normal)).clamp_min(1e-12)[:, None]
        into = _dot(flat_velocity, normal)
        flat_velocity = torch.where((contact & (into < 0))[:, None], flat_velocity - into[:, None] * normal,
                                    flat_velocity)

        times.append(now)
        points.append(here)
        speeds.append(flat_velocity)
        if check_early and not bool(contact.any()):
            break
    # rest for whatever is left of the step
    times.append(here.new_ones(n))
    points.append(here)
    speeds.append(flat_velocity)
    shape = positions.shape[:2]
    times = torch.stack(times, -1).reshape(*shape, -1)
    points = torch.stack(points, -2).reshape(*shape, -1, 2)
    speeds = torch.stack(speeds, -2).reshape(*shape, -1, 2)

    stops = torch.ones_like(positions[..., 0])
    if n_agents > 1:
        stops = resolve_agent_contacts(times, points, stops, agent_stop, agent_hit)
    new_positions = position_at(times, points, stops)
    # the velocity after the last wall met before the stop
    last = ((times <= stops[..., None]).sum(-1) - 1).clamp(min=0)
    new_velocity = speeds.gather(-2, last[..., None, None].expand(*last.shape, 1, 2))[..., 0, :]

    length2 = _dot(intended, intended)
    along = _dot(new_positions - positions, intended)
    still = ~(length2 > 0)
    progress = (along / length2.masked_fill(still, 1.0)).clamp_(0, 1).masked_fill_(still, 1.0)
    path = None
    if record_path:
        corners = times.minimum(stops[..., None])  # (E, A, P)
        n_points = times.shape[-1]
        path = position_at(times[..., None, :].expand(*corners.shape, n_points),
                           points[..., None, :, :].expand(*corners.shape, n_points, 2), corners)
        path = torch.cat([path, path[..., -1:, :].expand(*shape, sub_contacts + 2 - n_points, 2)], -2)
    return new_positions, new_velocity, progress, path
