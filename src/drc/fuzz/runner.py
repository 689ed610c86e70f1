"""Seeded fuzz campaigns, shrinking and reproducers (``python -m drc fuzz``)."""

from __future__ import annotations

import random
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from drc.build import ZEAL
from drc.fuzz.model import Config, FuzzFailure, run_ops
from drc.fuzz.ops import OPS, Op, as_source, describe

_WEIGHTS = [w for _, w in OPS]


def stream(seed: int, n: int) -> list[Op]:
    """The first `n` ops of seed `seed`'s stream (a prefix of any longer stream)."""
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        code = rng.choices(range(len(OPS)), weights=_WEIGHTS)[0]
        out.append((code, rng.getrandbits(16), rng.getrandbits(16), rng.getrandbits(16)))
    return out


def fails(ops: Sequence[Op], config: Config) -> FuzzFailure | None:
    return run_ops(ops, config).failure


def shrink(ops: Sequence[Op], config: Config, *, seconds: float = 60.0,
           still_fails: Callable[[Sequence[Op]], bool] | None = None) -> list[Op]:
    """Delta debugging (ddmin) over the op list, then single-op removal, within `seconds`.
    Every sub-sequence is a valid program (ops resolve operands modulo the state), so the
    result is a shortest-found failing sequence. Arguments are then simplified towards 0, and
    the two steps repeat while either makes progress."""
    test = still_fails or (lambda cand: fails(cand, config) is not None)
    deadline = time.monotonic() + seconds
    cur = list(ops)
    # A failure at op k never needs the ops after it.
    f = fails(cur, config)
    if f is not None and f.op is not None:
        cut = cur[:f.step + 1]
        if test(cut):
            cur = cut
    # Zeroing arguments can make more ops removable (operands resolve differently), so the
    # two steps repeat until neither changes anything.
    while True:
        before = list(cur)
        cur = _ddmin(cur, test, deadline)
        cur = _zero_args(cur, test, deadline)
        if cur == before or time.monotonic() >= deadline:
            return cur


def _ddmin(cur: list[Op], test: Callable[[Sequence[Op]], bool], deadline: float) -> list[Op]:
    n = 2
    while len(cur) >= 2 and time.monotonic() < deadline:
        chunk = max(1, len(cur) // n)
        reduced = False
        for start in range(0, len(cur), chunk):
            if time.monotonic() >= deadline:
                break
            cand = cur[:start] + cur[start + chunk:]
            if cand and test(cand):
                cur = cand
                n = max(n - 1, 2)
                reduced = True
                break
        if not reduced:
            if chunk == 1:
                break
            n = min(len(cur), n * 2)
    return cur


def _zero_args(cur: list[Op], test: Callable[[Sequence[Op]], bool],
               deadline: float) -> list[Op]:
    # Simplify arguments: zero each one if the failure survives.
    for i in range(len(cur)):
        for j in (1, 2, 3):
            if time.monotonic() >= deadline or cur[i][j] == 0:
                continue
            code, a, b, c = cur[i]
            zeroed: Op = (code, 0 if j == 1 else a, 0 if j == 2 else b, 0 if j == 3 else c)
            cand = cur[:i] + [zeroed] + cur[i + 1:]
            if test(cand):
                cur = cand
    return cur


def write_reproducer(seed: int, ops: Sequence[Op], config: Config, failure: FuzzFailure,
                     directory: Path | None = None) -> Path:
    path = (directory or Path.cwd()) / f"fuzz-repro-{seed}.py"
    message = str(failure).replace('"""', "'''")
    variant = "zeal" if ZEAL else "release"
    path.write_text(f'''"""drc fuzz reproducer: seed {seed}, {len(ops)} ops, {variant} build.

Failure when found:
    {message}

Run with ``python {path.name}``; it exits non-zero while the bug is there.
"""

from drc.fuzz import Config, replay

CONFIG = {config!r}

OPS = {as_source(ops)}

if __name__ == "__main__":
    raise SystemExit(replay(OPS, CONFIG))
''')
    return path


def replay(ops: Sequence[Op], config: Config | None = None) -> int:
    """Run `ops`; print the failure and return 1 if there is one, else 0."""
    f = fails(ops, config or Config())
    if f is None:
        print(f"{len(ops)} ops: no failure")
        return 0
    print(f"FAILED: {f}")
    return 1


@dataclass
class Campaign:
    seed: int
    ops_per_run: int
    seconds: float | None
    total_ops: int | None
    zeal_every: int | None
    verify_every: int
    shrink_seconds: float
    ops_done: int = 0
    runs: int = 0
    elapsed: float = 0.0


def run_campaign(c: Campaign, progress: Callable[[Campaign], None] | None = None):
    """Runs of `ops_per_run` ops, run k using seed ``c.seed + k``, until the time or op
    budget is spent. Returns (run seed, ops, config, failure) of the first failure or None."""
    start = time.monotonic()
    k = 0
    while True:
        if c.seconds is not None and time.monotonic() - start >= c.seconds:
            break
        if c.total_ops is not None and c.ops_done >= c.total_ops:
            break
        n = c.ops_per_run
        if c.total_ops is not None:
            n = min(n, c.total_ops - c.ops_done)
        seed = c.seed + k
        ops = stream(seed, n)
        config = Config.from_seed(seed, zeal_every=c.zeal_every, verify_every=c.verify_every)
        done_before = c.ops_done

        def step(i, done_before=done_before):
            c.ops_done = done_before + i
            if progress is not None and i % 64 == 0:
                c.elapsed = time.monotonic() - start
                progress(c)

        result = run_ops(ops, config, on_step=step)
        c.ops_done = done_before + result.ops_run
        c.runs += 1
        c.elapsed = time.monotonic() - start
        if result.failure is not None:
            return seed, ops, config, result.failure
        k += 1
    return None


def cmd_fuzz(args) -> int:
    out = sys.stdout
    if not ZEAL:
        print("!" * 78 + "\nWARNING: this is a RELEASE build of drc. Fuzzing it checks the model "
              "but\nnot poison or integrity at phase boundaries, and a memory bug may pass "
              "silently\nor crash without a report. Install the zeal variant, from a "
              "checkout of drc:\n    pip install . -Csetup-args=-Dgc_zeal=true\n" + "!" * 78,
              file=sys.stderr)
        if not args.allow_release:
            print("refusing to fuzz a release build (pass --allow-release to run anyway)",
                  file=sys.stderr)
            return 2
    seed = args.seed if args.seed is not None else random.SystemRandom().getrandbits(32)
    if args.seconds is None and args.ops is None:
        args.seconds = 10.0
    c = Campaign(seed=seed, ops_per_run=args.ops_per_run, seconds=args.seconds,
                 total_ops=args.ops, zeal_every=args.zeal_every,
                 verify_every=args.verify_every, shrink_seconds=args.shrink_seconds)
    budget = f"{args.seconds:g} s" if args.seconds is not None else f"{args.ops} ops"
    print(f"drc fuzz: seed {seed}, {budget}, {args.ops_per_run} ops per run, "
          f"{'zeal' if ZEAL else 'release'} build", file=out, flush=True)
    result = _run_with_display(c, quiet=args.quiet)
    rate = c.ops_done / c.elapsed if c.elapsed else 0.0
    if result is None:
        print(f"OK: {c.ops_done} ops in {c.runs} runs, {c.elapsed:.1f} s "
              f"({rate:,.0f} ops/s), 0 failures (seeds {seed}..{seed + c.runs - 1})",
              file=out)
        return 0
    run_seed, ops, config, failure = result
    print(f"FAILED at seed {run_seed} (run {c.runs} of this campaign), op {failure.step}:\n"
          f"  {failure}", file=out)
    print(f"shrinking {failure.step + 1} ops (up to {args.shrink_seconds:g} s)...", file=out,
          flush=True)
    small = shrink(ops, config, seconds=args.shrink_seconds)
    again = fails(small, config)
    print(f"shortest failing sequence found: {len(small)} ops", file=out)
    for op in small:
        print(f"  {describe(op)}", file=out)
    if again is not None:
        print(f"  -> {again}", file=out)
    path = write_reproducer(run_seed, small, config, again or failure)
    print(f"reproducer written to {path.name}; rerun the stream with: "
          f"python -m drc fuzz --seed {run_seed} --ops {failure.step + 1}", file=out)
    return 1


def _run_with_display(c: Campaign, quiet: bool):
    if quiet:
        return run_campaign(c)
    try:
        from rich.progress import (  # type: ignore[import-not-found, unused-ignore]
            BarColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
        )
    except ImportError:
        last = [0.0]

        def plain(c: Campaign) -> None:
            if c.elapsed - last[0] >= 5.0:
                last[0] = c.elapsed
                print(f"  {c.elapsed:6.1f} s  {c.ops_done} ops  {c.runs} runs  "
                      f"{c.ops_done / max(c.elapsed, 1e-9):,.0f} ops/s", flush=True)

        return run_campaign(c, plain)
    total = c.seconds if c.seconds is not None else c.total_ops
    with Progress(TextColumn("[bold]fuzz"), BarColumn(), TextColumn("{task.description}"),
                  TimeElapsedColumn(), transient=False) as bar:
        task = bar.add_task("", total=total)

        def fancy(c: Campaign) -> None:
            done = c.elapsed if c.seconds is not None else c.ops_done
            bar.update(task, completed=done, description=(
                f"{c.ops_done} ops, {c.runs} runs, "
                f"{c.ops_done / max(c.elapsed, 1e-9):,.0f} ops/s, seed {c.seed + c.runs}"))

        result = run_campaign(c, fancy)
        fancy(c)
        return result
