"""CUDA kernels for the hottest parts of the built-in env modules, where PyTorch alone would take many passes.

- ``new_texels.cu``: :class:`~megastep_envs.rewards.NewTexels` in one launch, a block per env;
  over 16 M pixels its twenty-odd PyTorch operations cost 1.5 ms a step on an H100.
- ``observations.cu``: :class:`~megastep_envs.observations.RGB` and
  :class:`~megastep_envs.observations.Depth` in one pass over the render each, and their refresh
  of only the envs that just reset; :class:`~megastep_envs.observations.IMU` in one launch.
- ``episodes.cu``: :class:`~megastep_envs.episodes.Episodes`, the bookkeeping of every step.
- ``actions.cu``: :class:`~megastep_envs.checks.ActionCheck`'s value check of discrete actions.

The PyTorch code of each module stays the reference (and the CPU path); tests
compile the kernels for the CPU (:mod:`megastep_core.host_kernels`) and, on a
GPU, compare both. Nothing here imports CuPy until a kernel is first launched.
"""
