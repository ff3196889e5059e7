"""Each protocol of megastep_core.protocols: require() accepts an object that keeps it and names what one lacks."""
import pytest
import torch

from megastep_core import Observation, Physics, Renderer, Reward, Spawner, protocols, require


class GoodPhysics:
    def step(self, scenery, agents, dt):
        return torch.ones_like(agents.angles)


class GoodRenderer:
    def bake(self, scenery):
        pass

    def render(self, scenery, agents, cameras):
        pass


class GoodReward:
    def reset(self, env, mask):
        pass

    def __call__(self, env, render):
        pass


class GoodSpawner:
    def __call__(self, world, mask):
        pass


class GoodObservation:
    reads = "agents"
    space = None

    def refresh(self, render):
        pass


CASES = [(Physics, GoodPhysics, "step"), (Renderer, GoodRenderer, "bake, render"),
         (Reward, GoodReward, "reset, __call__"), (Spawner, GoodSpawner, "__call__"),
         (Observation, GoodObservation, "space, refresh, reads")]


@pytest.mark.parametrize(("protocol", "good", "members"), CASES, ids=[c[0].__name__ for c in CASES])
def test_require_accepts_a_keeper_and_names_what_another_lacks(protocol, good, members):
    instance = good()
    assert require(instance, protocol) is instance

    class Nothing:
        pass

    article = "an" if protocol.__name__[0] in "AEIOU" else "a"
    with pytest.raises(TypeError, match=f"Nothing is not {article} {protocol.__name__}: it lacks {members} "):
        require(Nothing(), protocol)


def test_a_member_that_should_be_called_must_be_callable():
    class NotCallable:
        step = 3

    with pytest.raises(TypeError, match="NotCallable.step must be callable"):
        require(NotCallable(), protocols.Physics)


def test_the_contract_is_stated_once_in_the_module():
    doc = protocols.__doc__
    for rule in ("in place", "host wait", "[-180, 180)", "A * M"):
        assert rule in doc
    step = protocols.Physics.step.__doc__
    assert "``stop``" in step and "``slide``" in step


def test_backend_info_names_behaviour_and_devices():
    info = protocols.BackendInfo("physics", "stop:cuda", implementation="cuda", devices="cuda", replaces="cuda")
    assert (info.behaviour, info.devices, info.replaces) == ("stop", ("cuda",), ("cuda",))
    assert not info.runs_on("cpu")
    assert protocols.BackendInfo("physics", "stop:torch").runs_on("cpu")
