"""megastep's envs as TorchRL environments (the ``torchrl`` extra).

    from megastep_envs.adapters.torchrl import MegastepTorchRLEnv

    env = MegastepTorchRLEnv("explorer", num_envs=4096, device="cuda")
    rollout = env.rollout(100)  # a TensorDict of batch (4096, 100)

The env's batch size is ``(E,)`` and every spec carries that batch dimension.
Observations are entries named as the env names them (``rgb``, ``depth``,
``imu``, ``goal``), the action is ``action`` (integers, one-hot free) and the
reward ``reward`` ``(E, 1)``. ``done``, ``terminated`` and ``truncated`` are
``(E, 1)`` bools: *terminated* where the task ended, *truncated* where the
env's random lifespan cut the episode.

Multi-agent envs (Deathmatch) nest the per-agent entries under ``"agents"``,
with batch ``(E, A)``: ``("agents", "rgb")``, ``("agents", "action")``,
``("agents", "reward")``; the done flags stay per env, at the root, since a
home's episode ends for all its agents at once.

Resets follow TorchRL's partial-reset protocol: ``reset()`` with a ``"_reset"``
mask ``(E, 1)`` resets only those envs. megastep's envs reset an env in the
very step that ends its episode, so ``step`` reports the episode's true final
observation (what value bootstrapping needs) and the following partial reset
hands out the first observation of the new episode, which the env already
made. An env still running that is asked to reset is reset then.
"""
from __future__ import annotations

import math

import torch
from tensordict import TensorDict, TensorDictBase
from torchrl.data import Bounded, Categorical, Composite, Unbounded
from torchrl.envs import EnvBase

from megastep_core import spaces as megastep_spaces
from megastep_envs.modules.observations import where_envs
from megastep_envs.registry import make


def to_spec(space, batch: tuple[int, ...], device):
    """A per-agent :mod:`megastep_core.spaces` space as a TorchRL spec with ``batch`` in front."""
    if isinstance(space, megastep_spaces.Box):
        shape = (*batch, *space.shape)
        if math.isfinite(space.low) and math.isfinite(space.high):
            return Bounded(space.low, space.high, shape=shape, dtype=space.dtype, device=device)
        return Unbounded(shape=shape, dtype=space.dtype, device=device)
    if isinstance(space, megastep_spaces.Discrete):
        return Categorical(space.n, shape=batch, dtype=torch.int64, device=device)
    raise TypeError(f"no TorchRL spec for {space!r}")


class MegastepTorchRLEnv(EnvBase):
    """A batch of ``num_envs`` megastep envs as one TorchRL env of batch size ``(num_envs,)``.

    :param env: the env's name (``minimal``, ``explorer``, ``pointgoal``, ``deathmatch``).
    :param num_envs: ``E``.
    :param seed: seeds layouts, spawns and lifespans; ``set_seed`` rebuilds the env with another.
    :param options: anything the env's class takes (``device``, ``physics``, ``renderer``, ...).
    """

    def __init__(self, env: str, num_envs: int = 64, seed: int = 0, **options):
        self.name, self.options = env, options
        self.env = make(env, num_envs, seed=seed, **options)
        super().__init__(device=self.env.device, batch_size=torch.Size([self.env.n_envs]))
        self.multi_agent = self.env.multi_agent
        n_envs, device = self.env.n_envs, self.env.device
        agent_batch = self.env.batch
        observations = Composite(
            {key: to_spec(space, agent_batch, device) for key, space in self.env.observation_space.items()},
            shape=agent_batch, device=device,
        )
        action = to_spec(self.env.action_space, agent_batch, device)
        reward = Unbounded(shape=(*agent_batch, 1), device=device)
        if self.multi_agent:
            self.observation_spec = Composite({"agents": observations}, shape=(n_envs,), device=device)
            self.action_spec = Composite({"agents": Composite({"action": action}, shape=agent_batch)},
                                         shape=(n_envs,), device=device)
            self.reward_spec = Composite({"agents": Composite({"reward": reward}, shape=agent_batch)},
                                         shape=(n_envs,), device=device)
        else:
            self.observation_spec = observations
            self.action_spec = action
            self.reward_spec = reward
        flag = Categorical(2, shape=(n_envs, 1), dtype=torch.bool, device=device)
        self.done_spec = Composite({"done": flag, "terminated": flag.clone(), "truncated": flag.clone()},
                                   shape=(n_envs,), device=device)
        self._finished = None  # (E,) bool: the envs where the last step ended an episode (and the env reset)

    def _observations(self, obs: dict[str, torch.Tensor]) -> TensorDict:
        agent_batch = self.env.batch
        entries = TensorDict(dict(obs), batch_size=agent_batch, device=self.device)
        return TensorDict({"agents": entries}, batch_size=self.batch_size, device=self.device) \
            if self.multi_agent else entries

    def _flags(self, terminated: torch.Tensor, truncated: torch.Tensor) -> dict[str, torch.Tensor]:
        return {"done": (terminated | truncated)[:, None], "terminated": terminated[:, None],
                "truncated": truncated[:, None]}

    def _reset(self, tensordict: TensorDictBase | None = None, **kwargs) -> TensorDictBase:
        mask = tensordict.get("_reset", None) if tensordict is not None else None
        if mask is None or self._finished is None:
            obs = self.env.reset().obs
        else:
            # envs whose episode just ended were already reset by the env, which holds their first observation;
            # any others asked to are reset now, by mask: no value is read back from the GPU
            obs = self.env.reset(mask.reshape(self.env.n_envs) & ~self._finished).obs
        if self.env.cuda_graph:  # the env's own tensors, which the next replay overwrites
            obs = {name: value.clone() for name, value in obs.items()}
        self._finished = torch.zeros(self.env.n_envs, dtype=torch.bool, device=self.device)
        none = torch.zeros(self.env.n_envs, dtype=torch.bool, device=self.device)
        result = self._observations(obs)
        result.update(self._flags(none, none))
        return result

    def _step(self, tensordict: TensorDictBase) -> TensorDictBase:
        action = tensordict.get(("agents", "action") if self.multi_agent else "action")
        step = self.env.step(action)
        if self.env.cuda_graph:  # collectors keep what a step returns
            step = step.clone()
        # the true final observation of a finished episode (the env holds it where "_final_obs" only);
        # the reset that follows gets the new first one
        done = step.info["_final_obs"]
        result = self._observations({
            name: where_envs(done, step.info["final_obs"][name], obs) for name, obs in step.obs.items()
        })
        self._finished = step.terminated | step.truncated
        reward = step.reward[..., None].float()
        if self.multi_agent:
            result.set(("agents", "reward"), reward)
        else:
            result.set("reward", reward)
        result.update(self._flags(step.terminated, step.truncated))
        return result

    def _set_seed(self, seed: int | None) -> None:
        """Rebuilds the envs with ``seed``, so that the same seed gives the same episodes."""
        if seed is not None:
            self.env = make(self.name, self.env.n_envs, seed=int(seed), **self.options)
            self._finished = None
