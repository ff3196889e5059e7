"""Sphinx configuration: one site for all five megastep distributions."""
project = "megastep"
author = "the megastep developers"
copyright = "2026, the megastep developers"
release = "0.1.0"

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "sphinx.ext.viewcode",
    "sphinx.ext.intersphinx",
    "sphinx.ext.doctest",
]
autodoc_member_order = "bysource"
autodoc_typehints = "description"
autodoc_default_options = {"members": True, "show-inheritance": False}
intersphinx_mapping = {}
nitpicky = False
html_theme = "furo"
html_title = "megastep"
html_static_path = ["_static"]
exclude_patterns = ["_build", "requirements.txt"]
suppress_warnings = ["autodoc.import_object"]
