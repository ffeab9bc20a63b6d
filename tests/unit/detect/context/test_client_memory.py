"""The organisation's memory of client products (OrgMemory.client_nobody_uses), which makes a
roaming person's client news when no colleague calls through it (fresh seed 1250), and the
review's cases: a memory that has not learned long enough (a restart with a model marks the
accounts old at once), the Identity Center portal step, and AWS services' own user agents."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from detect.context.org import OrgMemory
from ingest.events import AuditEvent
from tests.factories import BASE_TIME, make_event, portal_step

ERIN = {"role": "AWSReservedSSO_Developer_4f2a9c1e", "session": "erin@example.com"}
SAM = {"role": "AWSReservedSSO_Developer_4f2a9c1e", "session": "sam@example.com"}


def call(ua: str, days: float, **who: Any) -> AuditEvent:
    return make_event(userAgent=ua, at=BASE_TIME + timedelta(days=days), **(who or SAM))


def test_a_client_nobody_else_was_seen_using_once_the_memory_has_learned_two_days() -> None:
    org = OrgMemory()
    org.remember_account("123456789012", int((BASE_TIME - timedelta(days=30)).timestamp() * 1000))
    org.observe(call("curl/8.5.0", 0))
    # a model marks the account old, but the memory itself learned for a day only
    assert not org.client_nobody_uses("python-requests", call("python-requests/2.31", 1, **ERIN))
    org.observe(call("curl/8.5.0", 2.5))
    stranger = call("python-requests/2.31", 3, **ERIN)
    assert org.client_nobody_uses("python-requests", stranger)
    assert not org.client_nobody_uses("curl", call("curl/8.5.0", 3, **ERIN))  # a colleague's
    assert not org.client_nobody_uses("athena.amazonaws.com", stranger)  # a service's own
    assert not org.client_nobody_uses("aws", stranger)  # "AWS Internal"


def test_the_identity_center_portal_step_vouches_for_no_client() -> None:
    org = OrgMemory()
    org.observe(call("curl/8.5.0", 0))
    portal = portal_step("erin", BASE_TIME + timedelta(days=3), userAgent="python-requests/2.31")
    assert portal.principal_key.startswith("arn:aws:identitystore:")
    org.observe(portal)
    assert org.client_nobody_uses("python-requests", call("python-requests/2.31", 3, **ERIN))
