"""Reports what the spec-test harness checked and skipped, per script."""

from __future__ import annotations


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    import sys

    mod = sys.modules.get("test_spectests")
    if mod is None:
        return
    STATS = mod.STATS

    if not STATS:
        return
    terminalreporter.section("spec scripts through the type registry")
    for name in sorted(STATS):
        parts = ", ".join(f"{k} {v}" for k, v in sorted(STATS[name].items())
                          if not k.startswith("not about types"))
        terminalreporter.write_line(f"{name}: {parts}")
