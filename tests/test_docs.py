"""Every hook has its section in the docs and a test that exercises it."""
import inspect

import pytest

from megastep_core import hookspecs

HOOKS = [name for name, f in inspect.getmembers(hookspecs, inspect.isfunction) if name.startswith("megastep_")]


def test_there_are_hooks():
    assert {"megastep_physics", "megastep_renderer", "megastep_reward", "megastep_spawner"} <= set(HOOKS)


@pytest.mark.parametrize("hook", HOOKS)
def test_every_hook_has_a_docs_section_with_an_example(repo, hook):
    page = (repo / "docs" / "plugin_hooks.rst").read_text()
    anchor = f".. _hook-{hook}:"
    assert anchor in page, f"docs/plugin_hooks.rst lacks a section for {hook} ({anchor})"
    section = page.split(anchor, 1)[1].split(".. _hook-", 1)[0]
    assert f"autofunction:: megastep_core.hookspecs.{hook}" in section
    assert "code-block:: python" in section and f"def {hook}(" in section, f"{hook}'s section needs an example"


@pytest.mark.parametrize("hook", HOOKS)
def test_every_hook_has_a_test(repo, hook):
    sources = [p for p in repo.glob("*/tests/test_*.py")] + list((repo / "tests").glob("test_*.py"))
    sources += list((repo / "tests" / "plugins").rglob("*.py"))
    users = [p for p in sources if p.name != "test_docs.py" and hook in p.read_text()]
    assert users, f"no test mentions the {hook} hook"


@pytest.mark.parametrize("spec", HOOKS)
def test_hook_specs_document_every_argument(spec):
    function = getattr(hookspecs, spec)
    doc = inspect.getdoc(function)
    for argument in inspect.signature(function).parameters:
        assert f":param {argument}:" in doc, f"{spec} does not document {argument}"
    if function.megastep_spec["firstresult"]:
        assert "Stops at the first non-None result" in doc
    if inspect.signature(function).return_annotation not in ("None", None):
        assert ":returns:" in doc


PROTOCOLS = ["Physics", "Renderer", "Reward", "Spawner", "Observation"]


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_every_protocol_has_a_docs_section_and_a_test(repo, protocol):
    page = (repo / "docs" / "plugin_hooks.rst").read_text()
    anchor = f".. _protocol-{protocol}:"
    assert anchor in page, f"docs/plugin_hooks.rst lacks a section for the {protocol} protocol ({anchor})"
    assert f"autoclass:: megastep_core.protocols.{protocol}" in page.split(anchor, 1)[1]
    tests = (repo / "megastep_core" / "tests" / "test_protocols.py").read_text()
    assert f"protocols.{protocol}" in tests or f" {protocol}," in tests, f"no test requires {protocol}"
