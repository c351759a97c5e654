"""``python -m tinykd.exercises [status]``, ``list`` and ``check NAME [FILE]``: exit status 0 when the solution is
right (``status``: always 0), 1 when it is not (not written yet, wrong, or its file unusable: one line says which),
2 for a malformed command line, 130 when interrupted."""
import argparse
import os
import sys

from . import EXERCISES, FOLDER, check


def status(time_limit=None):
    """Each exercise in the derivations' order, blank, failing or passed, and the next one to do."""
    lines, following = [], None
    for e in EXERCISES.values():
        report = check(e.name, time_limit=time_limit)
        why = ""
        if report.state == "failing":
            wrong = [line.strip() for line in report.lines[1:] if ": wrong" in line]
            why = f": {wrong[0] if wrong else report.lines[0]}"
        lines.append(f"§{e.section:<3} {e.name:<24} {report.state}{why}")
        if following is None and not report.passed:
            following = e
    if following is None:
        lines.append(f"all {len(EXERCISES)} exercises passed")
    else:
        lines.append(f"next: {following.name} (§{following.section}, {following.title}): write "
                     f"{os.path.relpath(os.path.join(FOLDER, following.name + '.py'))}, then "
                     f"python -m tinykd.exercises check {following.name}")
    return lines


class _Parser(argparse.ArgumentParser):
    """A command-line mistake is one line (argparse would print its usage block first)."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def main(argv=None):
    parser = _Parser(prog="python -m tinykd.exercises",
                                     description="Check your own backward passes against finite differences and "
                                                 "tinykd's, and name the likely mistake.")
    parser.add_argument("--time-limit", type=float, default=None, metavar="SECONDS",
                        help="time allowed to a solution for all its cases (default 10, or "
                             "TINYKD_EXERCISE_TIME_LIMIT)")
    sub = parser.add_subparsers(dest="command", parser_class=_Parser)
    sub.add_parser("status", help="each exercise: blank, failing or passed; and the next one (the default)")
    sub.add_parser("list", help="the exercises, in the order of docs/derivations.md")
    one = sub.add_parser("check", help="check one exercise")
    one.add_argument("name", help="the exercise's name (see list)")
    one.add_argument("file", nargs="?", help="your file (default: exercises/NAME.py of this checkout)")
    for command in (one, sub.choices["status"]):   # also after the command: check NAME FILE --time-limit 3
        command.add_argument("--time-limit", type=float, default=argparse.SUPPRESS, metavar="SECONDS",
                             help="as before the command")
    args = parser.parse_args(argv)
    if args.time_limit is not None and not args.time_limit > 0:
        parser.error("--time-limit must be a number of seconds > 0")
    try:
        if args.command == "list":
            for e in EXERCISES.values():
                print(f"§{e.section:<3} {e.name:<24} {e.title}")
            print(f"files: {os.path.relpath(FOLDER)}/NAME.py; check one with: python -m tinykd.exercises check NAME")
            return 0
        if args.command in (None, "status"):
            print("\n".join(status(args.time_limit)))
            return 0
        report = check(args.name, args.file, time_limit=args.time_limit)
        print(report)
        return 0 if report.passed else 1
    except KeyboardInterrupt:
        print("interrupted")
        return 130


if __name__ == "__main__":
    sys.exit(main())
