"""The ``greenkit`` command: one tree of subcommands.

    greenkit doctor [--json]        which energy sources this machine has, and how to enable the others
    greenkit check NOTEBOOK         run a lab notebook and print its report card (self-learners)
    greenkit verify FOLDER --lab L  check saved artefacts in this process (what graders run, fresh)
    greenkit data [--verify]        where the offline data is, and whether its checksums match
    greenkit zoo [list | train N]   the shipped baseline models; re-make a checkpoint
    greenkit course generate|roundtrip   instructor tooling (labs/ from solutions/, nbgrader round trip)
    greenkit leaderboard LAB        a class's accuracy-vs-energy page (--mine: your own attempts)

``python -m greenkit ...`` is the same command; ``python -m greenkit.course ...`` and
``python -m greenkit.zoo ...`` are aliases of ``greenkit course ...`` and ``greenkit zoo ...``.

Adding a command is one line in :data:`COMMANDS`: ``"name": ("package.module", "help")``,
where the module defines ``add_arguments(parser)`` and ``run(args) -> int`` (exit status)
(``"package.module:OBJ"`` names an object holding the two instead, for a module with
several commands). Only the chosen command's module is imported, so ``greenkit verify``
never loads instructor tooling or energy backends.

Every command has a Python twin that returns a result instead of exiting
(``greenkit.energy.doctor.diagnose()``, ``greenkit.targets`` functions,
``greenkit.data.verify()``, ``greenkit.zoo.info()``, ``greenkit.course.roundtrip()``).
"""

from __future__ import annotations

import argparse
import importlib
import sys
from types import SimpleNamespace

__all__ = ["COMMANDS", "build_parser", "main"]

# name -> (module with add_arguments/run, or "module:OBJ"; one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "doctor": ("greenkit.energy.doctor", "which energy sources this machine has, and how to enable the others"),
    "check": ("greenkit.targets.cli:CHECK", "run a lab notebook and print its report card (self-learners)"),
    "verify": ("greenkit.targets.cli:VERIFY", "check a saved submission folder against a lab's targets "
               "(runs in its own process; used by graders)"),
    "data": ("greenkit.cli:DATA", "show where the offline data is; --verify checks checksums"),
    "zoo": ("greenkit.zoo.training", "list the shipped baseline models, or train one (zoo train NAME)"),
    "course": ("greenkit.course.generation", "instructor tooling: generate labs/ from solutions/, round-trip a lab"),
    "grade": ("greenkit.course.grade", "grade a whole class: sandboxed, parallel on Dask, resumable, into nbgrader's gradebook"),
    "leaderboard": ("greenkit.course.leaderboard", "a lab's class leaderboard (accuracy vs energy per "
                    "inference) as one offline HTML page; --mine for your own attempts"),
}


def _data_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--verify", action="store_true", help="check every file's SHA-256")


def _data_run(args: argparse.Namespace) -> int:
    from greenkit import data
    from greenkit.paths import DataFileError, data_roots

    print("Data roots searched, in order:")
    for root in data_roots():
        print(f"  {'*' if (root / 'fashion-mnist').is_dir() else ' '} {root}")
    if args.verify:
        try:
            for name, path in data.verify().items():
                print(f"OK  {name}  ({path})")
        except DataFileError as err:
            print(f"FAILED: {err}", file=sys.stderr)
            return 1
    return 0


DATA = SimpleNamespace(add_arguments=_data_arguments, run=_data_run)


def _command(target: str):
    module, _, attr = target.partition(":")
    mod = importlib.import_module(module)
    return getattr(mod, attr) if attr else mod


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The parser; only ``command``'s arguments are loaded (all of them when ``command == "*"``)."""
    parser = argparse.ArgumentParser(prog="greenkit", description="GreenKit: measure, profile and "
                                     "check the energy of machine-learning code.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (target, help_text) in COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        if command in (name, "*"):
            cmd = _command(target)
            cmd.add_arguments(p)
            p.set_defaults(func=cmd.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    command = next((a for a in argv if not a.startswith("-")), None)
    args = build_parser(command).parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    raise SystemExit(main())
