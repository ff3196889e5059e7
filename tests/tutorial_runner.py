"""Runs the code of a docs page top to bottom, as a reader following it would.

    python tests/tutorial_runner.py docs/tutorials/minimal.rst [--cuda]

Run it from an empty folder: the page's files are written there. What each
kind of block does:

``.. code-block:: python`` (no caption)
    executed, every block of a page in one shared namespace, in order.
    Blocks with ``:class: cuda`` need a CUDA GPU and run only with ``--cuda``.
``.. code-block:: text`` with ``:class: output``
    what the block before it must print; ``...`` stands for any text, as in doctest.
any block whose ``:caption:`` is a relative file path (``my_plugin/pyproject.toml``)
    written to that path; Python files must compile, ``.cu`` files must
    compile with nvcc (or, without it, pass a C++ compiler's syntax check
    against a small CUDA shim), ``.toml`` files must parse.
``.. code-block:: console``
    every ``$ `` line is a command, the lines after it its output (with
    ``...``). Only ``megastep ARGS`` (run in this process) and ``pip install
    ARGS`` (installed with ``--target`` into a private folder that is put on
    ``sys.path``, never into the running environment) and ``pytest ARGS`` (in
    this process, so it sees what was installed) are allowed. Console blocks
    with ``:class: cuda`` run only with ``--cuda``.
anything else (``bash``, ``toml`` without a caption, ``text``)
    shown to the reader, not run: creating virtualenvs, installing CuPy.

Every failure names the page and line of the block, and exits non-zero.
"""
from __future__ import annotations

import argparse
import contextlib
import importlib
import importlib.util
import io
import re
import shutil
import subprocess
import sys
import textwrap
import traceback
from dataclasses import dataclass, field
from pathlib import Path

try:
    import tomllib
except ImportError:  # Python 3.10: TOML files are written but not parsed
    tomllib = None

DIRECTIVE = re.compile(r"^(?P<indent>\s*)\.\. code-block::\s*(?P<language>\S*)\s*$")
OPTION = re.compile(r"^\s*:(?P<name>[\w-]+):\s*(?P<value>.*?)\s*$")
FILE_CAPTION = re.compile(r"^[\w.\-]+(/[\w.\-]+)*\.\w+$")

SITE = ".tutorial-site"
"""The folder, in the working directory, that ``pip install`` lines install into."""

CUDA_SHIM = """
// just enough of CUDA for a C++ compiler to check a kernel's syntax
#include <cmath>
#include <cstdint>
#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __restrict__
struct megastep_dim3 { unsigned int x, y, z; };
static megastep_dim3 threadIdx, blockIdx, blockDim, gridDim;
struct float2 { float x, y; };
struct float4 { float x, y, z, w; };
struct int4 { int x, y, z, w; };
inline float2 make_float2(float x, float y) { return {x, y}; }
inline void __syncthreads() {}
using std::sqrt; using std::fabs; using std::fmin; using std::fmax;
inline float rsqrtf(float x) { return 1.0f / std::sqrt(x); }
inline float __int_as_float(int x) { float f; __builtin_memcpy(&f, &x, 4); return f; }
"""


class TutorialError(Exception):
    """A block of a page failed: the message names the page and line."""


@dataclass
class Block:
    """One ``code-block`` of a page: its language, options, code, and the page line its code starts on."""

    language: str
    options: dict[str, str]
    code: str
    line: int
    classes: set[str] = field(default_factory=set)

    @property
    def caption(self) -> str:
        return self.options.get("caption", "")

    @property
    def is_file(self) -> bool:
        return bool(FILE_CAPTION.match(self.caption))

    @property
    def is_output(self) -> bool:
        return "output" in self.classes


def parse_blocks(text: str) -> list[Block]:
    """Every ``.. code-block::`` of a reST page, in order."""
    lines = text.splitlines()
    blocks = []
    i = 0
    while i < len(lines):
        match = DIRECTIVE.match(lines[i])
        if match is None:
            i += 1
            continue
        indent = len(match["indent"])
        options = {}
        i += 1
        while i < len(lines) and (option := OPTION.match(lines[i])):
            options[option["name"]] = option["value"]
            i += 1
        body, first = [], None
        while i < len(lines):
            line = lines[i]
            if line.strip() and len(line) - len(line.lstrip()) <= indent:
                break
            if first is None and line.strip():
                first = i + 1
            body.append(line)
            i += 1
        code = textwrap.dedent("\n".join(body)).strip("\n") + "\n"
        classes = set(options.get("class", "").split())
        blocks.append(Block(match["language"], options, code, first or i, classes))
    return blocks


def ellipsis_match(expected: str, actual: str) -> bool:
    """Whether ``actual`` matches ``expected``, where ``...`` in ``expected`` stands for any text."""
    pieces = expected.split("...")
    if len(pieces) == 1:
        return expected == actual
    if not actual.startswith(pieces[0]) or not actual.endswith(pieces[-1]):
        return False
    position, end = len(pieces[0]), len(actual) - len(pieces[-1])
    for piece in pieces[1:-1]:
        found = actual.find(piece, position, end)
        if found < 0:
            return False
        position = found + len(piece)
    return position <= end


def normalise(text: str) -> str:
    return "\n".join(line.rstrip() for line in text.strip("\n").splitlines())


def check_output(page: str, block: Block, expected: str, actual: str) -> None:
    if not ellipsis_match(normalise(expected), normalise(actual)):
        raise TutorialError(
            f"{page}:{block.line}: the output differs from what the page shows.\n"
            f"--- the page shows:\n{normalise(expected)}\n--- the code printed:\n{normalise(actual)}"
        )


def check_cuda_source(path: Path) -> str:
    """Compiles a ``.cu`` file as far as this machine can; returns how it was checked."""
    nvcc = shutil.which("nvcc")
    if nvcc is not None:
        command = [nvcc, "-std=c++17", "-ptx", str(path), "-o", str(path.with_suffix(".ptx"))]
        how = "nvcc -ptx"
    else:
        compiler = shutil.which("g++") or shutil.which("clang++")
        if compiler is None:
            return "not checked: neither nvcc nor a C++ compiler is installed"
        shimmed = path.with_suffix(".shim.cpp")
        shimmed.write_text(CUDA_SHIM + f'#line 1 "{path.name}"\n' + path.read_text())
        command = [compiler, "-std=c++17", "-fsyntax-only", str(shimmed)]
        how = f"{Path(compiler).name} -fsyntax-only with a CUDA shim"
    done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    if done.returncode != 0:
        raise TutorialError(f"{path} does not compile ({how}):\n{done.stdout}{done.stderr}")
    return how


def write_file(page: str, block: Block) -> None:
    path = Path(block.caption)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(block.code)
    try:
        if path.suffix == ".py":
            compile(block.code, str(path), "exec")
        elif path.suffix == ".toml" and tomllib is not None:
            tomllib.loads(block.code)
        elif path.suffix == ".cu":
            print(f"  {path}: {check_cuda_source(path)}")
    except (SyntaxError, ValueError, TutorialError) as error:  # TOMLDecodeError is a ValueError
        raise TutorialError(f"{page}:{block.line}: the file {path} is broken: {error}") from error


def forget_plugins() -> None:
    """Makes the next ``get_plugin_manager()`` load entry points afresh, as a new process would."""
    importlib.invalidate_caches()
    plugins = sys.modules.get("megastep_core.plugins")
    if plugins is not None:
        plugins._cached_manager.cache_clear()


def pip_install(arguments: list[str]) -> str:
    """``pip install ARGUMENTS`` into :data:`SITE`, which goes first on ``sys.path``."""
    site = Path(SITE).resolve()
    command = [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-deps",
               "--target", str(site), "--upgrade"]
    if importlib.util.find_spec("setuptools") is not None:
        command.append("--no-build-isolation")  # no download of setuptools when it is already here
    done = subprocess.run(command + arguments, capture_output=True, text=True, timeout=300)
    if done.returncode != 0:
        raise TutorialError(f"pip install {' '.join(arguments)} failed:\n{done.stdout}{done.stderr}")
    if str(site) not in sys.path:
        sys.path.insert(0, str(site))
    # a reinstalled package must be imported afresh, as a restarted Python would
    for name, module in list(sys.modules.items()):
        if str(getattr(module, "__file__", None) or "").startswith(str(site)):
            del sys.modules[name]
    forget_plugins()
    return done.stdout


def megastep(arguments: list[str]) -> str:
    from megastep_core.cli import main

    output = io.StringIO()
    with contextlib.redirect_stdout(output):
        code = main(arguments)
    if code != 0:
        raise TutorialError(f"megastep {' '.join(arguments)} exited with {code}:\n{output.getvalue()}")
    return output.getvalue()


def pytest(arguments: list[str]) -> str:
    """``pytest ARGUMENTS``, in this process, which sees what ``pip install`` lines installed."""
    import pytest as pytest_module

    output = io.StringIO()
    with contextlib.redirect_stdout(output):
        code = pytest_module.main(["-p", "no:cacheprovider", *arguments])
    if code != 0:
        raise TutorialError(f"pytest {' '.join(arguments)} failed with exit code {code}:\n{output.getvalue()}")
    return output.getvalue()


def run_console(page: str, block: Block) -> None:
    """Runs each ``$ `` command of a console block and compares its output with the lines that follow it."""
    commands: list[tuple[str, list[str]]] = []
    for line in block.code.splitlines():
        if line.startswith("$ "):
            commands.append((line[2:].strip(), []))
        elif commands:
            commands[-1][1].append(line)
    for command, expected in commands:
        words = command.split()
        if words[0] == "megastep":
            run, arguments = megastep, words[1:]
        elif words[:2] == ["pip", "install"]:
            run, arguments = pip_install, words[2:]
        elif words[0] == "pytest":
            run, arguments = pytest, words[1:]
        else:
            raise TutorialError(f"{page}:{block.line}: the runner cannot run {command!r}; put it in a bash block")
        try:
            actual = run(arguments)
        except TutorialError as error:
            raise TutorialError(f"{page}:{block.line}: {error}") from error
        if any(line.strip() for line in expected):
            check_output(page, block, "\n".join(expected), actual)


def run_python(page: str, block: Block, namespace: dict) -> str:
    """Executes a block in ``namespace``; returns what it printed. Tracebacks point at the page's lines."""
    code = compile("\n" * (block.line - 1) + block.code, page, "exec")
    output = io.StringIO()
    try:
        with contextlib.redirect_stdout(output):
            exec(code, namespace)
    except Exception as error:
        printed = output.getvalue()
        raise TutorialError(
            f"{page}:{block.line}: the block raised {type(error).__name__}: {error}\n"
            + "".join(traceback.format_exception(error)) + (f"--- it printed:\n{printed}" if printed else "")
        ) from error
    return output.getvalue()


def run_page(page: str, cuda: bool = False, log=print, verbose: bool = False) -> int:
    """Runs every block of ``page``; returns how many ran (written files and commands included)."""
    text = Path(page).read_text()
    namespace = {"__name__": "__main__"}
    printed = None
    ran = 0
    for block in parse_blocks(text):
        if block.is_file:
            log(f"{page}:{block.line}: write {block.caption}")
            write_file(page, block)
            printed, ran = None, ran + 1
        elif block.is_output:
            if printed is None:
                raise TutorialError(f"{page}:{block.line}: an output block must follow a Python block that ran")
            check_output(page, block, block.code, printed)
            printed = None
        elif block.language == "console":
            if "cuda" in block.classes and not cuda:
                log(f"{page}:{block.line}: skipped, it needs CUDA")
                printed = None
                continue
            log(f"{page}:{block.line}: console")
            run_console(page, block)
            printed, ran = None, ran + 1
        elif block.language == "python" and "no-run" not in block.classes:
            if "cuda" in block.classes and not cuda:
                log(f"{page}:{block.line}: skipped, it needs CUDA")
                printed = None
                continue
            log(f"{page}:{block.line}: python")
            printed = run_python(page, block, namespace)
            if verbose and printed:
                log(printed.rstrip("\n"))
            ran += 1
        else:
            printed = None
    return ran


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("pages", nargs="+", help="reST pages to run, each in the current folder")
    parser.add_argument("--cuda", action="store_true", help="also run the blocks marked :class: cuda")
    parser.add_argument("--verbose", action="store_true", help="show what each Python block printed")
    args = parser.parse_args(argv)
    for page in args.pages:
        try:
            ran = run_page(page, args.cuda, verbose=args.verbose)
        except TutorialError as error:
            print(f"FAILED {error}", file=sys.stderr)
            return 1
        print(f"{page}: {ran} blocks ran")
    return 0


if __name__ == "__main__":
    sys.exit(main())
