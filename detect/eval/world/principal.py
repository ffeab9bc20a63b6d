"""Data model of a cast member: who it is, how it authenticates, when and how it works."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Rhythm:
    """When a principal is active and how its calls cluster.

    style: office (human working hours), runs (agent runs), jobs (CI jobs), steady (services),
    scheduled (fixed local hours), hourly (an hourly batch).
    """

    style: str
    per_day: float
    start_h: float = 9.0
    end_h: float = 17.5
    weekend: float = 0.1
    night: float = 0.0
    sessions: float = 3.0
    burst: float = 0.5
    sched_hours: tuple[float, ...] = ()


@dataclass(frozen=True)
class Principal:
    """One member of the cast (a person, agent, CI role or service)."""

    key: str
    kind: str
    family: str
    description: str
    account: str
    auth: str
    name: str
    pid: str
    session: str
    rhythm: Rhythm
    mix: str
    uas: tuple[str, ...]
    regions: tuple[str, ...]
    envs: tuple[str, ...]
    apps: tuple[str, ...]
    ips: tuple[str, ...] = ()
    ip_mode: str = "stable"
    email: str = ""
    akid: str = ""
    role_path: str = ""
    error_rate: float = 0.01
    mfa: bool = True
    launcher: str = ""

    @property
    def role_arn(self) -> str:
        """ARN of the IAM role (for role-based principals)."""
        return f"arn:aws:iam::{self.account}:role/{self.role_path}{self.name}"

    @property
    def user_arn(self) -> str:
        """ARN of the IAM user (for user-based principals)."""
        return f"arn:aws:iam::{self.account}:user/{self.name}"

    @property
    def is_role(self) -> bool:
        """True if the principal acts through assumed-role sessions."""
        return self.auth in ("sso", "role", "oidc", "lambda", "ecs", "ec2", "slr")
