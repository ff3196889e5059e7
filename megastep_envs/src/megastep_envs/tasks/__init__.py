"""One file per env (its task logic, its reward and any kernel of it beside it), the helpers tasks share
(:mod:`~megastep_envs.tasks.common`) and the reward registry (:mod:`~megastep_envs.tasks.rewards`)."""
