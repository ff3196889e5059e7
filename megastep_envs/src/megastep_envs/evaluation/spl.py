"""Success weighted by path length (SPL), the PointNav literature's measure of navigation.

Anderson et al. (2018), "On Evaluation of Embodied Navigation Agents": over
``N`` episodes,

    SPL = (1 / N) * sum_i S_i * l_i / max(p_i, l_i)

where ``S_i`` is 1 if episode ``i`` succeeded, ``l_i`` the shortest path from
its start to its goal (here the geodesic distance through free space,
:meth:`~megastep_envs.modules.occupancy.OccupancyGrid.geodesic_distance`) and ``p_i``
the length of the path the agent actually walked. An agent that reaches every
goal along the shortest path scores 1; a detour of twice the shortest length
halves an episode's score; a failure scores 0 whatever the path.
"""
from __future__ import annotations

import torch


def spl(success: torch.Tensor, shortest: torch.Tensor, travelled: torch.Tensor) -> float:
    """The SPL of ``N`` episodes.

    :param success: ``(N,)`` bool (or 0/1), whether each episode reached its goal.
    :param shortest: ``(N,)`` metres, each episode's geodesic shortest path from start to goal; finite (an
        episode whose goal cannot be reached has no SPL: leave it out and count it apart).
    :param travelled: ``(N,)`` metres, the length of the path the agent walked.
    :returns: the mean of ``S_i * l_i / max(p_i, l_i)``; an episode that starts at its goal (``l_i = 0``) and
        succeeds scores 1.
    :raises ValueError: naming the argument that is empty, of another shape, negative or not finite.
    """
    success, shortest, travelled = (torch.as_tensor(x).detach().double().flatten().cpu()
                                    for x in (success, shortest, travelled))
    if len(success) == 0:
        raise ValueError("success must hold at least one episode, got none")
    for name, value in (("shortest", shortest), ("travelled", travelled)):
        if value.shape != success.shape:
            raise ValueError(f"{name} must have one entry per episode ({len(success)}), got {len(value)}")
        if not (value.isfinite().all() and (value >= 0).all()):
            raise ValueError(f"{name} must be finite, non-negative metres, got {value.tolist()}")
    if not ((success == 0) | (success == 1)).all():
        raise ValueError(f"success must be 0 or 1 per episode, got {success.tolist()}")
    longer = torch.maximum(travelled, shortest)
    ratio = torch.where(longer > 0, shortest / longer.clamp_min(1e-12), 1.0)
    return float((success * ratio).mean())
