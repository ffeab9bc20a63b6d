"""Synthetic IP geography: office, home, VPN, cloud-runner and hostile address pools."""

from __future__ import annotations

import random
from dataclasses import dataclass


@dataclass(frozen=True)
class Country:
    """A country with a UTC offset and first-octet blocks used for its ISP space."""

    code: str
    tz_hours: float
    blocks: tuple[int, ...]


COUNTRIES: tuple[Country, ...] = (
    Country("US", -8.0, (24, 67, 73, 98, 71)),
    Country("US", -5.0, (68, 69, 96, 108, 173)),
    Country("US", -6.0, (75, 99, 174, 184)),
    Country("BR", -3.0, (177, 179, 187, 189)),
    Country("GB", 0.0, (81, 86, 90, 109)),
    Country("NL", 1.0, (77, 84, 145, 213)),
    Country("DE", 1.0, (79, 87, 91, 93)),
    Country("FI", 2.0, (83, 88, 130)),
    Country("IN", 5.5, (49, 103, 117, 122)),
    Country("SG", 8.0, (116, 118, 128)),
    Country("JP", 9.0, (60, 111, 126, 153)),
    Country("AU", 10.0, (101, 110, 120, 124)),
    Country("NZ", 12.0, (115, 121, 125)),
)

HOSTILE_BLOCKS: tuple[tuple[str, tuple[int, ...]], ...] = (
    ("RU", (5, 31, 46, 95, 178)),
    ("CN", (36, 58, 112, 114, 223)),
    ("KP", (175,)),
    ("IR", (2, 37, 185)),
    ("VN", (14, 27, 42)),
    ("NG", (41, 102, 105, 197)),
    ("RO", (86, 89, 188)),
    ("UA", (46, 91, 176)),
)

# Hosting / VPS ranges often seen from attackers and VPN exits.
HOSTING_BLOCKS: tuple[int, ...] = (45, 139, 146, 159, 167, 185, 193, 194, 198, 209)
AZURE_BLOCKS: tuple[int, ...] = (4, 13, 20, 40, 52, 104, 172)
AWS_BLOCKS: tuple[int, ...] = (3, 18, 34, 35, 44, 52, 54)
TOR_EXITS: tuple[str, ...] = (
    "185.220.101.47",
    "185.220.100.252",
    "199.249.230.87",
    "204.85.191.30",
    "171.25.193.78",
    "109.70.100.34",
    "192.42.116.16",
    "45.66.35.21",
)


def ip_in(rng: random.Random, blocks: tuple[int, ...]) -> str:
    """Return a random public-looking IPv4 address whose first octet is in blocks."""
    v = rng.getrandbits(24)
    return f"{rng.choice(blocks)}.{v & 255}.{(v >> 8) & 255}.{1 + (v >> 16) % 254}"


def prefix24(rng: random.Random, blocks: tuple[int, ...]) -> str:
    """Return an a.b.c /24 prefix inside blocks."""
    return f"{rng.choice(blocks)}.{rng.randrange(0, 256)}.{rng.randrange(0, 256)}"


def in_prefix(rng: random.Random, prefix: str) -> str:
    """Return a host address inside an a.b.c /24 prefix."""
    return f"{prefix}.{rng.randrange(2, 254)}"


def runner_ip(rng: random.Random) -> str:
    """Return a fresh GitHub-hosted runner address (Azure space)."""
    return ip_in(rng, AZURE_BLOCKS)


def aws_ip(rng: random.Random) -> str:
    """Return an address inside AWS EC2 public space."""
    return ip_in(rng, AWS_BLOCKS)


def hostile_ip(rng: random.Random) -> tuple[str, str]:
    """Return (country, ip) for an attacker address: foreign ISP, VPS or Tor."""
    roll = rng.random()
    if roll < 0.2:
        return "TOR", rng.choice(TOR_EXITS)
    if roll < 0.55:
        return "VPS", ip_in(rng, HOSTING_BLOCKS)
    country, blocks = rng.choice(HOSTILE_BLOCKS)
    return country, ip_in(rng, blocks)


def country_for_tz(rng: random.Random, tz_hours: float) -> Country:
    """Return a country with the given offset (or the nearest one)."""
    exact = [c for c in COUNTRIES if c.tz_hours == tz_hours]
    if exact:
        return rng.choice(exact)
    return min(COUNTRIES, key=lambda c: abs(c.tz_hours - tz_hours))


def travel_country(rng: random.Random, home: Country) -> Country:
    """Return a different country a person might travel to."""
    return rng.choice([c for c in COUNTRIES if c.code != home.code])
