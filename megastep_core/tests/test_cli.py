import subprocess
import sys
import types

from megastep_core import hookimpl
from megastep_core.builtin import plugins_table
from megastep_core.cli import main
from megastep_core.plugins import get_plugin_manager


def test_plugins_command_lists_core(capsys):
    assert main(["plugins"]) == 0
    out = capsys.readouterr().out
    header, rule, *rows = out.splitlines()
    assert header.split()[:4] == ["plugin", "distribution", "version", "physics"]
    assert any(row.split()[:3] == ["core", "megastep-core", "0.1.0"] for row in rows)
    assert out.strip() == plugins_table().strip()


def test_no_command_prints_help(capsys):
    assert main([]) == 2
    assert "plugins" in capsys.readouterr().out


def test_console_script_runs():
    done = subprocess.run([sys.executable, "-m", "megastep_core.cli", "plugins"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "megastep-core" in done.stdout


def test_plugins_add_subcommands_through_megastep_commands(capsys):
    plugin = types.ModuleType("hello_plugin")

    def hello(args):
        print("hello", args.who)
        return 3

    @hookimpl
    def megastep_commands(subparsers):
        parser = subparsers.add_parser("hello")
        parser.add_argument("who")
        parser.set_defaults(run=hello)

    plugin.megastep_commands = megastep_commands
    manager = get_plugin_manager()
    manager.register(plugin, name="hello")
    try:
        assert main(["hello", "world"]) == 3
        assert capsys.readouterr().out == "hello world\n"
    finally:
        manager.unregister(name="hello")
