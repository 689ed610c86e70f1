"""python -m wasmgc: run .wast spec scripts or a .wasm module's export."""

from __future__ import annotations

import argparse
import sys


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m wasmgc", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)
    w = sub.add_parser("wast", help="run .wast script files")
    w.add_argument("files", nargs="+")
    w.add_argument("--zeal-collect-every", type=int, default=None, metavar="N",
                   help="gc_zeal builds: force a collection every N allocations "
                        "(default 1 on zeal builds, off on release)")
    w.add_argument("-v", "--verbose", action="store_true",
                   help="print more lines of each failure")
    w.add_argument("--min-passed", type=int, default=0, metavar="N",
                   help="exit 1 unless at least N assertions passed in all")
    w.add_argument("--max-skipped", type=int, default=None, metavar="N",
                   help="exit 1 if more than N assertions were skipped in all")
    r = sub.add_parser("run", help="invoke an export of a .wasm binary")
    r.add_argument("file")
    r.add_argument("--invoke", required=True, nargs="+", metavar=("NAME", "ARGS"),
                   help="the export to call, then its arguments (integers or floats, by "
                        "the function's parameter types)")
    a = p.parse_args(argv)
    if a.command == "wast":
        from wasmgc.wast import run_files
        return run_files(a.files, zeal_collect_every=a.zeal_collect_every,
                         verbose=a.verbose, min_passed=a.min_passed,
                         max_skipped=a.max_skipped)
    from wasmgc.wast import run_binary
    return run_binary(a.file, a.invoke[0], a.invoke[1:])


if __name__ == "__main__":
    sys.exit(main())
