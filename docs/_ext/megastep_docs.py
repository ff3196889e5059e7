"""Sphinx helpers for megastep's docs: the ``megastep`` command reference, and short names of re-exported objects.

``.. megastep-commands::`` writes one section per subcommand of the ``megastep``
command, with its usage, description and every argument, read from the very
argparse parsers the command builds (:func:`megastep_core.cli.build_parser`),
so the reference cannot fall behind the code.

``.. megastep-stages::`` draws the env step's data flow as a table, one row per
stage, read from the stage declarations themselves
(:data:`megastep_envs.step.stages.STAGES`), so the picture cannot drift from the step.

Re-exported objects are documented once, in the module that defines them
(``megastep_core.world.World``); a cross-reference to a shorter public name
(``megastep_core.World``) is resolved to that entry by :func:`resolve_reexport`.
"""
from __future__ import annotations

import argparse
import importlib
import os
from pathlib import Path

from docutils import nodes
from docutils.statemachine import StringList
from sphinx.util.docutils import SphinxDirective
from sphinx.util.nodes import nested_parse_with_titles

HELP_WIDTH = 100
"""Columns argparse wraps usage lines to, fixed so that the page does not depend on the terminal."""


def _subcommands(parser: argparse.ArgumentParser) -> dict[str, tuple[argparse.ArgumentParser, str]]:
    """``name -> (parser, one-line help)`` for every subcommand of ``parser``, in the order they were added."""
    found = {}
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            helps = {choice.dest: choice.help or "" for choice in action._choices_actions}
            for name, subparser in action.choices.items():
                found[name] = (subparser, helps.get(name, ""))
    return found


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("*", "\\*").replace("`", "\\`").replace("|", "\\|")


def _default(action: argparse.Action) -> str:
    if action.default in (None, argparse.SUPPRESS) or isinstance(action, (argparse._HelpAction,)):
        return ""
    if isinstance(action, (argparse._StoreTrueAction, argparse._StoreFalseAction)):
        return ""
    return f"``{action.default}``" if action.default != "" else '``""``'


def _names(action: argparse.Action, formatter: argparse.HelpFormatter) -> str:
    if not action.option_strings:
        return f"``{action.metavar or action.dest}``"
    if action.nargs == 0:
        return ", ".join(f"``{o}``" for o in action.option_strings)
    value = formatter._format_args(action, formatter._get_default_metavar_for_optional(action))
    return ", ".join(f"``{o} {value}``" for o in action.option_strings)


def argument_rows(parser: argparse.ArgumentParser) -> list[tuple[str, str, str, str]]:
    """``(group title, names, default, help)`` of every argument of ``parser`` but ``--help``."""
    formatter = parser._get_formatter()
    rows = []
    for group in parser._action_groups:
        for action in group._group_actions:
            if isinstance(action, (argparse._HelpAction, argparse._SubParsersAction)):
                continue
            help_text = formatter._expand_help(action) if action.help else ""
            rows.append((group.title or "", _names(action, formatter), _default(action), help_text.strip()))
    return rows


def command_rst(name: str, parser: argparse.ArgumentParser, summary: str) -> list[str]:
    """The reST of one subcommand's section."""
    title = f"``megastep {name}``"
    lines = [f".. _command-{name}:", "", title, "-" * len(title), ""]
    if summary:
        lines += [_escape(summary[0].upper() + summary[1:]) + ".", ""]
    lines += [".. code-block:: text", ""]
    lines += ["   " + line for line in parser.format_usage().strip().splitlines()]
    lines += [""]
    if parser.description and parser.description.strip().rstrip(".") != summary.strip().rstrip("."):
        # descriptions are the commands' module docstrings: reST already
        lines += [" ".join(parser.description.split()), ""]
    rows = argument_rows(parser)
    if rows:
        lines += [".. list-table::", "   :header-rows: 1", "   :widths: 30 12 58", "",
                  "   * - argument", "     - default", "     - meaning"]
        for _group, names, default, help_text in rows:
            lines += [f"   * - {names}", f"     - {default}", f"     - {_escape(help_text) or ' '}"]
        lines += [""]
    if parser.epilog:
        lines += ["Examples:", "", ".. code-block:: text", ""]
        lines += ["   " + line for line in parser.epilog.strip("\n").splitlines()]
        lines += [""]
    return lines


class MegastepCommands(SphinxDirective):
    """``.. megastep-commands::``: a section per subcommand of ``megastep``, from its parsers."""

    has_content = False

    def run(self):
        # the page depends on code, not on its source: read it again at every build (see always_outdated)
        if not hasattr(self.env, "megastep_command_docs"):
            self.env.megastep_command_docs = set()
        self.env.megastep_command_docs.add(self.env.docname)
        os.environ["COLUMNS"] = str(HELP_WIDTH)
        from megastep_core.cli import build_parser

        parser = build_parser()
        lines = [".. code-block:: text", ""]
        lines += ["   " + line for line in parser.format_help().strip().splitlines()]
        lines += [""]
        for name, (subparser, summary) in sorted(_subcommands(parser).items()):
            lines += command_rst(name, subparser, summary)
        node = nodes.section()
        node.document = self.state.document
        nested_parse_with_titles(self.state, StringList(lines, source="megastep-commands"), node)
        return node.children


class ImagesOfFolder(SphinxDirective):
    """``.. megastep-images:: _static/training``: a figure for every PNG in a folder of the docs, by name.

    Pictures that other jobs drop into the folder (training curves) appear without editing the page;
    each one's caption is its file name, underscores read as spaces. The directive's content, if any,
    is shown before them, and only when there is a picture to show.
    """

    required_arguments = 1
    has_content = True

    def run(self):
        if not hasattr(self.env, "megastep_command_docs"):
            self.env.megastep_command_docs = set()
        self.env.megastep_command_docs.add(self.env.docname)
        folder = Path(self.env.srcdir) / self.arguments[0]
        images = sorted(folder.glob("*.png"))
        lines = [*self.content, ""] if images else []
        for image in images:
            caption = image.stem.replace("_", " ")
            lines += [f".. figure:: /{self.arguments[0]}/{image.name}", f"   :alt: {caption}", "   :width: 80%", "",
                      f"   {caption}", ""]
        node = nodes.section()
        node.document = self.state.document
        nested_parse_with_titles(self.state, StringList(lines, source=str(folder)), node)
        return node.children


def resolve_reexport(app, env, node, contnode):
    """Resolves ``pkg.Name`` to the entry of the object ``pkg.Name`` is, where it was documented by its home module."""
    if node.get("refdomain") != "py":
        return None
    target = node.get("reftarget", "")
    module_name, _, attribute = target.rpartition(".")
    if not module_name.startswith("megastep") or not attribute:
        return None
    try:
        obj = getattr(importlib.import_module(module_name), attribute)
    except (ImportError, AttributeError):
        return None
    home = getattr(obj, "__module__", None)
    qualname = getattr(obj, "__qualname__", attribute)
    if home is None or f"{home}.{qualname}" == target:
        return None
    domain = env.get_domain("py")
    builder = app.builder
    for kind in ("class", "func", "data", "obj"):
        node["reftarget"] = f"{home}.{qualname}"
        found = domain.resolve_xref(env, node["refdoc"], builder, kind, node["reftarget"], node, contnode)
        if found is not None:
            return found
    node["reftarget"] = target
    return None


class MegastepStages(SphinxDirective):
    """The env step's stages in order, with where each one's code lives and what it reads and writes."""

    def run(self):
        from megastep_envs.step.stages import STAGES

        self.env.megastep_command_docs = getattr(self.env, "megastep_command_docs", set()) | {self.env.docname}
        flow = " → ".join(f"**{stage.name}**" for stage in STAGES)
        lines = [flow, "", ".. list-table::", "   :header-rows: 1", "   :widths: 14 24 30 16 16", "",
                 "   * - stage", "     - code", "     - does", "     - reads", "     - writes"]
        for stage in STAGES:
            name = f"{stage.name} (beside)" if stage.side else stage.name
            lines += [f"   * - {name}", f"     - ``{stage.code}``", f"     - {_escape(stage.does)}",
                      f"     - {', '.join(stage.reads)}", f"     - {', '.join(stage.writes)}"]
        container = nodes.container()
        nested_parse_with_titles(self.state, StringList(lines, source="megastep_envs.step.stages"), container)
        return container.children


def always_outdated(app, env, added, changed, removed):
    """The pages whose content comes from code or a folder, which an incremental build must read again."""
    return sorted(getattr(env, "megastep_command_docs", set()) - set(removed))


def setup(app):
    app.add_directive("megastep-commands", MegastepCommands)
    app.add_directive("megastep-images", ImagesOfFolder)
    app.add_directive("megastep-stages", MegastepStages)
    app.connect("env-get-outdated", always_outdated)
    app.connect("missing-reference", resolve_reexport)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
