"""`leash ship --help` is enough to get going, and never shows a secret."""

from __future__ import annotations

import pytest

from leash.cli import build_parser


def test_ship_help_shows_defaults_but_not_the_key_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("LEASH_API_KEY", "lsh_do-not-print-me")
    with pytest.raises(SystemExit) as done:
        build_parser().parse_args(["ship", "--help"])
    assert done.value.code == 0
    text = " ".join(capsys.readouterr().out.split())
    assert "lsh_do-not-print-me" not in text
    assert "records per request (default: 1000)" in text
    assert "(default: http://127.0.0.1:8000)" in text
