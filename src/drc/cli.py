"""The command line: ``python -m drc <command>``.

Each command is a small function registered in ``COMMANDS``; heavy imports happen inside the
command so that ``--help`` and ``info`` stay instant.
"""

from __future__ import annotations

import argparse
import platform
import sys
from collections.abc import Callable, Sequence


def _cmd_info(args: argparse.Namespace) -> int:
    import drc
    from drc.build import info

    details = info()
    print(f"drc {drc.__version__} ({details['variant']} build)")
    print(f"Python {platform.python_version()} ({platform.python_implementation()}, "
          f"{sys.platform})")
    header = details["header"]
    print(f"object header: {header['size']} bytes")
    for field in ("kind_bits", "type_index", "ref_count", "next_oasr", "object_size"):
        print(f"  {field:<12} at offset {header[field]}")
    print(f"array length at offset {header['array_length']}; "
          f"externref: {header['externref_size']} bytes, host data id at offset "
          f"{header['externref_host_data_id']}")
    if details["zeal"]:
        print(f"zeal: poison byte 0x{details['poison']:02X}, integrity checks at every phase")
    return 0


def _add_info(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("info", help="version, build variant, Python, object header layout")
    p.set_defaults(func=_cmd_info)


WASM_MAGIC = b"\0asm"


def _wasm_bytes(path: str, data: bytes) -> bytes:
    """The binary itself, or the binary of WebAssembly text (via wasmtime when installed)."""
    if data.startswith(WASM_MAGIC):
        return data
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return data  # neither binary nor text: the decoder names what is wrong
    if not text.lstrip().startswith(("(", ";;")):
        return data
    try:
        import wasmtime  # type: ignore[import-not-found, import-untyped, unused-ignore]
    except ImportError:
        raise ValueError("this looks like WebAssembly text; install wasmtime (pip install "
                         "wasmtime) to read it here, or convert it to a binary first "
                         "(wat2wasm from wabt, or wasm-tools parse)") from None
    try:
        return bytes(wasmtime.wat2wasm(text))
    except Exception as e:  # wasmtime raises its own error type for bad text
        raise ValueError(f"not valid WebAssembly text: {e}") from None


def _cmd_types(args: argparse.Namespace) -> int:
    from registry import RegistryError
    from registry.describe import describe_wasm

    try:
        with open(args.file, "rb") as f:
            data = f.read()
        lines = describe_wasm(_wasm_bytes(args.file, data))
    except (OSError, RegistryError, ValueError) as e:
        print(f"error: {args.file}: {e}", file=sys.stderr)
        return 1
    print("\n".join(lines))
    return 0


def _add_types(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("types", help="rec groups, shared indices, layouts and subtyping of a "
                                     "module's types",
                       description="Register the type section of a WebAssembly module in a "
                                   "fresh type registry and print its rec groups, the "
                                   "engine-wide index of each type, heap layouts and "
                                   "subtyping.")
    p.add_argument("file", help="a WebAssembly binary (.wasm), or text (.wat) when the "
                                "wasmtime package is installed")
    p.set_defaults(func=_cmd_types)


def _add_bench(sub: argparse._SubParsersAction) -> None:
    from drc.bench import add_parser

    add_parser(sub)


#: How to install the gc_zeal build, from a checkout (the fuzz command's advice).
ZEAL_INSTALL = "pip install . -Csetup-args=-Dgc_zeal=true"


def _cmd_fuzz(args: argparse.Namespace) -> int:
    from drc.fuzz.runner import cmd_fuzz

    return cmd_fuzz(args)


def _add_fuzz(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("fuzz", help="seeded random operation streams checked against a "
                                    "reference model (use a zeal build)",
                       description="Fuzz the heap, collector and type registry: seeded random "
                                   "operation streams run against a plain-Python reference "
                                   "model, a fresh heap and registry per run. A failure is "
                                   "shrunk and written out as a reproducer script "
                                   "(fuzz-repro-SEED.py); the exit status is 1. Run it on the "
                                   "gc_zeal build, which poisons memory and checks the heap's "
                                   "integrity at every collection phase: "
                                   f"{ZEAL_INSTALL}")
    p.add_argument("--seed", type=int, default=None,
                   help="first run's seed (run k uses seed+k); random and printed if omitted")
    budget = p.add_mutually_exclusive_group()
    budget.add_argument("--seconds", type=float, default=None, help="time budget (default 10)")
    budget.add_argument("--ops", type=int, default=None, help="total operations to run")
    p.add_argument("--ops-per-run", type=int, default=2000,
                   help="operations per fresh heap + registry (default 2000)")
    p.add_argument("--zeal-every", type=int, default=None,
                   help="zeal builds: force a collection every N allocations (default: per "
                        "seed, from 1 to 50)")
    p.add_argument("--verify-every", type=int, default=1,
                   help="full verify() + field comparison every N ops (default 1)")
    p.add_argument("--shrink-seconds", type=float, default=60.0,
                   help="time to spend shrinking a failing sequence (default 60)")
    p.add_argument("--allow-release", action="store_true",
                   help="fuzz a release build anyway (fewer checks; a bug may crash)")
    p.add_argument("--quiet", action="store_true", help="no progress display")
    p.set_defaults(func=_cmd_fuzz)


#: Each entry adds one subcommand to the parser.
COMMANDS: list[Callable[[argparse._SubParsersAction], None]] = [_add_info, _add_types,
                                                                 _add_bench, _add_fuzz]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m drc",
        description="drc: a deferred-reference-counting GC heap with WebAssembly GC types.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for add in COMMANDS:
        add(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    return int(args.func(args))
