"""What ``megastep demo`` and ``megastep bench`` say about bad arguments: one clear line, no traceback."""
import pytest

from megastep_core.cli import main


def test_demo_refuses_a_bad_device_with_an_argparse_error(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["demo", "minimal", "--device", "tpu"])
    assert exit_.value.code == 2
    assert "argument --device: 'tpu' is not a device" in capsys.readouterr().err


def test_bench_refuses_an_unknown_backend_once_up_front(capsys):
    assert main(["bench", "--device", "cpu", "--physics", "nope"]) == 2
    captured = capsys.readouterr()
    assert captured.err.strip() == ("megastep bench: error: --physics nope: no installed plugin provides it; known: "
                                    + captured.err.split("known: ")[1].strip())
    assert "torch" in captured.err and captured.out == ""  # no table, no failed rows


@pytest.mark.parametrize("command", ["demo", "bench"])
def test_help_is_plain_text(command, capsys):
    with pytest.raises(SystemExit):
        main([command, "--help"])
    out = capsys.readouterr().out
    assert "``" not in out and ":class:" not in out and f"megastep {command}" in out
