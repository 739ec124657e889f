"""python -m greenkit.course generate [LAB ...] | roundtrip LAB"""

from __future__ import annotations

import argparse
import os

from greenkit.course import layout
from greenkit.course.generation import generate, roundtrip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m greenkit.course", description="GreenKit instructor tooling")
    sub = parser.add_subparsers(dest="cmd", required=True)
    g = sub.add_parser("generate", help="regenerate labs/ from solutions/")
    g.add_argument("labs", nargs="*")
    r = sub.add_parser("roundtrip", help="generate, compare and autograde a lab in a temp course")
    r.add_argument("lab")
    args = parser.parse_args(argv)
    if args.cmd == "generate":
        for path in generate(args.labs or None):
            print(f"wrote {path.relative_to(layout.ROOT)}")
        return 0
    result = roundtrip(args.lab)
    print(result)
    return 0 if result.ok else 1


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    raise SystemExit(main())
