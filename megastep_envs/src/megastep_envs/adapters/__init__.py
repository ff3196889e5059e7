"""megastep's envs in the interfaces of other RL libraries: :mod:`.gymnasium` and :mod:`.torchrl`.

Each adapter needs its library (the ``gymnasium`` and ``torchrl`` extras of
megastep-envs) and is imported on its own, so that neither is needed for the other.
"""
