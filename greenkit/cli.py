"""The ``greenkit`` command.

    greenkit doctor [--json]        which energy sources this machine has, and how to enable the others
    greenkit check NOTEBOOK         run a lab notebook and print its report card (self-learners)
    greenkit data [--verify]        where the offline data is, and whether its checksums match
    greenkit zoo                    the shipped baseline models and their accuracy
    greenkit leaderboard LAB        a class's accuracy-vs-energy page (--mine: your own attempts)

Every command has a Python twin that returns a result instead of exiting
(``greenkit.energy.doctor.diagnose()``, ``greenkit.targets`` functions,
``greenkit.data.verify()``, ``greenkit.zoo.info()``).
"""

from __future__ import annotations

import argparse
import sys


def _data(args: argparse.Namespace) -> int:
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


def _zoo(args: argparse.Namespace) -> int:
    from greenkit import zoo

    return zoo.main(["list"])


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="greenkit", description="GreenKit: measure, profile and "
                                     "check the energy of machine-learning code.")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("data", help="show where the offline data is; --verify checks checksums")
    p.add_argument("--verify", action="store_true")
    p.set_defaults(func=_data)

    p = sub.add_parser("zoo", help="list the shipped baseline models")
    p.set_defaults(func=_zoo)

    from greenkit.energy import doctor

    p = sub.add_parser("doctor", help="which energy sources this machine has, and how to enable the others")
    doctor.add_arguments(p)
    p.set_defaults(func=doctor.run)

    from greenkit.targets import cli as targets_cli

    targets_cli.add_commands(sub)  # check (and the grading commands)

    from greenkit.course import leaderboard

    leaderboard.add_command(sub)  # leaderboard LAB --reports DIR | --mine
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    raise SystemExit(main())
