"""Arguments and help formatting the client commands share (ship, pull, hook, gate)."""

from __future__ import annotations

import argparse
import os

__all__ = ["HelpWithDefaults", "add_api_arguments"]


class HelpWithDefaults(argparse.ArgumentDefaultsHelpFormatter):
    """--help with each option's default -- except empty ones and secrets (a key taken from
    the environment must never be printed)."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        if action.default in (None, False, "") or "key" in action.dest:
            return action.help
        return super()._get_help_string(action)


def add_api_arguments(parser: argparse.ArgumentParser, scope: str = "ingest") -> None:
    """--url and --api-key: which Leash API a client command talks to, with a key that holds
    `scope`."""
    parser.add_argument(
        "--url",
        default=os.environ.get("LEASH_API_URL", "http://127.0.0.1:8000"),
        help="Leash API base URL (LEASH_API_URL)",
    )
    parser.add_argument(
        "--api-key",
        default=os.environ.get("LEASH_API_KEY", ""),
        help=f"key with the {scope} scope (LEASH_API_KEY)",
    )
