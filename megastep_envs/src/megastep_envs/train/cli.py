"""``megastep train ENV``: train an agent, resume a run, or record a trained one.

    megastep train minimal --out runs/minimal                 # train with Minimal's defaults
    megastep train pointgoal --envs 256 --total-steps 2000000 # any hyperparameter as a flag
    megastep train minimal --out runs/minimal --resume        # continue exactly where it stopped
    megastep train minimal --out runs/minimal --overwrite     # start over, deleting the run there
    megastep train minimal --eval runs/minimal/checkpoint.pt --video minimal.mp4
    megastep train explorer --bench --envs 1024 4096 --json bench.json   # training throughput
    torchrun --nproc-per-node 2 -m megastep_envs.train minimal --out runs/minimal2

Every field of :class:`~megastep_envs.train.hyperparameters.Hyperparameters` is a flag
(``total_steps`` is ``--total-steps``); a flag not given keeps the env's
default from :data:`~megastep_envs.train.hyperparameters.DEFAULTS`. Booleans take
``--lstm`` / ``--no-lstm``. Ctrl-C or SIGTERM stops a run after the update in
progress, with a checkpoint.
"""
from __future__ import annotations

import argparse
import ast
import dataclasses
import sys
import time
from pathlib import Path

from megastep_core.cli import device_argument, documented_command, plain_text
from megastep_core.errors import MegastepError
from megastep_core.world import resolve_device

from . import hyperparameters as hyperparameters_module
from . import ppo, runs
from .hyperparameters import Hyperparameters, defaults


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def _field_docs() -> dict[str, str]:
    """Each field's docstring (the string literal after it in the class body), for the help text.

    tyro and simple-parsing build such flags from a dataclass too. They are kept out because this command
    needs what they do not give as they stand: flags left out of the namespace when not given (so that a
    resume can tell them from defaults, and the CPU's defaults can apply), ``--envs`` taking several sizes
    for ``--bench`` only, and the flags shared by ``megastep train`` and ``torchrun -m megastep_envs.train``
    on one argparse parser that the ``megastep`` command's plugins extend. Reading the docstrings is these
    dozen lines; the docstrings stay the one source of both the API docs and the help.
    """
    import inspect

    docs = {}
    body = ast.parse(inspect.getsource(Hyperparameters)).body[0].body
    for statement, following in zip(body, body[1:]):
        if isinstance(statement, ast.AnnAssign) and isinstance(following, ast.Expr) \
                and isinstance(following.value, ast.Constant) and isinstance(following.value.value, str):
            # argparse formats help with %: a docstring's own % would break --help
            docs[statement.target.id] = plain_text(" ".join(following.value.value.split())).replace("%", "%%")
    return docs


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The train command's arguments, shared by ``megastep train`` and ``python -m megastep_envs.train``."""
    from megastep_envs.registry import ENVS

    parser.add_argument("env", help=f"which env: {', '.join(ENVS)}")
    parser.add_argument("--out", default=None, help="the run's folder: checkpoint.pt, metrics.jsonl, TensorBoard "
                        "events (default runs/ENV)")
    parser.add_argument("--resume", nargs="?", const=True, default=None, metavar="CHECKPOINT",
                        help="continue a run exactly: from CHECKPOINT, or from OUT/checkpoint.pt when none is named")
    parser.add_argument("--updates", type=int, default=None,
                        help="stop after this many updates in this invocation, with a checkpoint")
    parser.add_argument("--overwrite", action="store_true",
                        help="start over in an OUT that holds another run, deleting its checkpoint and metrics")
    parser.add_argument("--bench", action="store_true",
                        help="instead of training, time a few updates at each size of --envs N [N ...] and print "
                        "agent-steps/s end to end and where the time goes")
    parser.add_argument("--json", default=None, metavar="FILE", help="with --bench: write the figures to FILE")
    parser.add_argument("--eval", default=None, metavar="CHECKPOINT",
                        help="instead of training, run the agent of CHECKPOINT and report its returns")
    parser.add_argument("--video", default=None, metavar="FILE.mp4", help="with --eval: record env 0 to this file")
    parser.add_argument("--eval-steps", type=int, default=300, help="with --eval: steps to run (default 300)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument("--wandb", action="store_true", help="also log to Weights & Biases (pip install wandb)")
    parser.add_argument("--env-option", action="append", metavar="KEY=VALUE",
                        help="a keyword for the env's class, over the env's training defaults (e.g. "
                        "--env-option goal_sensor=at_spawn); repeat for several")
    group = parser.add_argument_group("hyperparameters", "default: the env's own, see megastep_envs.train.ppo")
    docs = _field_docs()
    for field in dataclasses.fields(Hyperparameters):
        help_text = docs.get(field.name, "")
        # SUPPRESS leaves flags that were not given out of the namespace, so the env's defaults apply
        if field.name == "envs":  # several sizes for --bench
            group.add_argument("--envs", dest="envs", type=int, nargs="+", default=argparse.SUPPRESS, metavar="ENVS",
                               help=help_text + " (--bench takes several)")
        elif field.type in (bool, "bool"):
            group.add_argument(_flag(field.name), dest=field.name, action=argparse.BooleanOptionalAction,
                               default=argparse.SUPPRESS, help=help_text)
        else:
            kind = {"int": int, "float": float, "str": str}.get(field.type, field.type)
            kind = device_argument if field.name == "device" else kind
            group.add_argument(_flag(field.name), dest=field.name, type=kind, default=argparse.SUPPRESS,
                               metavar=field.name.upper(), help=help_text)


def given_hyperparameters(args: argparse.Namespace, several_envs: bool = False) -> dict:
    """The hyperparameter flags given on the command line, by field name (``envs`` a list if ``several_envs``)."""
    given = {f.name: getattr(args, f.name) for f in dataclasses.fields(Hyperparameters) if hasattr(args, f.name)}
    if "envs" in given and not several_envs:
        if len(given["envs"]) != 1:
            raise ValueError(f"--envs takes one number, except with --bench; got {' '.join(map(str, given['envs']))}")
        given["envs"] = given["envs"][0]
    return given


def hyperparameters(args: argparse.Namespace) -> Hyperparameters:
    """The env's defaults (the CPU's or the GPU's, by ``--device``) with every flag that was given."""
    return dataclasses.replace(env_defaults(args), **given_hyperparameters(args))


def env_defaults(args: argparse.Namespace) -> Hyperparameters:
    return defaults(args.env, resolve_device(getattr(args, "device", "auto")).type)


def env_options(args: argparse.Namespace) -> dict:
    """``--env-option KEY=VALUE`` flags as keywords: a VALUE Python can read as a literal (``3``, ``0.5``,
    ``(64, 128)``, ``True``) is that, any other is a string."""
    options = {}
    for item in args.env_option or []:
        key, equals, text = item.partition("=")
        if not equals or not key.isidentifier():
            raise ValueError(f"--env-option takes KEY=VALUE, like --env-option lifespan=(64,128); got {item!r}")
        try:
            options[key] = ast.literal_eval(text)
        except (ValueError, SyntaxError):
            options[key] = text
    return options


SIGNAL_EXIT = {"SIGINT": 130, "SIGTERM": 143}
"""Exit codes of a run stopped by a signal (with a checkpoint), as a shell reports a process the signal killed."""


def run(args: argparse.Namespace) -> int:
    """Runs the train command; returns the exit code."""
    try:
        if args.eval is not None:
            return evaluate(args)
        if args.video is not None:
            raise ValueError("--video records a trained agent: use it with --eval CHECKPOINT")
        if args.bench:
            return bench(args)
        if args.json is not None:
            raise ValueError("--json writes the figures of --bench: use it with --bench")
        out = Path(args.out) if args.out is not None else Path("runs") / args.env
        resume = None
        if args.resume is True:
            resume = out / "checkpoint.pt"
        elif args.resume is not None:
            resume = Path(args.resume)
        if resume is not None and args.env_option:
            raise ValueError("--env-option cannot change when resuming: a run keeps the env it started with")
        if resume is not None and args.overwrite:
            raise ValueError("--resume continues a run and --overwrite starts it over: give one of them")
        # a resume keeps the saved hyperparameters but for the flags given; a new run starts from the defaults
        config = given_hyperparameters(args) if resume is not None else hyperparameters(args)
        fixed = sorted(set(config) - set(runs.RESUMABLE)) if resume is not None else []
        if fixed:
            raise ValueError(
                f"{', '.join(map(_flag, fixed))} cannot change when resuming: a run keeps the hyperparameters it "
                f"started with (only {', '.join(map(_flag, runs.RESUMABLE))} may change)"
            )
        result = ppo.train(args.env, config, out=out, resume=resume, progress=not args.no_progress,
                           updates=args.updates, overwrite=args.overwrite, wandb=args.wandb,
                           env_options=env_options(args) if resume is None else None)
    except (MegastepError, ValueError) as error:
        print(f"megastep train: error: {error}", file=sys.stderr)
        return 2
    if result.checkpoint is not None:
        figures = ", ".join(f"{k.split('/')[-1]} {v:.4g}" for k, v in result.metrics.items()
                            if k in ("charts/episodic_return", "charts/success_rate", "charts/coverage", "charts/SPS"))
        print(f"{args.env}: {result.env_steps:,} env steps in {result.updates} updates ({figures}); "
              f"checkpoint {result.checkpoint}")
    return SIGNAL_EXIT.get(result.interrupted, 0)


def bench(args: argparse.Namespace) -> int:
    """``--bench``: the training benchmark at each size of ``--envs``."""
    from . import bench as training_bench

    given = given_hyperparameters(args, several_envs=True)
    sizes = given.pop("envs", [env_defaults(args).envs])
    configs = [dataclasses.replace(env_defaults(args), **given, envs=envs) for envs in sizes]
    for config in configs:
        config.check()
    training_bench.run(args.env, configs, updates=args.updates or 5, json_path=args.json,
                       env_options=hyperparameters_module.env_options(args.env, env_options(args)))
    if args.json is not None:
        print(f"wrote {args.json}")
    return 0


def evaluate(args: argparse.Namespace) -> int:
    """``--eval CHECKPOINT``: runs the trained agent, prints its returns, and records a video if asked."""
    from .evaluate import evaluate as run_agent

    if args.eval_steps < 1:
        raise ValueError(f"--eval-steps must be at least 1, got {args.eval_steps}")
    started = time.perf_counter()
    report = run_agent(args.env, args.eval, steps=args.eval_steps, video=args.video,
                       overrides=given_hyperparameters(args),
                       progress=not args.no_progress)
    seconds = time.perf_counter() - started
    if report["episodes"] == 0:
        print(f"{args.env}: no episode finished in {args.eval_steps} steps of {report['envs']} envs (reward per "
              f"step {report['reward_per_step']:.4g}, {seconds:.1f} s); run more with --eval-steps")
    else:
        line = ", ".join(f"{key} {value:.4g}" for key, value in report.items() if isinstance(value, float))
        print(f"{args.env}: {report['episodes']} episodes finished in {args.eval_steps} steps of {report['envs']} "
              f"envs: {line} ({seconds:.1f} s)")
    if args.video is not None:
        print(f"wrote {args.video}")
    return 0


def add_train_command(subparsers) -> None:
    """Adds ``megastep train`` to the ``megastep`` command (call it from a ``megastep_commands`` hook)."""
    parser = documented_command(subparsers, "train", "train an agent with PPO, resume a run, or record a trained "
                                "agent (--eval)", __doc__)
    add_arguments(parser)
    parser.set_defaults(run=run)


def main(argv: list[str] | None = None) -> int:
    """``python -m megastep_envs.train`` (and so ``torchrun ... -m megastep_envs.train``)."""
    parser = argparse.ArgumentParser(prog="python -m megastep_envs.train",
                                     description=plain_text(__doc__.split("\n\n")[0]),
                                     epilog=plain_text(__doc__.split("\n\n", 1)[1]),
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(parser)
    return run(parser.parse_args(argv))
