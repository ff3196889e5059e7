"""The four envs: shapes, devices, rewards on constructed cases, self-resets, determinism, bad input."""
import matplotlib
import numpy as np
import pytest
import torch

from megastep_core import UnknownBackendError
from megastep_core.testing import devices
from megastep_envs import ACTIONS, ActionError, Deathmatch, Explorer, Minimal, PointGoal, UnknownEnvError, make
from megastep_envs.step.graphs import SideStreams
from megastep_envs.tasks.rewards import NewTexels
from megastep_envs.tools.plotting import plot_state

matplotlib.use("Agg")

FORWARD, NOTHING = ACTIONS.index("forward"), ACTIONS.index("nothing")


def build(name, geometry, n_envs=3, **options):
    options.setdefault("physics", "stop:torch")
    options.setdefault("renderer", "raycast:torch")
    return make(name, n_envs, geometries=[geometry], **options)


def nothing(env):
    return torch.full(env.batch, NOTHING, device=env.device)


EXPECTED_OBS = {
    "minimal": {"rgb": (1, 3, 16)},
    "explorer": {"rgb": (1, 3, 64), "depth": (1, 64), "imu": (3,)},
    "pointgoal": {"rgb": (1, 3, 32), "depth": (1, 32), "imu": (3,), "goal": (2,)},
    "deathmatch": {"rgb": (1, 3, 128), "depth": (1, 128), "imu": (3,), "health": (1,)},
}


@pytest.mark.parametrize("device", devices())
@pytest.mark.parametrize("name", sorted(EXPECTED_OBS))
def test_reset_and_step_shapes_and_devices(name, device, pillar_room):
    env = build(name, pillar_room, device=device)
    batch = env.batch
    assert batch == ((3, 4) if name == "deathmatch" else (3,))
    obs, info = env.reset()
    for key, shape in EXPECTED_OBS[name].items():
        assert obs[key].shape == batch + shape, key
        assert env.observation_space[key].shape == shape
        assert obs[key].device.type == torch.device(device).type
        assert torch.isfinite(obs[key]).all()
    assert list(obs) == list(EXPECTED_OBS[name])
    for _ in range(3):
        obs, reward, terminated, truncated, info = env.step(env.sample_actions())
    assert list(obs) == list(info["final_obs"]) == list(EXPECTED_OBS[name])  # in the order of the spaces
    assert reward.shape == batch and reward.dtype == torch.float32 and reward.device.type == torch.device(device).type
    assert terminated.shape == truncated.shape == (3,) and terminated.dtype == truncated.dtype == torch.bool
    assert set(info) == {"final_obs", "_final_obs", "episode", "_episode"}
    assert info["episode"]["r"].shape == batch and info["episode"]["l"].shape == (3,)
    assert all(info["final_obs"][k].shape == obs[k].shape for k in obs)


def test_a_texel_seen_once_pays_once(room):
    env = build("explorer", room, n_envs=1, spawner="fixed", lifespan=(3, 3),
                spawner_options={"points": [[1.0, 1.5]], "angles": [0.0]})
    env.reset()
    step = env.step(nothing(env))
    render = env.last_render
    # count by hand the distinct wall texels of env 0 that its 256 rays hit
    scenery = env.world.scenery
    lines = scenery.lines[0]
    texels = set()
    for index, location in zip(render.indices[0, 0, 0].tolist(), render.locations[0, 0, 0].tolist()):
        if index >= scenery.n_body_lines:
            length = float((lines[index, 1] - lines[index, 0]).norm())
            count = max(1, int(np.ceil(length / scenery.texel_size - 1e-6)))
            texels.add((index, min(int(location * length / scenery.texel_size), count - 1)))
    assert len(texels) > 20
    assert step.reward[0].item() == pytest.approx(len(texels) / 256)
    assert env.step(nothing(env)).reward[0].item() == 0.0  # nothing new in view: nothing paid
    # the lifespan of 3 steps ends the episode; what is seen in the next one pays again
    last = env.step(nothing(env))
    assert last.truncated.tolist() == [True] and last.info["episode"]["r"][0].item() == pytest.approx(len(texels) / 256)
    assert env.step(nothing(env)).reward[0].item() == pytest.approx(len(texels) / 256)


def test_new_texels_pays_the_first_agent_to_see_a_texel_and_ignores_bodies(room):
    env = build("deathmatch", room, n_envs=1, n_agents=2, spawner="fixed", reward="new_texels",
                spawner_options={"points": [[1.0, 1.5], [1.0, 1.0]], "angles": [0.0, 0.0]})
    env.reset()
    reward = env.step(nothing(env)).reward
    reward_plugin = NewTexels({})
    reward_plugin._prepare(env.world)
    # both agents look at the same wall; the union of what they see is paid once, split between them
    texel = reward_plugin.texels(env.world, env.last_render)
    distinct = torch.unique(texel[env.last_render.indices >= env.world.scenery.n_body_lines]).numel()
    assert reward.sum().item() == pytest.approx(distinct / 512) and (reward > 0).all()


def test_a_hit_on_an_agent_at_the_centre_pixel_pays_and_wounds(room):
    # agent 0 looks straight at agent 1; agents 2 and 3 face the walls, away from everyone
    points = [[0.6, 1.5], [2.4, 1.5], [0.6, 0.4], [2.4, 2.6]]
    env = build("deathmatch", room, n_envs=2, spawner="fixed", damage=0.25,
                spawner_options={"points": points, "angles": [0.0, 0.0, -90.0, 90.0]})
    env.reset()
    result = env.step(nothing(env))
    assert result.reward.tolist() == [[1.0, 0.0, 0.0, 0.0]] * 2
    assert env.health.tolist() == [[1.0, 0.75, 1.0, 1.0]] * 2
    for _ in range(3):  # three more hits take agent 1 to zero health, and it respawns with full health
        env.step(nothing(env))
    assert env.health[:, 1].tolist() == [1.0, 1.0] and env.deaths[:, 1].tolist() == [1, 1]


def test_health_drains_off_the_map(pillar_room):
    env = build("deathmatch", pillar_room, n_envs=1, outside_damage=0.1)
    env.reset()
    env.world.agents.positions[0, 0] = torch.tensor([2.0, 2.0])  # inside the solid column, as if it had tunnelled
    env.world.place()
    env.step(nothing(env))
    assert env.health[0, 0].item() == pytest.approx(0.9)


def test_reaching_the_goal_pays_terminates_and_resets(room):
    env = build("pointgoal", room, n_envs=2, spawner="fixed", spawner_options={"points": [[1.0, 1.5]], "angles": [0.0]})
    env.reset()
    env.goals = torch.tensor([[[1.1, 1.5]], [[2.5, 1.5]]])  # env 0's goal is one step ahead
    result = env.step(torch.tensor([FORWARD, FORWARD]))
    assert result.reward.tolist() == [1.0, 0.0]
    assert result.terminated.tolist() == [True, False] and result.truncated.tolist() == [False, False]
    assert result.info["episode"]["r"][0].item() == 1.0 and result.info["episode"]["l"][0].item() == 1
    # env 0 started over: back at its spawn point, step count zero, a new goal; env 1 carries on
    assert env.lengths.tolist() == [0, 1]
    assert torch.allclose(env.world.agents.positions[0, 0], torch.tensor([1.0, 1.5]))
    assert torch.allclose(env.world.agents.positions[1, 0], torch.tensor([1.1, 1.5]), atol=1e-5)
    assert result.info["final_obs"]["imu"][0, 1].item() == pytest.approx(1.0)  # it was walking at 1 m/s
    assert result.obs["imu"][0].abs().max().item() == 0.0  # and starts the next episode at rest


def test_goal_observation_is_the_goal_in_the_spawn_frame_and_stays_put(room):
    env = build("pointgoal", room, n_envs=4, seed=3)
    obs, _ = env.reset()
    agents = env.world.agents
    offset = env.goals[:, 0] - agents.positions[:, 0]
    angle = torch.deg2rad(agents.angles[:, 0])
    forward = offset[:, 0] * angle.cos() + offset[:, 1] * angle.sin()
    assert torch.allclose(obs["goal"][:, 0], forward, atol=1e-5)
    step = env.step(torch.full((4,), ACTIONS.index("turn_left")))
    assert torch.equal(step.obs["goal"], obs["goal"])


def test_forward_progress_pays_speed_along_the_heading(room):
    env = build("minimal", room, n_envs=1, spawner="fixed", spawner_options={"points": [[1.0, 1.5]], "angles": [0.0]})
    env.reset()
    assert env.step(torch.tensor([FORWARD])).reward.item() == pytest.approx(1.0, abs=1e-4)
    assert env.step(torch.tensor([ACTIONS.index("back")])).reward.item() == pytest.approx(-1.0, abs=1e-4)
    assert env.step(torch.tensor([ACTIONS.index("strafe_left")])).reward.item() == pytest.approx(0.0, abs=1e-4)


@pytest.mark.parametrize("final_observations", [True, False])
def test_envs_reset_themselves_at_the_end_of_their_lifespan(room, final_observations):
    env = build("minimal", room, n_envs=4, lifespan=(3, 3), final_observations=final_observations)
    env.reset()
    for _ in range(2):
        result = env.step(env.sample_actions())
        assert not result.truncated.any() and not result.info["_episode"].any()
    positions = env.world.agents.positions.clone()
    result = env.step(torch.full((4,), FORWARD))
    assert result.truncated.all() and not result.terminated.any() and result.info["_final_obs"].all()
    assert result.info["episode"]["l"].tolist() == [3, 3, 3, 3]
    assert env.lengths.tolist() == [0, 0, 0, 0] and env.returns.abs().sum() == 0
    assert not torch.allclose(env.world.agents.positions, positions)  # respawned
    fresh = env.observations["rgb"](env.world.render())[:, 0]
    if final_observations:
        assert torch.equal(result.obs["rgb"], fresh)
        assert not torch.equal(result.info["final_obs"]["rgb"], fresh)
    else:
        assert torch.equal(result.obs["rgb"], result.info["final_obs"]["rgb"])
        assert not torch.equal(result.obs["rgb"], fresh)


@pytest.mark.parametrize("device", devices())
@pytest.mark.parametrize("name", ["explorer", "deathmatch"])
def test_only_the_envs_that_reset_show_a_new_first_observation(name, device, pillar_room):
    backend = "cuda" if device == "cuda" else "torch"
    options = dict(n_envs=6, lifespan=(2, 5), device=device, physics=f"stop:{backend}", renderer=f"raycast:{backend}")
    env = build(name, pillar_room, **options)
    # the same envs seeing only their last frame of each episode: what final_obs must hold where done
    twin = build(name, pillar_room, final_observations=False, **options)
    env.reset(), twin.reset()
    for _ in range(12):
        actions = env.sample_actions()
        result, last = env.step(actions), twin.step(actions)
        done = result.info["_final_obs"]
        if done.any() and not done.all():
            break
    else:
        pytest.fail("no step reset some envs and not others")
    fresh = env._observe(env.world.render())  # the observations of the state the envs are in now
    for key, obs in result.obs.items():
        final = result.info["final_obs"][key]
        torch.testing.assert_close(final[done], last.obs[key][done], rtol=0, atol=1e-6, msg=key)
        torch.testing.assert_close(obs[~done], last.obs[key][~done], rtol=0, atol=1e-6, msg=key)
        torch.testing.assert_close(obs[done], env._squeeze(fresh)[key][done], rtol=0, atol=1e-6, msg=key)
        assert not torch.equal(obs[done], final[done]) or key == "health", key
        assert torch.isfinite(final).all(), key


def test_explorer_terminates_after_patience_steps_without_new_wall(room):
    env = build("explorer", room, n_envs=2, patience=4, spawner="fixed",
                spawner_options={"points": [[1.0, 1.5]], "angles": [0.0]})
    env.reset()
    flags = [env.step(nothing(env)).terminated.tolist() for _ in range(5)]
    # step 1 pays for the first view; steps 2 to 5 find nothing new, and the 4th of them ends the episode
    assert flags == [[False, False]] * 4 + [[True, True]]


def test_explorer_counts_the_steps_without_earnings_from_each_episode_start(room):
    env = build("explorer", room, n_envs=2, patience=3, lifespan=(5, 5), reward_options={"scale": 0.0})
    env.reset()
    flags = [env.step(nothing(env)).terminated[0].item() for _ in range(8)]
    assert flags == [False, False, True] * 2 + [False, False]  # never paid: each episode ends at its 3rd step
    assert env.state(0)["stale"] == 2


@pytest.mark.parametrize("name", ["minimal", "explorer", "pointgoal", "deathmatch"])
def test_the_same_seed_gives_the_same_episodes(name, pillar_room):
    def run(seed):
        env = build(name, pillar_room, n_envs=2, seed=seed, lifespan=(2, 4))
        obs, _ = env.reset()
        trace = [obs["rgb"]]
        for _ in range(6):
            step = env.step(env.sample_actions())
            trace += [step.obs["rgb"], step.reward, step.truncated.float()]
        return trace

    first, again, other = run(1), run(1), run(2)
    assert all(torch.equal(a, b) for a, b in zip(first, again))
    assert not all(torch.equal(a, b) for a, b in zip(first, other))


def test_greedy_pointgoal_beats_random_actions_in_an_open_room(open_room):
    def successes(policy):
        env = build("pointgoal", open_room, n_envs=16, seed=0, lifespan=(100, 100))
        env.reset()
        count = 0
        for _ in range(100):
            result = env.step(env.greedy_actions() if policy == "greedy" else env.sample_actions())
            count += int(result.terminated.sum())
        return count

    greedy, random = successes("greedy"), successes("random")
    assert greedy >= 16 and greedy >= 4 * max(random, 1), (greedy, random)


def test_bad_input_gets_a_clear_error(room):
    with pytest.raises(UnknownEnvError, match="minimal"):
        make("minimall")
    with pytest.raises(ValueError, match="n_envs must be a positive integer"):
        make("minimal", 0, geometries=[room])
    with pytest.raises(UnknownBackendError, match="new_texels"):
        build("minimal", room, reward="nope")
    with pytest.raises(UnknownBackendError, match="random"):
        build("minimal", room, spawner="nope")
    with pytest.raises(UnknownBackendError, match="physics"):
        build("minimal", room, physics="nope")
    with pytest.raises(ValueError, match="lifespan"):
        build("minimal", room, lifespan=(5, 2))
    with pytest.raises(ValueError, match="patience"):
        build("explorer", room, patience=0)
    with pytest.raises(ValueError, match="success_radius"):
        build("pointgoal", room, success_radius=float("nan"))
    with pytest.raises(ValueError, match="n_agents"):
        build("deathmatch", room, n_agents=1)
    env = build("minimal", room, n_envs=2)
    with pytest.raises(RuntimeError, match="reset"):
        env.step(torch.zeros(2, dtype=torch.long))
    env.reset()
    with pytest.raises(ActionError, match=r"shape \(2,\)"):
        env.step(torch.zeros(2, 1, dtype=torch.long))
    with pytest.raises(ActionError, match="integer"):
        env.step(torch.zeros(2))
    with pytest.raises(ActionError, match=r"\[0, 7\)"):
        env.step(torch.tensor([0, 9]))
    with pytest.raises(IndexError, match="env index"):
        env.state(2)
    with pytest.raises(ValueError, match="Explorer has one agent per env"):
        build("explorer", room, n_agents=2)
    dm = build("deathmatch", room, n_envs=2)
    dm.reset()
    with pytest.raises(ActionError, match=r"shape \(2, 4\)"):
        dm.step(torch.zeros(2, dtype=torch.long))


@pytest.mark.parametrize("env_class", [Minimal, Explorer, PointGoal, Deathmatch])
def test_state_and_plot_state(env_class, pillar_room):
    env = env_class(2, geometries=[pillar_room], physics="stop:torch", renderer="raycast:torch")
    env.reset()
    env.step(env.sample_actions())
    state = env.state(1)
    assert state["walls"].shape == (len(pillar_room.walls), 2, 2)
    assert state["positions"].shape == (env.n_agents, 2)
    assert state["distances"].shape == (env.n_agents, 1, env.world.cameras[0].pixels)
    figure = plot_state(state)
    assert len(figure.axes) >= 2
    assert {"explorer": "seen", "pointgoal": "goal", "deathmatch": "health"}.get(env.name, "obs") in state


@pytest.mark.gpu
@pytest.mark.parametrize("name", ["minimal", "explorer", "pointgoal", "deathmatch"])
def test_a_step_on_the_gpu_never_waits_for_the_device(name, pillar_room):
    env = make(name, 8, geometries=[pillar_room], device="cuda", lifespan=(2, 3))
    env.reset()
    env.step(env.sample_actions())  # first-use setup (tables, kernels) may synchronise once
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")
    try:
        for _ in range(6):  # through several self-resets
            env.step(env.sample_actions())
    finally:
        torch.cuda.set_sync_debug_mode(0)


@pytest.mark.gpu
def test_out_of_range_actions_on_the_gpu_are_reported_a_few_steps_later(room):
    env = build("minimal", room, n_envs=2, device="cuda")
    env.reset()
    with pytest.raises(ActionError, match=r"integers in \[0, 7\)"):
        for _ in range(200):
            env.step(torch.tensor([0, 9], device="cuda"))
            torch.cuda.synchronize()


def snapshot(step):
    """A step's tensors, cloned: a graphed env overwrites them on its next step. Final observations are taken
    where they are meaningful, in the envs that finished."""
    obs, reward, terminated, truncated, info = step
    done = info["_final_obs"]
    tensors = [*obs.values(), reward, terminated, truncated, *(v[done] for v in info["final_obs"].values()), done,
               info["episode"]["r"], info["episode"]["l"]]
    return [t.clone() for t in tensors]


@pytest.mark.gpu
@pytest.mark.parametrize("name", ["minimal", "explorer", "pointgoal", "deathmatch"])
def test_steps_replayed_from_a_cuda_graph_match_eager_steps(name, pillar_room):
    def run(cuda_graph):
        env = make(name, 8, geometries=[pillar_room], device="cuda", lifespan=(2, 4), seed=3, cuda_graph=cuda_graph)
        env.reset()
        actions = [env.sample_actions() for _ in range(12)]  # the env's own generator: the same in both runs
        trace = [snapshot(env.step(a)) for a in actions]
        return env, trace

    graphed, replayed = run(True)
    eager, expected = run(False)
    assert graphed.graphed and not eager.graphed
    for step, (got, want) in enumerate(zip(replayed, expected)):
        for a, b in zip(got, want):
            assert torch.equal(a, b), f"step {step}"
    assert torch.equal(graphed.world.agents.positions, eager.world.agents.positions)
    state = graphed.state(0)  # the render and observations it shows are the last replay's
    assert np.array_equal(state["obs"]["rgb"], eager.state(0)["obs"]["rgb"])


@pytest.mark.gpu
@pytest.mark.parametrize("name", ["minimal", "explorer", "pointgoal", "deathmatch"])
def test_compiled_task_code_steps_as_the_plain_code(name, pillar_room):
    """``compile=True`` runs the compilable methods compiled by Inductor: the same steps, floats to rounding."""
    def run(compile):
        env = make(name, 8, geometries=[pillar_room], device="cuda", lifespan=(2, 4), seed=3, cuda_graph=True,
                   compile=compile)
        env.reset()
        actions = [env.sample_actions() for _ in range(12)]
        return env, [snapshot(env.step(a)) for a in actions]

    compiled, got = run(True)
    plain, want = run(False)
    assert compiled.compiled and not plain.compiled and compiled.graphed and plain.graphed
    for step, (a_step, b_step) in enumerate(zip(got, want)):
        for a, b in zip(a_step, b_step):
            if a.is_floating_point():
                torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6, msg=f"step {step}")
            else:
                assert torch.equal(a, b), f"step {step}"


@pytest.mark.gpu
@pytest.mark.parametrize("name", ["minimal", "explorer", "pointgoal", "deathmatch"])
def test_observing_beside_the_step_changes_nothing(name, pillar_room):
    """Observations (and Minimal's and PointGoal's rewards) run on a side stream where they can; run in order
    on one stream, steps are the same."""
    def run(beside):
        env = make(name, 8, geometries=[pillar_room], device="cuda", lifespan=(2, 4), seed=5, cuda_graph=True)
        if not beside:
            env._side_streams = SideStreams(torch.device("cpu"))  # forks and joins that do nothing
        env.reset()
        actions = [env.sample_actions() for _ in range(12)]
        return env, [snapshot(env.step(a)) for a in actions]

    parallel, got = run(True)
    serial, want = run(False)
    assert parallel.graphed and serial.graphed
    assert len(parallel._side_streams.streams) > 1 and not serial._side_streams.streams
    for step, (a_step, b_step) in enumerate(zip(got, want)):
        for a, b in zip(a_step, b_step):
            assert torch.equal(a, b), f"step {step}"


@pytest.mark.gpu
def test_a_graphed_env_still_reports_bad_actions(room):
    env = build("minimal", room, n_envs=2, device="cuda", physics="stop:cuda", renderer="raycast:cuda",
                cuda_graph=True)
    env.reset()
    for _ in range(3):
        env.step(env.sample_actions())
    assert env.graphed
    with pytest.raises(ActionError, match="shape"):
        env.step(torch.zeros(3, dtype=torch.int64, device="cuda"))
    with pytest.raises(ActionError, match=r"integers in \[0, 7\)"):
        for _ in range(200):
            env.step(torch.tensor([0, 9], device="cuda"))
            torch.cuda.synchronize()


@pytest.mark.gpu
@pytest.mark.parametrize("name, agents", [("explorer", 1), ("deathmatch", 3)])
def test_the_new_texels_kernels_pay_as_the_torch_reference(name, agents, pillar_room):
    def run(backend):
        options = {"n_agents": agents} if agents > 1 else {}
        env = make(name, 6, geometries=[pillar_room], device="cuda", lifespan=(3, 5), seed=2, reward="new_texels",
                   reward_options={"backend": backend}, **options)
        env.reset()
        rewards = [env.step(env.sample_actions()).reward.clone() for _ in range(10)]
        return env, rewards

    fused, paid = run("cuda")
    reference, expected = run("torch")
    assert fused.reward._kernels is not None and reference.reward._kernels is None
    assert sum(float(r.sum()) for r in expected) > 0
    for step, (a, b) in enumerate(zip(paid, expected)):
        assert torch.equal(a, b), f"step {step}"
    assert torch.equal(fused.reward.stamps, reference.reward.stamps)


def test_new_texels_refuses_an_unknown_backend(room):
    with pytest.raises(ValueError, match="backend must be one of"):
        build("explorer", room, reward_options={"backend": "fast"})
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="backend='cuda' cannot run here"):
            build("explorer", room, reward_options={"backend": "cuda"}).reset()


@pytest.mark.gpu
def test_an_env_graphs_its_step_in_a_fresh_process():
    # torch warns once per process that its sync debug mode is a prototype; that notice is not a wait
    import subprocess
    import sys

    code = (
        "from megastep_envs import Minimal\n"
        "env = Minimal(16, device='cuda', cuda_graph=True)\n"
        "env.reset()\n"
        "for _ in range(4):\n"
        "    env.step(env.sample_actions())\n"
        "assert env.graphed, env._graph.eager_reason\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]


def test_a_cloned_step_shares_no_tensor_with_the_step(room):
    env = build("explorer", room, n_envs=2)
    env.reset()
    step = env.step(env.sample_actions())
    copy = step.clone()
    pairs = [(step.obs[k], copy.obs[k]) for k in step.obs] + [(step.reward, copy.reward),
             (step.info["final_obs"]["rgb"], copy.info["final_obs"]["rgb"]),
             (step.info["episode"]["l"], copy.info["episode"]["l"])]
    for original, cloned in pairs:
        assert torch.equal(original, cloned) and original.data_ptr() != cloned.data_ptr()
