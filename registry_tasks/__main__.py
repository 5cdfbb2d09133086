"""`python -m registry_tasks <command>`: tools around a load test (the load test itself runs under `locust`)."""

from __future__ import annotations

import argparse
import sys

from .tools import audit, compare, options


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m registry_tasks", description=__doc__)
    subcommands = parser.add_subparsers(dest="command", required=True)
    audit.add_parser(subcommands)
    compare.add_parser(subcommands)
    options.add_parser(subcommands)
    args = parser.parse_args(argv)
    return int(args.run(args))


if __name__ == "__main__":
    sys.exit(main())
