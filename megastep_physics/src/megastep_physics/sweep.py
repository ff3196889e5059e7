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


def _face_entry(h0, hd, along0, alongd, length, radius):
    """Time at which the centre crosses a slab face within the segment's extent, else inf."""
    side_h0 = h0.abs()
    side_hd = torch.where(h0 >= 0, hd, -hd)  # < 0 when moving towards the line
    closing = (side_h0 >= radius) & (side_hd < 0)
    t = (side_h0 - radius) / torch.where(closing, -side_hd, 1.0)
    along = along0 + t * alongd
    inside = closing & (along >= 0) & (along <= length)
    return torch.where(inside, t, INF)


def _disc_entry(qx, qy, dx, dy, dd, radius):
    """Time at which a point at ``q`` moving by ``d`` enters the disc of ``radius`` about the origin, else inf.

    A start already inside counts as no entry; callers test that case themselves.
    """
    b = qx * dx + qy * dy
    c = qx * qx + qy * qy - radius * radius
    disc = b * b - dd * c
    ok = (c > 0) & (b < 0) & (disc >= 0)
    # c / (-b + sqrt(disc)) is the smaller root of dd t^2 + 2 b t + c, without cancellation
    t = c / torch.where(ok, torch.sqrt(disc.clamp_min(0)) - b, 1.0)
    return torch.where(ok, t, INF)


def wall_stop_times(px, py, dx, dy, ax, ay, ux, uy, length, stop_radius: float, hit_radius: float):
    """When a disc moving from ``p`` by ``d`` must stop for each wall, as a fraction of the move.

    All arguments broadcast: agents' ``p``, ``d`` as ``(..., 1)`` components against walls'
    ``a`` (first end point), ``u`` (unit direction) and ``length`` as ``(..., W)``.

    :returns: ``(..., W)``: the time the centre comes within ``stop_radius`` of the wall (0 if it
        starts there) when the move brings it within ``hit_radius``; ``inf`` otherwise.
    """
    wx, wy = px - ax, py - ay
    along0 = wx * ux + wy * uy
    h0 = wy * ux - wx * uy  # signed distance from the wall's line, normal (-uy, ux)
    alongd = dx * ux + dy * uy
    hd = dy * ux - dx * uy
    dd = dx * dx + dy * dy

    # distance at the start, to the nearest point of the segment
    nearest = along0.clamp(min=0).minimum(length)
    ox, oy = wx - nearest * ux, wy - nearest * uy
    distance2 = ox * ox + oy * oy
    approaching = ox * dx + oy * dy < 0

    bx, by = wx - length * ux, wy - length * uy  # from the second end point

    def entry(radius):
        face = _face_entry(h0, hd, along0, alongd, length, radius)
        return face.minimum(_disc_entry(wx, wy, dx, dy, dd, radius)).minimum(_disc_entry(bx, by, dx, dy, dd, radius))

    hit = torch.where(distance2 < hit_radius * hit_radius, approaching, entry(hit_radius) <= 1)
    stop = torch.where(distance2 < stop_radius * stop_radius, 0.0, entry(stop_radius))
    return torch.where(hit, stop, INF)


def disc_stop_times(qx, qy, dqx, dqy, stop_radius: float, hit_radius: float):
    """When two discs whose centres are ``q`` apart, moving apart by ``dq``, must stop.

    :param qx, qy: ``(...)`` metres, one centre minus the other at the start.
    :param dqx, dqy: ``(...)`` metres, the change of ``q`` over the move.
    :returns: ``(...)`` the time ``|q|`` reaches ``stop_radius`` (0 if it starts within) when
        the move brings it within ``hit_radius``; ``inf`` otherwise.
    """
    dd = dqx * dqx + dqy * dqy
    distance2 = qx * qx + qy * qy
    approaching = qx * dqx + qy * dqy < 0
    hit = torch.where(
        distance2 < hit_radius * hit_radius, approaching, _disc_entry(qx, qy, dqx, dqy, dd, hit_radius) <= 1
    )
    stop = torch.where(distance2 < stop_radius * stop_radius, 0.0, _disc_entry(qx, qy, dqx, dqy, dd, stop_radius))
    return torch.where(hit, stop, INF)


def nearest_on_wall(px, py, ax, ay, ux, uy, length):
    """``(x, y)``: the point of each wall nearest to ``p`` (all arguments broadcast)."""
    along = ((px - ax) * ux + (py - ay) * uy).clamp(min=0).minimum(length)
    return ax + along * ux, ay + along * uy
