"""Every tutorial runs top to bottom on the CPU and prints what its page says it prints.

Each page runs in a fresh Python process in an empty folder, as a reader
following it would, through ``tests/tutorial_runner.py`` (its docstring says
what each kind of code block does). Pages share one homes cache, so homes are
generated once per test session.
"""
import os
import subprocess
import sys
from pathlib import Path

import pytest
from tutorial_runner import Block, TutorialError, check_output, ellipsis_match, parse_blocks

REPO = Path(__file__).resolve().parents[1]
DOCS = REPO / "docs"
RUNNER = Path(__file__).with_name("tutorial_runner.py")

TUTORIALS = ["setup", "minimal", "pointgoal", "explorer", "deathmatch", "training", "evaluation", "gymnasium",
             "multiagent", "importing", "plugin", "physics_plugin"]
"""The tutorials, in the order the site lists them."""

PAGES = [f"tutorials/{name}.rst" for name in TUTORIALS] + ["plugin_hooks.rst", "reference/layouts.rst"]
"""Every page whose code blocks run."""


@pytest.fixture(scope="session")
def homes_cache(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("megastep-cache")


def run_page(page: str, folder: Path, cache: Path, *flags: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "MEGASTEP_CACHE": str(cache), "MPLBACKEND": "Agg", "PYTHONUNBUFFERED": "1"}
    # the pages' batches are tiny: one thread each is fastest, and keeps a busy machine from thrashing
    env.setdefault("OMP_NUM_THREADS", "1")
    return subprocess.run([sys.executable, str(RUNNER), str(DOCS / page), *flags], cwd=folder, env=env,
                          capture_output=True, text=True, timeout=600)


@pytest.mark.parametrize("page", PAGES)
def test_page_runs_top_to_bottom(page, tmp_path, homes_cache):
    done = run_page(page, tmp_path, homes_cache)
    assert done.returncode == 0, f"{page} failed:\n{done.stdout[-4000:]}\n{done.stderr[-8000:]}"
    assert "blocks ran" in done.stdout


def test_the_physics_tutorial_builds_the_careful_test_plugin():
    """The plugin the physics tutorial writes is the one the integration tests install: they cannot drift."""
    blocks = {b.caption: b for b in parse_blocks((DOCS / "tutorials" / "physics_plugin.rst").read_text()) if b.is_file}
    plugin = REPO / "tests" / "plugins" / "careful"
    for caption, path in [("megastep-careful/src/megastep_careful/__init__.py", "src/megastep_careful/__init__.py"),
                          ("megastep-careful/pyproject.toml", "pyproject.toml")]:
        assert blocks[caption].code.strip() == (plugin / path).read_text().strip(), f"{caption} differs from {path}"


@pytest.mark.gpu
def test_plugin_tutorial_runs_its_cuda_part(tmp_path, homes_cache):
    done = run_page("tutorials/plugin.rst", tmp_path, homes_cache, "--cuda")
    assert done.returncode == 0, f"{done.stdout[-4000:]}\n{done.stderr[-8000:]}"
    assert "skipped, it needs CUDA" not in done.stdout


def test_every_tutorial_is_in_the_site_and_runs_code():
    index = (DOCS / "index.rst").read_text()
    for name in TUTORIALS:
        assert f"tutorials/{name}" in index, f"docs/index.rst does not list tutorials/{name}"
        blocks = parse_blocks((DOCS / "tutorials" / f"{name}.rst").read_text())
        runnable = [b for b in blocks if b.language in ("python", "console") or b.is_file]
        assert runnable, f"tutorials/{name}.rst has no code that runs"
    on_disk = {p.stem for p in (DOCS / "tutorials").glob("*.rst")}
    assert on_disk == set(TUTORIALS), f"tutorial pages not run by this test: {sorted(on_disk - set(TUTORIALS))}"


def test_the_plugin_tutorial_has_a_cuda_part_that_is_checked():
    blocks = parse_blocks((DOCS / "tutorials" / "plugin.rst").read_text())
    assert any(b.is_file and b.caption.endswith(".cu") for b in blocks), "the .cu source must be a written file"
    assert any("cuda" in b.classes for b in blocks), "the CUDA part must be marked :class: cuda"


# the runner itself --------------------------------------------------------------------------------------


def test_blocks_are_parsed_with_their_options_lines_and_code():
    page = "Title\n=====\n\n.. code-block:: python\n   :caption: pkg/mod.py\n\n   x = 1\n\n   y = 2\n\ntext\n\n" \
           ".. code-block:: text\n   :class: output\n\n   3\n"
    first, second = parse_blocks(page)
    assert (first.language, first.caption, first.is_file, first.line) == ("python", "pkg/mod.py", True, 7)
    assert first.code == "x = 1\n\ny = 2\n"
    assert second.is_output and second.code == "3\n" and not second.is_file


def test_ellipsis_stands_for_any_text_and_nothing_else():
    assert ellipsis_match("a ... c", "a bbb c")
    assert ellipsis_match("a...", "a\nb\nc")
    assert ellipsis_match("...", "")
    assert not ellipsis_match("a ... c", "a bbb d")
    assert not ellipsis_match("x", "y")
    assert not ellipsis_match("a...a", "a")


def test_an_output_that_differs_fails_naming_the_line():
    block = Block("text", {"class": "output"}, "(4, 2)\n", 12, {"output"})
    check_output("page.rst", block, "(4, ...)\n", "(4, 2)\n")
    with pytest.raises(TutorialError, match="page.rst:12"):
        check_output("page.rst", block, "(4, 3)\n", "(4, 2)\n")


def test_a_failing_block_fails_the_page(tmp_path, homes_cache):
    page = tmp_path / "broken.rst"
    page.write_text("Broken\n======\n\n.. code-block:: python\n\n   print(1)\n   raise ValueError('on purpose')\n")
    done = subprocess.run([sys.executable, str(RUNNER), str(page)], cwd=tmp_path, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 1
    assert "broken.rst:6" in done.stderr and "ValueError: on purpose" in done.stderr
