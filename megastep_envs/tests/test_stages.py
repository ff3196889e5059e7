"""The step's stage declarations: complete, in order, and the side blocks of the step where they allow them."""
from megastep_envs.step.stages import STAGES, beside

ORDER = [stage.name for stage in STAGES]


def test_the_stages_are_the_step_in_order():
    assert ORDER == ["act", "move", "observe agents", "render", "reward", "observe render", "task update",
                     "episodes", "observe task", "restart", "observe again"]


def test_every_stage_reads_only_what_the_step_was_given_or_an_earlier_stage_wrote():
    written = {"actions", "walls", "done"}  # the actions, the scenery, and the flags of the last step
    for stage in STAGES:
        assert set(stage.reads) <= written, (stage.name, set(stage.reads) - written)
        written |= set(stage.writes)


def test_the_step_joins_each_side_block_no_later_than_its_declarations_allow():
    """Env._advance forks the agents' observations after the move and joins them once the render is enqueued
    (before the reward), and the render's observations after the render until the envs that reset are rendered
    again; both within the span the declarations derive."""
    joined_in_code = {"observe agents": ("move", "reward"), "observe render": ("render", "observe again")}
    for name, (fork, join) in joined_in_code.items():
        after, before = beside(name)
        assert ORDER.index(fork) >= ORDER.index(after)
        assert ORDER.index(join) <= ORDER.index(before)
    assert [stage.name for stage in STAGES if stage.side] == list(joined_in_code)


def test_the_runtime_modules_and_tasks_import_no_tool():
    import subprocess
    import sys

    code = ("import sys, megastep_envs, megastep_envs.step.env, megastep_envs.tasks.rewards, megastep_envs.plugin; "
            "print(sorted(name for name in sys.modules if name.startswith('megastep_envs.tools')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_a_step_keeps_the_physics_progress(room):
    from megastep_envs import make

    env = make("minimal", 2, geometries=[room], device="cpu")
    env.reset()
    assert env.last_progress is None
    env.step(env.sample_actions())
    assert env.last_progress.shape == (2, 1)
    assert ((env.last_progress >= 0) & (env.last_progress <= 1)).all()


def test_a_movement_module_that_still_runs_the_physics_itself_moves_once_and_is_told(room):
    import pytest

    from megastep_envs import make

    env = make("minimal", 2, geometries=[room], device="cpu")
    env.reset()
    actions = env.sample_actions()
    setting_velocities = env.movement

    class OldStyle:
        space = setting_velocities.space

        def __call__(self, actions):
            setting_velocities(actions)
            return env.world.move()

    env.movement = OldStyle()
    moves = []
    physics_step = env.world.physics.step
    env.world.physics.step = lambda *args: moves.append(1) or physics_step(*args)
    with pytest.warns(DeprecationWarning, match="sets velocities only"):
        env.step(actions)
    assert moves == [1]
