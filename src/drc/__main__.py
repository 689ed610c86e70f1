"""``python -m drc``: the command-line entry."""

from drc.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
