"""CUDA kernels for the hottest parts of the built-in envs, where PyTorch alone would take many passes.

Only :class:`~megastep_envs.rewards.NewTexels` has one: over 16 M pixels its
twenty-odd PyTorch operations cost 1.5 ms a step on an H100, the fused pair of
kernels in ``new_texels.cu`` a tenth of that. The PyTorch code stays the
reference (and the CPU path); the GPU tests check that both pay the same.
Nothing here imports CuPy until a kernel is first launched.
"""
