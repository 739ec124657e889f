"""python -m greenkit.i18n extract | status | check | build | roundtrip | export | import | review | solution | messages"""

from __future__ import annotations

import argparse
import sys


def _labs(names: list[str], lang: str, all_sources: bool) -> list[str]:
    from greenkit.course.generation import lab_names
    from greenkit.i18n.build import translated_labs

    if names:
        unknown = sorted(set(names) - set(lab_names()))
        if unknown:
            raise SystemExit(f"no such lab: {', '.join(unknown)} (labs: {', '.join(lab_names())})")
        return names
    return lab_names() if all_sources else translated_labs(lang)


def _emit(text: str, output: str | None) -> int:
    """Write ``text`` to the file ``output`` (UTF-8), or print it; exit status 0."""
    if output:
        with open(output, "w", encoding="utf-8") as f:
            f.write(text + "\n")
    else:
        print(text)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m greenkit.i18n",
                                     description="GreenKit translations: lab catalogues and messages")
    parser.add_argument("--lang", default="zh_CN", help="catalogue language (default zh_CN)")
    sub = parser.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("extract", help="(re)extract catalogues from solutions/ (all labs by default); "
                                       "keeps translations, flags changed English fuzzy (stale)")
    p.add_argument("labs", nargs="*")
    p = sub.add_parser("status", help="per lab: translated / missing / stale / invalid (all labs)")
    p.add_argument("--list", action="store_true", help="name every missing, stale or invalid unit")
    p.add_argument("labs", nargs="*")
    p = sub.add_parser("check", help="exit 1 naming every missing, stale or invalid unit (all labs)")
    p.add_argument("labs", nargs="*")
    p = sub.add_parser("build", help="write labs/<lang>/<lab>/ with nbgrader (labs with a catalogue)")
    p.add_argument("--strict", action="store_true", help="fail instead of showing English with a banner")
    p.add_argument("labs", nargs="*")
    p = sub.add_parser("roundtrip", help="nbgrader round trip of the translated lab")
    p.add_argument("lab")
    p = sub.add_parser("review", help="English and translation side by side (markdown), for a second reader")
    p.add_argument("lab")
    p.add_argument("-o", "--output", help="file to write (default: stdout)")
    p = sub.add_parser("solution", help="write the translated instructor source (solutions/LAB) into DIR, "
                                        "for a course taught in that language (not committed)")
    p.add_argument("lab")
    p.add_argument("dir")
    p = sub.add_parser("export", help="the lab's missing/stale/invalid entries as JSON (to translate)")
    p.add_argument("lab")
    p.add_argument("-o", "--output", help="file to write (default: stdout)")
    p.add_argument("--all", action="store_true", help="every entry, translated or not")
    p = sub.add_parser("import", help="write the 'chinese' fields of an exported JSON file into the catalogue")
    p.add_argument("lab")
    p.add_argument("file")
    sub.add_parser("messages", help="(re)extract greenkit's _() messages into messages/<lang>.po")
    args = parser.parse_args(argv)

    from greenkit.i18n import build, catalogue

    if args.cmd == "extract":
        for lab in _labs(args.labs, args.lang, all_sources=True):
            print(catalogue.update_catalogue(lab, args.lang).summary(), flush=True)
        return 0
    if args.cmd in ("status", "check"):
        bad = 0
        for lab in _labs(args.labs, args.lang, all_sources=True):
            st = catalogue.lab_status(lab, args.lang)
            print(st.summary(), flush=True)
            if args.cmd == "check" or args.list:
                for p in st.problems:
                    print("  " + str(p).replace("\n", "\n  "))
            bad += not st.complete
        if args.cmd == "check":
            print("OK: every catalogue complete and current" if not bad else
                  f"{bad} lab(s) incomplete: fix the entries above in greenkit/i18n/labs/{args.lang}/<lab>.po")
            return 1 if bad else 0
        return 0
    if args.cmd == "build":
        try:
            for result in build.build(_labs(args.labs, args.lang, all_sources=False) or None, args.lang,
                                      strict=args.strict):
                print(result, flush=True)
        except build.StaleTranslationError as err:
            print(err, file=sys.stderr)
            return 1
        return 0
    if args.cmd == "review":
        lines = [f"# {args.lab}: English and {args.lang}, side by side", ""]
        for item in catalogue.export_entries(args.lab, args.lang, everything=True):
            lines += [f"## {item['where']}, {item['kind']}" + (f" ({item['problem']})" if item["problem"] else ""),
                      "", "English:", "", *(f"    {ln}" for ln in item["english"].splitlines()), "",
                      f"{args.lang}:", "", *(f"    {ln}" for ln in (item["chinese"] or "(missing)").splitlines()), ""]
        text = "\n".join(lines)
        return _emit(text, args.output)
    if args.cmd == "solution":
        import shutil
        from pathlib import Path

        import nbformat

        from greenkit.course import layout

        dest = Path(args.dir)
        shutil.copytree(layout.SOLUTIONS / args.lab, dest, dirs_exist_ok=True,
                        ignore=shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__", "greenkit-submissions"))
        src = nbformat.read(layout.SOLUTIONS / args.lab / f"{args.lab}.ipynb", as_version=4)
        translated, problems = catalogue.translate_notebook(src, args.lab, args.lang)
        nbformat.write(translated, dest / f"{args.lab}.ipynb")
        print(f"wrote {dest / (args.lab + '.ipynb')}" + (f" ({len(problems)} units in English)" if problems else ""))
        return 0
    if args.cmd == "export":
        import json

        text = json.dumps(catalogue.export_entries(args.lab, args.lang, everything=args.all),
                          ensure_ascii=False, indent=1)
        return _emit(text, args.output)
    if args.cmd == "import":
        import json

        with open(args.file, encoding="utf-8") as f:
            skipped = catalogue.import_entries(args.lab, json.load(f), args.lang)
        for line in skipped:
            print("skipped " + line)
        st = catalogue.lab_status(args.lab, args.lang)
        print(st.summary())
        for p in st.problems:
            print("  " + str(p).replace("\n", "\n  "))
        return 0 if st.complete and not skipped else 1
    if args.cmd == "roundtrip":
        result = build.roundtrip(args.lab, args.lang)
        print(result)
        return 0 if result.ok else 1
    from greenkit.i18n import messages

    print(messages.update(args.lang).summary())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
