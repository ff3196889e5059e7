"""Sphinx configuration: one site for all five megastep distributions.

Build it with warnings as errors, as CI does::

    pip install ./megastep_core ./megastep_geometry ./megastep_physics ./megastep_render ./megastep_envs
    pip install -r docs/requirements.txt
    sphinx-build -W --keep-going -b html docs docs/_build/html
"""
import os
import sys
from pathlib import Path

# Document megastep's own plugins only: a third-party plugin installed on the
# machine that builds the docs must not add commands or backends to them.
os.environ["MEGASTEP_DISABLE_PLUGIN_AUTOLOAD"] = "1"
sys.path.insert(0, str(Path(__file__).parent / "_ext"))

project = "megastep"
author = "the megastep developers"
copyright = "2026, the megastep developers"
release = "0.1.0"

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "sphinx.ext.viewcode",
    "megastep_docs",
]
autodoc_member_order = "bysource"
autodoc_typehints = "description"
# methods without a docstring of their own would show their base class's: Gymnasium's and TorchRL's are
# written in other markups, and would break the build
autodoc_inherit_docstrings = False
autodoc_default_options = {"members": True, "show-inheritance": False}
# the CUDA backends import CuPy only when they run; nothing here needs it
autodoc_mock_imports = ["cupy"]
nitpicky = False
# curly quotes and ellipses, but no dashes: "--flag" must stay two hyphens
smartquotes_action = "qe"
html_theme = "furo"
html_title = "megastep"
html_static_path = ["_static"]
exclude_patterns = ["_build", "requirements.txt", "make_figures.py", "_ext"]
suppress_warnings = ["autodoc.import_object"]
