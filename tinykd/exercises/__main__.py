"""``python -m tinykd.exercises list`` and ``python -m tinykd.exercises check NAME [FILE]``: exit status 0 when the
solution is right, 1 when it is not (not written yet, wrong, or its file unusable: one line says which), 2 for a
malformed command line."""
import argparse
import os
import sys

from . import EXERCISES, FOLDER, check


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m tinykd.exercises",
                                     description="Check your own backward passes against finite differences and "
                                                 "tinykd's, and name the likely mistake.")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("list", help="the exercises, in the order of docs/derivations.md")
    one = sub.add_parser("check", help="check one exercise")
    one.add_argument("name", help="the exercise's name (see list)")
    one.add_argument("file", nargs="?", help="your file (default: exercises/NAME.py of this checkout)")
    args = parser.parse_args(argv)
    if args.command == "list":
        for e in EXERCISES.values():
            print(f"§{e.section:<3} {e.name:<24} {e.title}")
        print(f"files: {os.path.relpath(FOLDER)}/NAME.py; check one with: python -m tinykd.exercises check NAME")
        return 0
    report = check(args.name, args.file)
    print(report)
    return 0 if report.passed else 1


if __name__ == "__main__":
    sys.exit(main())
