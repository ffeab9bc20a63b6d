"""Fail the run on any skip tests/expected_skips.txt does not list.

A skip is a test that did not run. Some are expected (no Docker engine here); the rest mean a
prerequisite went missing -- a dataset file, the Tansu binary, chromium -- and the green run
would be a lie. `LEASH_ALLOW_SKIPS=1` turns the guard off for a local partial setup.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

ALLOWLIST = Path(__file__).with_name("expected_skips.txt")


def _patterns() -> list[re.Pattern[str]]:
    lines = ALLOWLIST.read_text(encoding="utf-8").splitlines()
    return [re.compile(line) for line in lines if line.strip() and not line.startswith("#")]


class SkipGuard:
    """A pytest plugin: collects skip reasons, fails the session on unexpected ones."""

    def __init__(self) -> None:
        self.patterns = _patterns()
        self.unexpected: list[tuple[str, str]] = []

    @pytest.hookimpl
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if not report.skipped or hasattr(report, "wasxfail"):
            return
        reason = str(report.longrepr[2] if isinstance(report.longrepr, tuple) else report.longrepr)
        if not any(p.search(reason) for p in self.patterns):
            self.unexpected.append((report.nodeid, reason))

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        if self.unexpected and session.exitstatus == pytest.ExitCode.OK:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED

    @pytest.hookimpl
    def pytest_terminal_summary(self, terminalreporter: pytest.TerminalReporter) -> None:
        if not self.unexpected:
            return
        terminalreporter.section("unexpected skips (the run fails)", red=True)
        for nodeid, reason in self.unexpected:
            terminalreporter.write_line(f"{nodeid}: {reason}")
        terminalreporter.write_line(
            f"Install what is missing, or list the reason in {ALLOWLIST.name} if the skip is "
            "expected everywhere; LEASH_ALLOW_SKIPS=1 allows skips for a local partial setup."
        )


def pytest_configure(config: pytest.Config) -> None:
    if os.environ.get("LEASH_ALLOW_SKIPS") != "1":
        config.pluginmanager.register(SkipGuard(), "leash-skip-guard")
