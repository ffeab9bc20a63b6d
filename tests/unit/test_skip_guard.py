"""The suite fails on a skip tests/expected_skips.txt does not list (a missing prerequisite)."""

from __future__ import annotations

import pytest

pytest_plugins = ["pytester"]

SUITE = """
import pytest
def test_runs(): pass
def test_docker(): pytest.skip("docker daemon/image unavailable: no engine")
def test_dataset(): pytest.skip("dataset file missing: cloudtrail.json")
"""


def test_an_unlisted_skip_fails_the_run_and_a_listed_one_does_not(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("LEASH_ALLOW_SKIPS", raising=False)
    pytester.makepyfile(test_suite=SUITE)
    result = pytester.runpytest("-p", "tests.skip_guard")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(["*unexpected skips*", "*test_dataset: *dataset file missing*"])
    assert "test_docker: " not in result.stdout.str()
    result = pytester.runpytest("-p", "tests.skip_guard", "-k", "runs or docker")
    assert result.ret == pytest.ExitCode.OK
