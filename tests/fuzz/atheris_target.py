"""Coverage-guided fuzzing of the heap, collector and registry (atheris / libFuzzer).

Input bytes decode to the fuzz op language (`drc.fuzz.ops.from_bytes`: 7 bytes an op), which
runs against the reference model; any disagreement raises, any memory error crashes, and
libFuzzer keeps the input. Build drc with ``-Dgc_zeal=true`` first. See docs/fuzzing.md::

    python tests/fuzz/atheris_target.py -max_total_time=600 fuzz-corpus tests/fuzz/corpus

Without atheris, ``python tests/fuzz/atheris_target.py FILE...`` replays inputs.
"""

from __future__ import annotations

import sys

#: At most this many ops an input: longer inputs mostly re-explore what short ones reach.
MAX_OPS = 400


def config_for(data: bytes):
    """The first byte picks the heap size, growth policy and zeal collection period."""
    from drc.fuzz import Config

    sel = data[0] if data else 0
    return Config(max_size=(64 << 10) << (sel & 3),
                  growth_policy="wasmtime" if sel & 4 else "adaptive",
                  zeal_every=(0, 1, 2, 3, 5, 8, 13, 50)[sel >> 5], verify_every=1)


def test_one_input(data: bytes) -> None:
    from drc.fuzz import from_bytes, run_ops

    ops = from_bytes(data[1:])[:MAX_OPS]
    result = run_ops(ops, config_for(data))
    if result.failure is not None:
        raise result.failure


def main(argv: list[str]) -> None:
    try:
        import atheris
    except ImportError:
        for path in argv[1:]:
            with open(path, "rb") as f:
                test_one_input(f.read())
        return
    # Python-level coverage of the model and op decoding guides the search (the compiled
    # heap is not instrumented unless built with -fsanitize=fuzzer, see docs/fuzzing.md).
    with atheris.instrument_imports():
        import drc.fuzz  # noqa: F401
    atheris.Setup(argv, test_one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main(sys.argv)
