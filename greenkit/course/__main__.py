"""python -m greenkit.course generate [--lang all|en|zh_CN] [LAB ...] | roundtrip LAB"""

from __future__ import annotations

import argparse
import os

from greenkit.course import layout
from greenkit.course.generation import generate, roundtrip
from greenkit.course.generation import lab_names as generation_labs


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m greenkit.course", description="GreenKit instructor tooling")
    sub = parser.add_subparsers(dest="cmd", required=True)
    g = sub.add_parser("generate", help="regenerate labs/ (and labs/zh_CN/) from solutions/")
    g.add_argument("--lang", choices=["all", "en", "zh_CN"], default="all",
                   help="all (default): English, then every translation that has a catalogue (greenkit.i18n)")
    g.add_argument("labs", nargs="*")
    r = sub.add_parser("roundtrip", help="generate, compare and autograde a lab in a temp course")
    r.add_argument("lab")
    args = parser.parse_args(argv)
    if args.cmd == "generate":
        if args.lang in ("all", "en"):
            for path in generate(args.labs or None):
                print(f"wrote {path.relative_to(layout.ROOT)}", flush=True)
        if args.lang in ("all", "zh_CN"):
            from greenkit.i18n.build import build, translated_labs

            have = translated_labs("zh_CN")
            for lab in sorted(set(args.labs or generation_labs()) - set(have)):
                print(f"no zh_CN catalogue for {lab} yet: `python -m greenkit.i18n extract {lab}` starts one")
            todo = [lab for lab in (args.labs or have) if lab in have]
            for result in build(todo, "zh_CN") if todo else []:
                print(result, flush=True)
        return 0
    result = roundtrip(args.lab)
    print(result)
    return 0 if result.ok else 1


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    raise SystemExit(main())
