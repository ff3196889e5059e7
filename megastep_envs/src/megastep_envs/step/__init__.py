"""The env runtime: :class:`~megastep_envs.step.env.Env` and the stages of its step
(:mod:`~megastep_envs.step.stages`), the CUDA graph and side streams that replay it
(:mod:`~megastep_envs.step.graphs`), compiled task code (:mod:`~megastep_envs.step.compiling`), the action
checks and episode bookkeeping, with their kernels beside their torch reference (``actions.cu``,
``episodes.cu``), and lifespans. It imports nothing from ``modules/``, ``tasks/`` or ``tools/``."""
