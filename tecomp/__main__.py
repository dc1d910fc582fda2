"""`python -m tecomp demo`: the manual page's examples (see tecomp.tools.demo)."""

import sys


def main() -> int:
    commands = {"demo": "tecomp.tools.demo"}
    if len(sys.argv) < 2 or sys.argv[1] not in commands:
        print(f"usage: python -m tecomp {{{','.join(commands)}}} [options]")
        return 2
    import importlib

    return importlib.import_module(commands[sys.argv[1]]).main(sys.argv[2:])


if __name__ == "__main__":
    sys.exit(main())
