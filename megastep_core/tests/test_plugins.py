"""The plugin manager, with plugins made in the test: no other megastep package is needed."""
import types

import pytest
import torch

import megastep_core.plugins as plugins
from megastep_core import BackendInfo, BackendUnavailableError, UnknownBackendError, hookimpl
from megastep_core.plugins import PluginManager


def make_plugin():
    """A plugin module providing one backend of every kind, each called 'toy'."""
    module = types.ModuleType("toy_plugin")

    class Backend:
        def __init__(self, kind, options):
            self.kind, self.options = kind, options

    @hookimpl
    def megastep_backends():
        return [BackendInfo(kind, "toy") for kind in ("physics", "renderer", "reward", "spawner")] + [
            BackendInfo("physics", "cuda", unavailable="no GPU in this test")
        ]

    def factory(kind):
        @hookimpl
        def hook(name, options):
            return Backend(kind, options) if name == "toy" else None

        return hook

    module.megastep_backends = megastep_backends
    for kind in ("physics", "renderer", "reward", "spawner"):
        setattr(module, f"megastep_{kind}", factory(kind))
    return module


@pytest.fixture
def manager():
    manager = PluginManager()
    manager.register(make_plugin(), name="toy")
    manager.check_pending()
    return manager


@pytest.mark.parametrize("hook", ["megastep_physics", "megastep_renderer", "megastep_reward", "megastep_spawner"])
def test_every_hook_resolves_by_name(manager, hook):
    kind = hook.removeprefix("megastep_")
    assert getattr(manager.hook, hook)(name="toy", options={}).kind == kind
    assert getattr(manager.hook, hook)(name="other", options={}) is None
    backend = manager.make(kind, "toy", {"speed": 3})
    assert backend.kind == kind
    assert backend.options["speed"] == 3
    assert backend.options["device"] == torch.device("cpu")


def test_megastep_backends_lists_every_backend(manager):
    listed = {(plugin, info.kind, info.name) for plugin, info in manager.backends()}
    assert ("toy", "physics", "cuda") in listed and ("toy", "spawner", "toy") in listed
    assert manager.backend_names("physics") == ["cuda", "toy"]
    assert len(manager.hook.megastep_backends()) == 1


def test_unknown_name_lists_installed_names(manager):
    with pytest.raises(UnknownBackendError, match=r"no physics backend is called 'warp'; installed: 'cuda', 'toy'"):
        manager.make("physics", "warp")


def test_unavailable_backend_says_why(manager):
    with pytest.raises(BackendUnavailableError, match="no GPU in this test"):
        manager.make("physics", "cuda")


def implementations_plugin(fast_reason=None):
    """Three implementations of a 'stop' behaviour: torch, cuda (CUDA devices only) and a third party's, preferred
    above both where it is available."""
    module = types.ModuleType("implementations")

    @hookimpl
    def megastep_backends():
        return [
            BackendInfo("physics", "stop:torch", implementation="torch", replaces="torch"),
            BackendInfo("physics", "stop:cuda", implementation="cuda", devices="cuda", preference=10, replaces="cuda"),
            BackendInfo("physics", "stop:fast", implementation="fast", preference=20, unavailable=fast_reason),
        ]

    module.megastep_backends = megastep_backends
    return module


def test_auto_and_a_behaviour_choose_the_preferred_implementation_that_runs_on_the_device():
    manager = PluginManager()
    manager.register(implementations_plugin(fast_reason="not installed"), name="implementations")
    assert manager.resolve_name("physics", "auto", torch.device("cpu")) == "stop:torch"
    assert manager.resolve_name("physics", "stop", torch.device("cpu")) == "stop:torch"
    assert manager.resolve_name("physics", "stop", torch.device("cuda")) == "stop:cuda"
    assert manager.resolve_name("physics", "stop:torch", torch.device("cuda")) == "stop:torch"


def test_a_third_party_implementation_is_chosen_by_its_preference():
    manager = PluginManager()
    manager.register(implementations_plugin(), name="implementations")
    assert manager.resolve_name("physics", "auto", torch.device("cpu")) == "stop:fast"
    assert manager.resolve_name("physics", "stop", torch.device("cuda")) == "stop:fast"


def test_an_old_name_still_works_and_warns_with_the_new_one():
    manager = PluginManager()
    manager.register(implementations_plugin(), name="implementations")
    with pytest.warns(DeprecationWarning, match="'cuda' is deprecated: use 'stop:cuda' \\(or 'stop'"):
        assert manager.resolve_name("physics", "cuda", torch.device("cpu")) == "stop:cuda"


def test_an_old_name_warns_at_the_line_that_asked_for_it():
    manager = PluginManager()
    manager.register(implementations_plugin(), name="implementations")
    with pytest.warns(DeprecationWarning) as caught:
        manager.resolve_name("physics", "cuda", torch.device("cpu"))
        manager.choose("physics", "torch", torch.device("cpu"))
    assert [warning.filename for warning in caught] == [__file__, __file__]


def test_auto_is_offered_only_for_kinds_with_a_default(manager):
    with pytest.raises(UnknownBackendError, match=r"installed: 'toy'\.$"):
        manager.make("spawner", "nope")
    with pytest.raises(UnknownBackendError, match=r"installed: 'cuda', 'toy' \(or 'auto'\)\.$"):
        manager.make("physics", "nope")


def test_an_unlisted_name_is_passed_to_the_hooks_as_it_is(manager):
    assert manager.resolve_name("physics", "toy", torch.device("cpu")) == "toy"
    # nothing implements the default behaviour here, so auto names it and the hooks answer
    assert manager.resolve_name("physics", "auto", torch.device("cuda")) == "stop"


def test_unknown_kind_is_an_error(manager):
    with pytest.raises(ValueError, match="kind must be one of"):
        manager.make("sound", "toy")


class FakeDist:
    def __init__(self, name):
        self.metadata = {"Name": name}
        self.version = "9.9"


class FakeEntryPoint:
    def __init__(self, name, dist, load):
        self.name, self.value, self.dist, self._load = name, f"{name}_module", FakeDist(dist), load

    def load(self):
        return self._load()


def fake_entry_points(monkeypatch):
    def broken():
        raise ImportError("this plugin is broken on purpose")

    points = [
        FakeEntryPoint("toy", "megastep-toys", make_plugin),
        FakeEntryPoint("broken", "megastep-broken", broken),
        FakeEntryPoint("physics_builtin", "megastep_physics", make_plugin),
    ]
    monkeypatch.setattr(plugins.metadata, "entry_points", lambda group: points if group == "megastep" else [])


def test_a_broken_plugin_is_reported_and_the_others_work(monkeypatch):
    fake_entry_points(monkeypatch)
    manager = PluginManager()
    manager.load_entry_points()
    manager.check_pending()
    assert [r.name for r in manager.broken] == ["broken"]
    assert manager.broken[0].error == "ImportError: this plugin is broken on purpose"
    assert manager.broken[0].distribution == "megastep-broken"
    assert manager.make("physics", "toy").kind == "physics"
    with pytest.raises(UnknownBackendError, match="failed to load: broken from megastep-broken: ImportError"):
        manager.make("physics", "nope")


def test_autoload_disabled_loads_builtin_distributions_only(monkeypatch):
    fake_entry_points(monkeypatch)
    monkeypatch.setenv("MEGASTEP_DISABLE_PLUGIN_AUTOLOAD", "1")
    assert plugins.autoload_disabled()
    manager = PluginManager()
    manager.load_entry_points(builtins_only=plugins.autoload_disabled())
    assert [r.name for r in manager.records] == ["physics_builtin"]


def test_the_process_manager_has_no_pending_hooks():
    plugins.get_plugin_manager().check_pending()
