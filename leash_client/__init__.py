"""Leash Python client for agents and tools: emit events, ask decide, guard tool calls (httpx).

    leash = LeashClient("http://127.0.0.1:8000", api_key)       # or LEASH_API_URL / LEASH_API_KEY
    @leash.guard(principal=MY_ARN, action="DeleteDBInstance", source="rds.amazonaws.com",
                 resources=lambda db_id: [db_id])
    def delete_db(db_id: str) -> None: ...

`guard` asks before every call: `allow` runs the tool, `deny` raises ActionDenied, and
`require_approval` polls decide (the same approval is returned while pending) until a human
approves (the tool runs), denies (ActionDenied) or `wait_s` passes (ApprovalTimeout). When Leash
cannot be reached the guard fails closed (LeashUnavailable) unless `fail_open=True`.

`iter_events(...)` and `iter_alerts(...)` (a key with the read scope) yield every match, newest
first, following `next_cursor` page by page; rows stored meanwhile never repeat or shift pages.
"""

from __future__ import annotations

import functools
import os
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ParamSpec, TypeVar

import httpx

__all__ = ["ActionDenied", "ApprovalTimeout", "Decision", "LeashClient", "LeashUnavailable"]

P = ParamSpec("P")
R = TypeVar("R")
DEFAULT_WAIT_S = 300.0  # seconds a guarded call waits for a human's approval
DEFAULT_POLL_S = 2.0  # seconds between decide calls while waiting
EVENTS_PAGE = 1000  # events per GET /v1/events call while iterating (the API allows 5000)
ALERTS_PAGE = 200  # alerts per GET /v1/alerts call while iterating (the API allows 1000)


@dataclass(frozen=True)
class Decision:
    decision: str
    reason: str
    approval_id: str | None = None
    decision_id: str | None = None
    raw: Mapping[str, Any] = field(default_factory=dict)

    @property
    def allowed(self) -> bool:
        return self.decision == "allow"


class ActionDenied(PermissionError):
    """Leash said no (or did not say yes in time); `decision` tells why."""

    def __init__(self, message: str, decision: Decision | None = None) -> None:
        super().__init__(message)
        self.decision = decision


class ApprovalTimeout(ActionDenied):
    """No one approved the action within the wait."""


class LeashUnavailable(ActionDenied):
    """Leash could not be asked; the guard fails closed."""


ResourceSpec = Sequence[str] | Callable[..., Sequence[str]]


class LeashClient:
    """A thin client over the Leash HTTP API; pass `http` to reuse a configured httpx.Client."""

    def __init__(
        self,
        base_url: str | None = None,
        api_key: str | None = None,
        *,
        timeout_s: float = 10.0,
        http: httpx.Client | None = None,
    ) -> None:
        url = base_url or os.environ.get("LEASH_API_URL", "http://127.0.0.1:8000")
        key = api_key or os.environ.get("LEASH_API_KEY", "")
        self._http = http or httpx.Client(base_url=url, timeout=timeout_s)
        self._headers = {"Authorization": f"Bearer {key}"} if key else {}

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> LeashClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def emit(self, events: Sequence[Mapping[str, Any]] | Mapping[str, Any]) -> dict[str, Any]:
        """POST CloudTrail records (one, a list, or a {"Records": [...]} object) to /v1/events."""
        body = events if isinstance(events, Mapping) else {"Records": list(events)}
        response = self._http.post("/v1/events", json=body, headers=self._headers)
        response.raise_for_status()
        result: dict[str, Any] = response.json()
        return result

    def iter_events(
        self,
        *,
        principal: str | None = None,
        action: str | None = None,
        action_class: str | None = None,
        actor_kind: str | None = None,
        q: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        page_size: int = EVENTS_PAGE,
    ) -> Iterator[dict[str, Any]]:
        """Every stored event that matches, newest first (GET /v1/events, page by page)."""
        filters = {
            "principal": principal,
            "action": action,
            "action_class": action_class,
            "actor_kind": actor_kind,
            "q": q,
            "since": since,
            "until": until,
        }
        return self._pages("/v1/events", rows="events", filters=filters, page_size=page_size)

    def iter_alerts(
        self,
        *,
        status: str | None = None,
        principal: str | None = None,
        since: datetime | None = None,
        page_size: int = ALERTS_PAGE,
    ) -> Iterator[dict[str, Any]]:
        """Every alert that matches, newest first (GET /v1/alerts, page by page)."""
        filters = {"status": status, "principal": principal, "since": since}
        return self._pages("/v1/alerts", rows="alerts", filters=filters, page_size=page_size)

    def _pages(
        self,
        path: str,
        *,
        rows: str,
        filters: Mapping[str, str | datetime | None],
        page_size: int,
    ) -> Iterator[dict[str, Any]]:
        """The `rows` list of each page of `path`, following next_cursor to the last page."""
        params: dict[str, str | int] = {
            name: value.isoformat() if isinstance(value, datetime) else value
            for name, value in filters.items()
            if value is not None
        }
        params["limit"] = page_size
        while True:
            response = self._http.get(path, params=params, headers=self._headers)
            response.raise_for_status()
            body = response.json()
            yield from body[rows]
            if not body.get("next_cursor"):
                return
            params["cursor"] = body["next_cursor"]

    def decide(
        self,
        principal: str,
        action: str,
        *,
        source: str = "",
        resources: Sequence[str] = (),
        arguments: Mapping[str, Any] | str | None = None,
    ) -> Decision:
        """Ask the gate; raises httpx.HTTPError when Leash cannot answer.

        A tool call is asked with `source="tool:<runtime>"`, the tool's name as `action` and its
        input as `arguments`: Leash classifies it with its tool catalogue and keeps only a
        redacted summary of the arguments."""
        body: dict[str, Any] = {
            "principal": principal,
            "action": action,
            "source": source,
            "resources": list(resources),
        }
        if arguments is not None:
            body["arguments"] = arguments if isinstance(arguments, str) else dict(arguments)
        response = self._http.post("/v1/decide", headers=self._headers, json=body)
        response.raise_for_status()
        data = response.json()
        return Decision(
            data["decision"],
            data.get("reason", ""),
            data.get("approval_id"),
            data.get("decision_id"),
            data,
        )

    def wait_for_decision(
        self,
        principal: str,
        action: str,
        *,
        source: str = "",
        resources: Sequence[str] = (),
        arguments: Mapping[str, Any] | str | None = None,
        wait_s: float = DEFAULT_WAIT_S,
        poll_s: float = DEFAULT_POLL_S,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> Decision:
        """decide(), then poll while it answers require_approval; raises unless it allows."""
        deadline = clock() + wait_s
        while True:
            decision = self.decide(
                principal, action, source=source, resources=resources, arguments=arguments
            )
            if decision.decision == "allow":
                return decision
            if decision.decision == "deny":
                raise ActionDenied(f"Leash denied {action}: {decision.reason}", decision)
            if clock() >= deadline:
                raise ApprovalTimeout(
                    f"{action} was not approved within {wait_s:.0f}s "
                    f"(approval {decision.approval_id}): {decision.reason}",
                    decision,
                )
            sleep(poll_s)

    def guard(
        self,
        *,
        principal: str,
        action: str,
        source: str = "",
        resources: ResourceSpec = (),
        wait_s: float = DEFAULT_WAIT_S,
        poll_s: float = DEFAULT_POLL_S,
        fail_open: bool = False,
        sleep: Callable[[float], None] = time.sleep,
    ) -> Callable[[Callable[P, R]], Callable[P, R]]:
        """Decorator: ask Leash before each call of the tool; see the module docstring."""

        def wrap(tool: Callable[P, R]) -> Callable[P, R]:
            @functools.wraps(tool)
            def guarded(*args: P.args, **kwargs: P.kwargs) -> R:
                names = resources(*args, **kwargs) if callable(resources) else resources
                try:
                    self.wait_for_decision(
                        principal,
                        action,
                        source=source,
                        resources=names,
                        wait_s=wait_s,
                        poll_s=poll_s,
                        sleep=sleep,
                    )
                except httpx.HTTPError as exc:
                    if not fail_open:
                        raise LeashUnavailable(f"cannot ask Leash about {action}: {exc}") from exc
                return tool(*args, **kwargs)

            return guarded

        return wrap
