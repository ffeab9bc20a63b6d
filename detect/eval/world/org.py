"""Organisation sampling: accounts, regions, time zone, apps, offices and inventory."""

from __future__ import annotations

import random
from dataclasses import dataclass

from .clock import DAY
from .ids import account_id, hexs
from .inventory import Inventory, Res, build_inventory
from .net import Country, country_for_tz, in_prefix, ip_in, prefix24

ORG_NAMES = (
    "acme",
    "globex",
    "initech",
    "umbrella",
    "hooli",
    "vandelay",
    "stark",
    "wayne",
    "tyrell",
    "cyberdyne",
    "soylent",
    "aperture",
    "oscorp",
    "massive",
    "pied",
    "nakatomi",
    "kestrel",
    "lumen",
    "northwind",
    "contoso",
    "fabrikam",
    "tailspin",
    "bluebird",
    "zenith",
)
APPS = (
    "checkout",
    "billing",
    "search",
    "ledger",
    "atlas",
    "orion",
    "payments",
    "ingest",
    "notify",
    "reports",
    "auth",
    "catalog",
    "inventory",
    "shipping",
    "pricing",
    "recs",
    "analytics",
    "portal",
    "mobile-api",
    "chat",
    "scheduler",
    "geo",
    "media",
    "kyc",
)
REGION_BY_TZ: dict[float, tuple[str, ...]] = {
    -8.0: ("us-west-2", "us-west-1"),
    -6.0: ("us-east-2", "us-east-1"),
    -5.0: ("us-east-1", "us-east-2"),
    -3.0: ("sa-east-1", "us-east-1"),
    0.0: ("eu-west-2", "eu-west-1"),
    1.0: ("eu-central-1", "eu-west-1"),
    2.0: ("eu-north-1", "eu-central-1"),
    5.5: ("ap-south-1", "ap-southeast-1"),
    8.0: ("ap-southeast-1", "ap-northeast-1"),
    9.0: ("ap-northeast-1", "ap-northeast-3"),
    10.0: ("ap-southeast-2", "ap-southeast-1"),
    12.0: ("ap-southeast-2", "ap-southeast-4"),
}
ALL_REGIONS = (
    "us-east-1",
    "us-east-2",
    "us-west-1",
    "us-west-2",
    "eu-west-1",
    "eu-west-2",
    "eu-west-3",
    "eu-central-1",
    "eu-north-1",
    "eu-south-1",
    "ap-south-1",
    "ap-southeast-1",
    "ap-southeast-2",
    "ap-northeast-1",
    "ap-northeast-2",
    "ap-northeast-3",
    "sa-east-1",
    "ca-central-1",
    "af-south-1",
    "me-south-1",
    "ap-east-1",
    "me-central-1",
    "ap-southeast-3",
    "il-central-1",
)


@dataclass(frozen=True)
class Account:
    """One AWS account of the organisation."""

    id: str
    alias: str
    envs: tuple[str, ...]


@dataclass(frozen=True)
class Org:
    """The sampled organisation and its time window."""

    name: str
    domain: str
    country: Country
    tz: float
    accounts: tuple[Account, ...]
    regions: tuple[str, ...]
    apps: tuple[str, ...]
    offices: tuple[str, ...]
    vpn_ips: tuple[str, ...]
    partners: tuple[str, ...]
    github_org: str
    start_ms: int
    baseline_until_ms: int
    end_ms: int
    inv: Inventory
    trail_account: str
    detectors: tuple[tuple[str, str, str], ...]

    @property
    def home(self) -> str:
        """The primary region."""
        return self.regions[0]

    def account_of(self, env: str) -> str:
        """Return the account id hosting an environment."""
        for acct in self.accounts:
            if env in acct.envs:
                return acct.id
        return self.accounts[0].id

    def unused_regions(self) -> tuple[str, ...]:
        """Regions the organisation never uses."""
        return tuple(r for r in ALL_REGIONS if r not in self.regions)


def _accounts(rng: random.Random, name: str) -> tuple[Account, ...]:
    n = rng.choices((1, 2, 3), weights=(3, 4, 3))[0]
    if n == 1:
        return (Account(account_id(rng), name, ("prod", "staging", "dev")),)
    prod = Account(account_id(rng), f"{name}-prod", ("prod",))
    nonprod = Account(account_id(rng), f"{name}-nonprod", ("staging", "dev"))
    if n == 2:
        return (prod, nonprod)
    return (prod, nonprod, Account(account_id(rng), f"{name}-security", ("security",)))


def _org_resources(
    inv: Inventory,
    rng: random.Random,
    name: str,
    accts: tuple[Account, ...],
    regions: tuple[str, ...],
) -> str:
    trail_acct = accts[-1].id
    home = regions[0]
    inv.add(
        Res(
            "trail",
            "org-trail" if rng.random() < 0.5 else "management-events",
            "",
            "security",
            "",
            home,
            trail_acct,
        )
    )
    inv.add(Res("bucket", f"{name}-cloudtrail-{trail_acct}", "", "security", "", home, trail_acct))
    prod = accts[0].id
    for layer in ("raw", "curated", "finance"):
        b = f"{name}-datalake-{layer}"
        inv.add(Res("bucket", b, b, "prod", "datalake", home, prod))
        for t in range(rng.randint(2, 5)):
            inv.add(
                Res("gluetable", f"{layer}_t{t}", f"{layer}_db", "prod", "datalake", home, prod)
            )
    web = f"{rng.choice(('www', 'static', 'assets'))}-{name}-site"
    inv.add(Res("website", web, web, "prod", "web", home, prod))
    for rule in (
        "s3-bucket-public-read-prohibited",
        "iam-user-mfa-enabled",
        "cloudtrail-enabled",
        "restricted-ssh",
        "encrypted-volumes",
    ):
        inv.add(Res("configrule", rule, "", "security", "", home, trail_acct))
    return trail_acct


def sample_org(rng: random.Random, baseline_days: int | None, test_days: int) -> Org:
    """Sample an organisation for the given window lengths."""
    tz = rng.choice(tuple(REGION_BY_TZ))
    country = country_for_tz(rng, tz)
    name = rng.choice(ORG_NAMES) + rng.choice(("", "", "co", "labs", "io", "hq"))
    accts = _accounts(rng, name)
    pool = REGION_BY_TZ[tz]
    regions = pool[:1] if rng.random() < 0.45 else pool[:2]
    apps = tuple(rng.sample(APPS, rng.randint(3, 8)))
    inv = build_inventory(
        rng, name, apps, {e: a.id for a in accts for e in a.envs if e != "security"}, regions
    )
    trail_acct = _org_resources(inv, rng, name, accts, regions)
    days = baseline_days if baseline_days is not None else rng.randint(2, 14)
    start = (19723 + rng.randrange(0, 640)) * DAY
    offices = tuple(prefix24(rng, country.blocks) for _ in range(rng.randint(1, 3)))
    dets = tuple((a.id, r, hexs(rng, 32)) for a in accts for r in regions)
    return Org(
        name=name,
        domain=f"{name}.com",
        country=country,
        tz=tz,
        accounts=accts,
        regions=regions,
        apps=apps,
        offices=offices,
        vpn_ips=tuple(ip_in(rng, (45, 146, 185)) for _ in range(rng.randint(1, 3))),
        partners=tuple(account_id(rng) for _ in range(rng.randint(1, 3))),
        github_org=f"{name}-eng" if rng.random() < 0.5 else name,
        start_ms=start,
        baseline_until_ms=start + days * DAY,
        end_ms=start + (days + test_days) * DAY,
        inv=inv,
        trail_account=trail_acct,
        detectors=dets,
    )


def office_ip(rng: random.Random, org: Org) -> str:
    """Return an address in one of the organisation's offices."""
    return in_prefix(rng, rng.choice(org.offices))
