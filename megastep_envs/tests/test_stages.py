"""The step's stage declarations: complete, in order, and the side blocks of the step where they allow them."""
import contextlib
import types

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


class Recorder:
    """Stands in for the env's SideStreams and logs, beside the stages, where each side block forks and joins."""

    def __init__(self, log):
        self.log = log
        self.blocks = 0

    def mark(self):
        return None

    @contextlib.contextmanager
    def fork(self, after=None):
        self.blocks += 1
        block = self.blocks
        self.log.append(("fork", block))
        yield types.SimpleNamespace(join=lambda: self.log.append(("join", block)))
        self.log.append(("forked", block))

    def join_all(self):
        self.log.append(("join", "all"))


class Logged:
    """A module or a reward that logs each call, and is otherwise the one it wraps."""

    def __init__(self, wrapped, log, event):
        self.wrapped, self.log, self.event = wrapped, log, event

    def __call__(self, *args):
        self.log.append(self.event)
        return self.wrapped(*args)

    def __getattr__(self, name):
        return getattr(self.wrapped, name)


def logged_function(function, log, event):
    return lambda *args, **kwargs: log.append(event) or function(*args, **kwargs)


def test_the_step_forks_and_joins_each_side_stage_where_the_declarations_allow(room):
    """Runs Explorer's steps with every stage and every side block logged, and finds each side stage's block:
    forked no earlier than after the stage that wrote its inputs, joined no later than the first stage that
    writes what it reads or reads what it writes (:func:`beside`)."""
    from megastep_envs import make

    env = make("explorer", 4, geometries=[room], device="cpu", physics="stop:torch", renderer="raycast:torch",
               lifespan=(2, 3), seed=1)
    env.reset()
    log = []
    env._side_streams = Recorder(log)
    world = env.world
    world.move = logged_function(world.move, log, ("stage", "move"))
    world.render = logged_function(world.render, log, ("stage", "render"))
    world.rerender = logged_function(world.rerender, log, ("stage", "observe again"))
    env.reward = Logged(env.reward, log, ("stage", "reward"))
    env.update = logged_function(env.update, log, ("stage", "task update"))
    env.episodes.step = logged_function(env.episodes.step, log, ("stage", "episodes"))
    env.observations = {name: Logged(module, log, ("observe", getattr(module, "reads", "any")))
                        for name, module in env.observations.items()}
    checked = set()
    for _ in range(6):
        log.clear()
        env.step(env.sample_actions())
        if ("stage", "observe again") not in log:
            continue  # no episode ended: the render's observations are joined at the end, as they may be
        stages = [i for i, event in enumerate(log) if event[0] == "stage"]
        first_look_until = log.index(("stage", "episodes"))
        for i, event in enumerate(log[:first_look_until]):
            if event[0] != "fork":
                continue
            forked = log.index(("forked", event[1]), i)
            reads = {e[1] for e in log[i:forked] if e[0] == "observe"}
            if not reads:
                continue
            assert len(reads) == 1, f"one block observed what {reads} read"
            side = {"agents": "observe agents", "render": "observe render"}[reads.pop()]
            joined = next(j for j, e in enumerate(log) if e in (("join", event[1]), ("join", "all")) and j > forked)
            last_before = max((j for j in stages if j < i), default=None)
            next_after = min((j for j in stages if j > joined), default=None)
            fork_at = log[last_before][1] if last_before is not None else "start"
            join_at = log[next_after][1] if next_after is not None else "end"
            after, before = beside(side)
            order = ["start", *ORDER, "end"]
            assert order.index(fork_at) >= order.index(after), (side, "forked after", fork_at)
            assert order.index(join_at) <= order.index(before), (side, "joined before", join_at)
            checked.add(side)
    assert checked == {stage.name for stage in STAGES if stage.side}


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
