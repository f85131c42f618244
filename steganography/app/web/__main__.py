"""``python -m steganography.app.web [--host H] [--port P] [--open]``: ``stegavox serve`` on its own."""

from __future__ import annotations

import argparse
import sys

from common.errors import StegavoxError
from steganography.app.web.command import add_serve_command


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m steganography.app.web")
    add_serve_command(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["serve", *(sys.argv[1:] if argv is None else argv)])
    try:
        return args.func(args)
    except StegavoxError as err:
        print(f"stegavox: error: {err}", file=sys.stderr)
        return err.exit_code


if __name__ == "__main__":
    sys.exit(main())
