"""Deterministic identifier factories (uuids, access keys, resource ids) driven by a Random."""

from __future__ import annotations

import base64
import random

_B32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
_LOWER = "abcdefghijklmnopqrstuvwxyz0123456789"


def hexs(rng: random.Random, n: int) -> str:
    """Return n lowercase hex digits."""
    return f"{rng.getrandbits(4 * n):0{n}x}"


_VARIANT = {c: "89ab"[int(c, 16) & 3] for c in "0123456789abcdef"}


def uuid4(rng: random.Random) -> str:
    """Return a version-4 style uuid string."""
    h = f"{rng.getrandbits(128):032x}"
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{_VARIANT[h[16]]}{h[17:20]}-{h[20:32]}"


def b64_token(rng: random.Random, nbytes: int) -> str:
    """Return a base64 token of nbytes random bytes."""
    return base64.b64encode(rng.getrandbits(8 * nbytes).to_bytes(nbytes, "big")).decode()


def chars(rng: random.Random, alphabet: str, n: int) -> str:
    """Return n characters drawn from alphabet."""
    return "".join(rng.choices(alphabet, k=n))


def access_key(rng: random.Random, temporary: bool = False) -> str:
    """Return an AKIA (long-lived) or ASIA (temporary) access key id."""
    return ("ASIA" if temporary else "AKIA") + base64.b32encode(
        rng.getrandbits(80).to_bytes(10, "big")
    ).decode()


def unique_id(rng: random.Random, prefix: str) -> str:
    """Return an IAM unique id such as AIDA... or AROA..."""
    return prefix + chars(rng, _B32, 17)


def s3_request_id(rng: random.Random) -> str:
    """Return an S3 style 16 character request id."""
    return f"{rng.getrandbits(64):016X}"


def lower_token(rng: random.Random, n: int) -> str:
    """Return n lowercase alphanumerics."""
    return chars(rng, _LOWER, n)


def account_id(rng: random.Random) -> str:
    """Return a 12-digit account id."""
    return str(rng.randrange(100_000_000_000, 999_999_999_999))


def ec2_id(rng: random.Random, prefix: str) -> str:
    """Return an EC2 style id such as i-0abc... (17 hex digits)."""
    return f"{prefix}-0{hexs(rng, 16)}"


def session_token(rng: random.Random) -> str:
    """Return a shortened STS session token."""
    return "IQoJb3JpZ2luX2Vj" + b64_token(rng, 36)
