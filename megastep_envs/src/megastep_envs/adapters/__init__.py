"""megastep's envs in the interfaces of other RL libraries: :mod:`.gymnasium`, :mod:`.pettingzoo` and
:mod:`.torchrl`.

Each adapter needs its library (the ``gymnasium``, ``pettingzoo`` and ``torchrl``
extras of megastep-envs) and is imported on its own, so that none is needed for the others.
"""
