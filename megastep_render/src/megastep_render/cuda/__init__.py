"""The ``cuda`` renderer: baking, ray casting and shading as CuPy kernels (``render.cu``).

Nothing here imports CuPy until a kernel is first launched, so the plugin
loads and lists itself as unavailable on machines without CUDA.
"""
