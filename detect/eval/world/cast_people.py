"""Sampling the human part of the cast: IAM-key users, console users and SSO users."""

from __future__ import annotations

import dataclasses
import random

from .ids import access_key, hexs, unique_id
from .net import in_prefix, ip_in, travel_country
from .org import Org, office_ip
from .principal import Principal, Rhythm
from .useragents import BROWSERS, boto3, cli, terraform

FIRST = (
    "ana",
    "ben",
    "carla",
    "dev",
    "eli",
    "fatima",
    "george",
    "hana",
    "ivan",
    "jonas",
    "kemal",
    "lena",
    "mateo",
    "nora",
    "omar",
    "priya",
    "quinn",
    "rosa",
    "sam",
    "tariq",
    "uma",
    "viktor",
    "wen",
    "ximena",
    "yusuf",
    "zoe",
    "aiko",
    "bram",
    "chen",
    "dara",
    "emil",
    "freya",
    "gus",
    "ines",
    "jae",
    "kofi",
    "lars",
    "mira",
    "nils",
    "olu",
)
LAST = (
    "smith",
    "garcia",
    "kim",
    "muller",
    "rossi",
    "silva",
    "tanaka",
    "nguyen",
    "jansen",
    "kowalski",
    "ahmed",
    "olsen",
    "dubois",
    "haddad",
    "ivanova",
    "patel",
    "lopez",
    "berg",
    "novak",
    "okafor",
    "schmidt",
    "costa",
    "sato",
    "larsen",
    "walsh",
    "reyes",
    "fischer",
)
PERMSETS = (
    "AdministratorAccess",
    "PowerUserAccess",
    "ReadOnlyAccess",
    "DataScientist",
    "SecurityAudit",
    "DeveloperAccess",
)
# family -> (mix, permission set, envs)
HUMAN_FAMILIES = {
    "dev": ("dev", "DeveloperAccess", ("dev", "staging")),
    "senior-dev": ("dev", "PowerUserAccess", ("dev", "staging", "prod")),
    "admin": ("admin", "AdministratorAccess", ("prod", "staging", "dev")),
    "security": ("security", "SecurityAudit", ("prod", "staging", "dev")),
    "data": ("data", "DataScientist", ("prod",)),
    "sre": ("oncall", "PowerUserAccess", ("prod", "staging")),
    "viewer": ("console", "ReadOnlyAccess", ("prod", "staging", "dev")),
}


def _names(rng: random.Random, n: int) -> list[tuple[str, str]]:
    pairs = [(f, ln) for f in FIRST for ln in LAST]
    return rng.sample(pairs, n)


def _ips(rng: random.Random, org: Org) -> tuple[str, ...]:
    home = ip_in(rng, org.country.blocks)
    ips = [office_ip(rng, org), home] if rng.random() < 0.7 else [home, office_ip(rng, org)]
    if rng.random() < 0.35:
        ips.append(rng.choice(org.vpn_ips))
    if rng.random() < 0.15:
        ips.append(ip_in(rng, travel_country(rng, org.country).blocks))
    return tuple(ips)


def _rhythm(rng: random.Random, family: str) -> Rhythm:
    start = rng.uniform(7.0, 10.5)
    night = 0.25 if family == "sre" else (0.05 if rng.random() < 0.2 else 0.0)
    return Rhythm(
        "office",
        per_day=1.0,
        start_h=start,
        end_h=start + rng.uniform(7.0, 10.0),
        weekend=rng.choice((0.0, 0.05, 0.1, 0.3)),
        night=night,
        sessions=rng.uniform(1.5, 5.0),
        burst=rng.uniform(0.4, 0.9),
    )


def _family(rng: random.Random, i: int) -> str:
    if i == 0:
        return "admin"
    if i == 1:
        return "security"
    return rng.choices(tuple(HUMAN_FAMILIES), weights=(10, 4, 1, 1.5, 2, 2, 2))[0]


class SsoRoles:
    """Shared AWSReservedSSO_* roles: one per (permission set, account)."""

    def __init__(self, rng: random.Random, org: Org) -> None:
        self.rng, self.org = rng, org
        self.roles: dict[tuple[str, str], tuple[str, str]] = {}

    def get(self, perm: str, account: str) -> tuple[str, str]:
        """Return (role name, role unique id) for a permission set in an account."""
        key = (perm, account)
        if key not in self.roles:
            self.roles[key] = (
                f"AWSReservedSSO_{perm}_{hexs(self.rng, 16)}",
                unique_id(self.rng, "AROA"),
            )
        return self.roles[key]


def _account_for(rng: random.Random, org: Org, envs: tuple[str, ...]) -> str:
    return org.account_of(rng.choice(envs))


def person(
    rng: random.Random, org: Org, i: int, name: tuple[str, str], auth: str, sso: SsoRoles
) -> Principal:
    """Sample one human principal."""
    family = _family(rng, i)
    mix, perm, envs = HUMAN_FAMILIES[family]
    first, last = name
    email = f"{first}.{last}@{org.domain}"
    acct = _account_for(rng, org, envs)
    uas = (cli(rng), boto3(rng), terraform(rng)) if rng.random() < 0.5 else (cli(rng), boto3(rng))
    uname = rng.choice((f"{first}.{last}", f"{first[0]}{last}", first))
    if auth == "console":
        uas = (rng.choice(BROWSERS), *uas[:1])
        mix = "console" if family in ("dev", "viewer") else mix
    user = Principal(
        key=f"arn:aws:iam::{acct}:user/{uname}",
        kind="human",
        family=f"{family}/{auth}",
        description=f"{family} {email} as IAM user {uname} ({auth})",
        account=acct,
        auth=auth,
        name=uname,
        pid=unique_id(rng, "AIDA"),
        session="",
        rhythm=_rhythm(rng, family),
        mix=mix,
        uas=uas,
        regions=org.regions,
        envs=envs,
        apps=tuple(rng.sample(org.apps, min(3, len(org.apps)))),
        ips=_ips(rng, org),
        email=email,
        akid=access_key(rng),
        error_rate=rng.uniform(0.005, 0.04),
        mfa=rng.random() < 0.92,
    )
    if auth != "sso":
        return user
    role, pid = sso.get(perm, acct)
    return dataclasses.replace(
        user,
        key=f"arn:aws:sts::{acct}:assumed-role/{role}/{email}",
        family=f"{family}/sso:{perm}",
        description=f"{family} {email} via Identity Center {perm}",
        name=role,
        pid=pid,
        session="email",
        akid="",
        uas=(*uas, BROWSERS[0]),
        role_path=f"aws-reserved/sso.amazonaws.com/{org.home}/",
    )


def humans(rng: random.Random, org: Org, n: int) -> list[Principal]:
    """Sample n people with org-specific proportions of IAM-key, console and SSO users."""
    w = (rng.uniform(0, 1), rng.uniform(0, 0.6), rng.uniform(0, 1.5))
    sso = SsoRoles(rng, org)
    out = []
    for i, name in enumerate(_names(rng, n)):
        auth = rng.choices(("iam_key", "console", "sso"), weights=w)[0]
        out.append(person(rng, org, i, name, auth, sso))
    return out


def office_prefix_ip(rng: random.Random, org: Org) -> str:
    """An office address (for onboarding new hires)."""
    return in_prefix(rng, org.offices[0])
