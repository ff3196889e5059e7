"""Each distribution imports only itself, the standard library, and what its pyproject declares.

nox's per-package sessions catch a missing dependency at run time; this test
catches it by reading the sources, also in code paths the tests do not reach
(imports inside functions included). Optional extras count as declared.
"""
import ast
import sys

import pytest
import tomllib

PACKAGES = ["megastep_core", "megastep_physics", "megastep_render", "megastep_geometry", "megastep_envs"]
# the import name of each distribution that is not spelled like its project name
IMPORT_NAMES = {
    "pyyaml": "yaml", "imageio-ffmpeg": "imageio_ffmpeg", "cupy-cuda12x": "cupy", "cupy-cuda13x": "cupy",
    "tensorboard": "torch.utils.tensorboard", "pillow": "PIL",
}


def declared_imports(pyproject: dict) -> set[str]:
    project = pyproject["project"]
    requirements = list(project.get("dependencies", []))
    for extra in project.get("optional-dependencies", {}).values():
        requirements += extra
    names = set()
    for requirement in requirements:
        name = requirement.split(";")[0].split("[")[0]
        for separator in "<>=!~ ":
            name = name.split(separator)[0]
        name = name.strip().lower()
        names.add(IMPORT_NAMES.get(name, name.replace("-", "_")).split(".")[0])
    return names


def imported_top_levels(source: str) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("package", PACKAGES)
def test_package_imports_only_what_it_declares(repo, package):
    pyproject = tomllib.loads((repo / package / "pyproject.toml").read_text())
    allowed = declared_imports(pyproject) | {package} | set(sys.stdlib_module_names) | {"__future__"}
    undeclared = {}
    for path in (repo / package / "src" / package).rglob("*.py"):
        for name in imported_top_levels(path.read_text()) - allowed:
            undeclared.setdefault(name, []).append(str(path.relative_to(repo)))
    assert not undeclared, f"{package} imports packages its pyproject.toml does not declare: {undeclared}"
