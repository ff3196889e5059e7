"""CUDA kernels of megastep-core, compiled with CuPy at first use: ``bodies.cu`` redraws the agents' bodies."""
