"""When does a moving disc first touch a wall, or another moving disc?

The geometry of one contact, written once here for the torch backends and
mirrored line by line in ``cuda/physics.cu``.

**Two radii.** An agent of radius ``r`` is stopped at the *stop radius*
``r + margin`` from a wall, but only if its move would bring it within the
*hit radius* ``r + margin / 2``. The band between them is what makes sliding
robust in float32: an agent resting at the stop radius that moves along a
wall, or past the joint between two collinear pieces of a wall, drifts by
rounding errors of micrometres, far less than ``margin / 2``, so it is not
stopped again; and no agent ever gets closer to a wall than the hit radius, so
rounding can never carry its centre through. Between agents the same holds with
``2 r`` in place of ``r``.

**Swept disc against a segment.** A disc of radius ``R`` touches segment
``a b`` exactly when its centre enters the *capsule* of points within ``R`` of
the segment: the union of a slab of half-width ``R`` along the segment and a
disc of radius ``R`` about each end point. For a centre moving from ``p`` to
``p + d`` the capsule's entry time is the smallest of the times at which it
crosses a slab face inside the segment's extent, or enters an end disc. Every
such time is a moment the centre lies in the (convex) capsule and the true
entry is one of them, so their minimum is exact.

Times are fractions of the move, in [0, 1]; ``inf`` means no contact.
"""
from __future__ import annotations

import torch

INF = float("inf")

# Zero-dimensional CPU tensors, used in place of Python numbers in arithmetic and comparisons:
# torch turns a Python number into a tensor at every op, which on the CPU costs as much as the
# op itself on these small tensors. A zero-dimensional CPU tensor works with CUDA tensors too.
ZERO = torch.tensor(0.0)
ONE = torch.tensor(1.0)


def _radii(hit_radius: float, stop_radius: float, like: torch.Tensor) -> torch.Tensor:
    """``(2, 1, ..., 1)`` the two radii, stacked so that one op serves both, broadcasting against ``like``."""
    key = (hit_radius, stop_radius, like.device, like.dim())
    found = _RADII.get(key)
    if found is None:
        found = torch.tensor([hit_radius, stop_radius], dtype=torch.float32, device=like.device)
        found = found.reshape(2, *([1] * like.dim()))
        if len(_RADII) > 64:
            _RADII.clear()
        _RADII[key] = found
    return found


_RADII: dict = {}


def _disc_entry(b, qq, dd, radii):
    """Time at which a point at ``q`` moving by ``d`` enters the disc of each radius about the origin.

    Given ``b = q . d``, ``qq = q . q`` and ``dd = d . d``. 0 if it starts inside; inf if it never enters.
    """
    c = qq - radii * radii
    disc = b * b - dd * c
    enters = (c > ZERO) & (b < ZERO) & (disc >= ZERO)
    # c / (-b + sqrt(disc)) is the smaller root of dd t^2 + 2 b t + c, without cancellation
    t = c / (torch.sqrt(disc.clamp_min(0)) - b)
    # masked_fill with a number, not torch.where: on the CPU each op's overhead is what costs
    return t.masked_fill_(~enters, INF).masked_fill_(c <= ZERO, 0.0)


def wall_stop_times(px, py, dx, dy, ax, ay, ux, uy, length, stop_radius: float, hit_radius: float):
    """When a disc moving from ``p`` by ``d`` must stop for each wall, as a fraction of the move.

    All arguments broadcast: agents' ``p``, ``d`` as ``(..., 1)`` components against walls'
    ``a`` (first end point), ``u`` (unit direction) and ``length`` as ``(..., W)``.

    :returns: ``(..., W)``: the time the centre comes within ``stop_radius`` of the wall (0 if it
        starts there) when the move brings it within ``hit_radius``; ``inf`` otherwise. A centre
        that starts within ``hit_radius`` (only rounding or a bad spawn puts it there) is stopped
        at once if it moves closer, and let go if it moves away.
    """
    wx, wy = px - ax, py - ay
    along0 = wx * ux + wy * uy
    h0 = wy * ux - wx * uy  # signed distance from the wall's line, normal (-uy, ux)
    alongd = dx * ux + dy * uy
    hd = dy * ux - dx * uy
    dd = dx * dx + dy * dy
    radii = _radii(hit_radius, stop_radius, along0)  # (2, ...): entry into each capsule at once

    # the slab of half-width R along the segment, within its extent
    side_h0 = h0.abs()
    side_hd = torch.where(h0 >= ZERO, hd, -hd)  # < 0 when moving towards the line
    in_extent = (along0 >= ZERO) & (along0 <= length)
    closing = (side_h0 >= radii) & (side_hd < ZERO)
    t = (side_h0 - radii) / -side_hd
    along = along0 + t * alongd
    crosses = closing & (along >= ZERO) & (along <= length)
    face = t.masked_fill_(~crosses, INF).masked_fill_((side_h0 < radii) & in_extent, 0.0)

    # the discs about the two end points
    b_first = wx * dx + wy * dy
    first = _disc_entry(b_first, wx * wx + wy * wy, dd, radii)
    bx, by = wx - length * ux, wy - length * uy
    second = _disc_entry(bx * dx + by * dy, bx * bx + by * by, dd, radii)
    entry = face.minimum(first).minimum(second)

    # moving towards the segment's nearest point: d . (p - nearest) < 0
    nearest = along0.clamp(min=0).minimum(length)
    approaching = b_first - nearest * alongd < ZERO
    hit = torch.where(entry[0] == ZERO, approaching, entry[0] <= ONE)
    return entry[1].masked_fill(~hit, INF)


def disc_stop_times(qx, qy, dqx, dqy, stop_radius: float, hit_radius: float):
    """When two discs whose centres are ``q`` apart, moving apart by ``dq``, must stop.

    :param qx, qy: ``(...)`` metres, one centre minus the other at the start.
    :param dqx, dqy: ``(...)`` metres, the change of ``q`` over the move.
    :returns: ``(...)`` the time ``|q|`` reaches ``stop_radius`` (0 if it starts within) when
        the move brings it within ``hit_radius``; ``inf`` otherwise.
    """
    b = qx * dqx + qy * dqy
    entry = _disc_entry(b, qx * qx + qy * qy, dqx * dqx + dqy * dqy, _radii(hit_radius, stop_radius, b))
    hit = torch.where(entry[0] == ZERO, b < ZERO, entry[0] <= ONE)
    return entry[1].masked_fill(~hit, INF)


def nearest_on_wall(px, py, ax, ay, ux, uy, length):
    """``(x, y)``: the point of each wall nearest to ``p`` (all arguments broadcast)."""
    along = ((px - ax) * ux + (py - ay) * uy).clamp(min=0).minimum(length)
    return ax + along * ux, ay + along * uy
