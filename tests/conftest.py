"""Hypothesis profiles: no deadlines (the CI machine is shared and noisy); CI is derandomized
so a run is repeatable, while local runs explore new examples."""

import os

from hypothesis import HealthCheck, settings

settings.register_profile("dev", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("ci", deadline=None, derandomize=True, print_blob=True,
                          suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("ci" if os.environ.get("CI") else "dev")


def pytest_terminal_summary(terminalreporter):
    from tests import fuzz_counter

    if fuzz_counter["tried"]:
        terminalreporter.write_line(
            f"fuzz: {fuzz_counter['tried']} generated bad inputs tried, "
            f"{fuzz_counter['rejected']} rejected with a clear ValueError/TypeError, "
            "the rest were valid odd values; nothing else escaped")
    if fuzz_counter.get("sweep"):
        outcomes = ", ".join(f"{k} {v}" for k, v in sorted(fuzz_counter["sweep_outcomes"].items()))
        terminalreporter.write_line(
            f"fuzz sweep: {fuzz_counter['sweep']} cases over {fuzz_counter['sweep_entries']} entry "
            f"points in {fuzz_counter['sweep_seconds']:.0f} s: "
            f"{outcomes}")
    for line in fuzz_counter.get("kills", []):
        terminalreporter.write_line(f"kill test: {line}")
    if fuzz_counter.get("cli"):
        total, outcomes, commands = fuzz_counter["cli"]
        shown = ", ".join(f"{k} {v}" for k, v in sorted(outcomes.items()))
        terminalreporter.write_line(f"cli fuzz: {total} invocations over {commands} commands: {shown}")
