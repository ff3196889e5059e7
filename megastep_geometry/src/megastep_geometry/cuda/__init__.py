"""CUDA kernels of megastep-geometry, shipped as ``.cu`` sources and compiled with CuPy at first use.

``spawn.cu`` is :class:`~megastep_geometry.spawners.RandomSpawner` in one
launch: the spawner runs on every env step, and its PyTorch code is some
fifteen small kernels for one agent, some forty-five for four. The PyTorch
code stays the reference (and the CPU path); the tests check that both spawn
exactly the same. Nothing here imports CuPy until the kernel is first launched.
"""
