"""Test sessions: each package alone in its own virtualenv, then all of them together.

A package's session installs only that package and what it declares (its
megastep dependencies from this checkout, since they are not on PyPI), so a
missing dependency fails here and not at a user's. ``constraints.txt`` pins
torch to the CPU wheel that CI has on disk.

    nox                 # every session below
    nox -s physics      # one package
    nox -s integration  # all five together, with the test plugins
"""
from __future__ import annotations

import nox

nox.options.sessions = ["lint", "core", "geometry", "physics", "render", "envs", "integration", "docs"]
nox.options.default_venv_backend = "venv"
nox.options.error_on_missing_interpreters = True

CONSTRAINTS = ("-c", "constraints.txt")
# each package with the local megastep packages it depends on, lowest first
PACKAGES = {
    "core": ["megastep_core"],
    "geometry": ["megastep_core", "megastep_geometry"],
    "physics": ["megastep_core", "megastep_physics"],
    "render": ["megastep_core", "megastep_render"],
    "envs": ["megastep_core", "megastep_geometry", "megastep_physics", "megastep_render", "megastep_envs"],
}
TEST_PLUGINS = ["tests/plugins/frozen", "tests/plugins/broken", "tests/plugins/careful"]
ALL = PACKAGES["envs"]


def pip_install(session: nox.Session, *requirements: str) -> None:
    """pip install under the torch pin, without byte-compiling: pip would compile all of torch in every session,
    most of which no test imports. Python compiles what the tests do import, once, if allowed: some machines set
    PYTHONDONTWRITEBYTECODE, which the sessions clear, so each test process reads what the first one compiled."""
    session.env["PYTHONDONTWRITEBYTECODE"] = ""
    session.install("--no-compile", *CONSTRAINTS, *requirements)


def install(session: nox.Session, folders: list[str], extras: str = "test") -> None:
    requirements = [f"./{folder}" for folder in folders[:-1]] + [f"./{folders[-1]}[{extras}]"]
    pip_install(session, *requirements)


def pytest(session: nox.Session, *paths: str) -> None:
    session.run("python", "-m", "pytest", "-q", "-p", "no:cacheprovider", *paths, *session.posargs)


def package_session(name: str):
    folders = PACKAGES[name]

    @nox.session(name=name)
    def run(session: nox.Session) -> None:
        install(session, folders)
        pytest(session, f"{folders[-1]}/tests")

    run.__doc__ = f"{folders[-1]} alone, with only what it declares."
    return run


for _name in PACKAGES:
    globals()[f"test_{_name}"] = package_session(_name)


@nox.session
def integration(session: nox.Session) -> None:
    """All five packages and the test plugins installed together; the cross-package tests."""
    install(session, ALL, extras="test,gymnasium,pettingzoo,torchrl,train,wandb")
    pip_install(session, *TEST_PLUGINS)
    pytest(session, "tests")


@nox.session
def lint(session: nox.Session) -> None:
    """ruff over every package and the tests."""
    session.install("ruff>=0.5")
    session.run("ruff", "check", ".")


@nox.session
def docs(session: nox.Session) -> None:
    """The Sphinx site, warnings as errors, into docs/_build/html."""
    pip_install(session, *[f"./{folder}" for folder in ALL], "-r", "docs/requirements.txt")
    session.run("sphinx-build", "-W", "--keep-going", "-b", "html", "docs", "docs/_build/html")
