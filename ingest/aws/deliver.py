"""Where the puller's records go: into this process's IngestService, or to a Leash API over HTTP.

Both return once the accepted records are durable (the API answers 202 only then) and raise
DeliveryUnavailable when Leash cannot take them now, so the puller keeps the message and retries.
"""

from __future__ import annotations

from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any

from ingest.aws.pull import DeliveryUnavailable
from ingest.bus import BusUnavailable
from ingest.events import Origin
from ingest.parse import ParsedBody
from ingest.service import IngestService
from ingest.ship import RetryableError, Shipper

__all__ = ["HttpDelivery", "ServiceDelivery"]


class ServiceDelivery:
    """In-process (`leash up` with LEASH_SQS__QUEUE_URL): the bus itself, no HTTP hop.

    Its events are stamped `sqs:<queue>` and trusted: Leash read them from the log files
    CloudTrail wrote, nobody pushed them (`leash pull` beside a deployment posts over HTTP
    instead, and is as trusted as the key it sends)."""

    def __init__(
        self, service: IngestService, *, queue_url: str = "", timeout_s: float = 60.0
    ) -> None:
        self._service = service
        self._origin = Origin(f"sqs:{queue_url.rstrip('/').rsplit('/', 1)[-1]}", trusted=True)
        self._timeout_s = timeout_s

    def __call__(self, parsed: ParsedBody, labels: list[str]) -> dict[str, Any]:
        try:
            result = self._service.ingest_blocking(
                parsed, labels, origin=self._origin, timeout_s=self._timeout_s
            )
        except (BusUnavailable, FutureTimeout, TimeoutError) as exc:
            raise DeliveryUnavailable(f"event bus: {exc or type(exc).__name__}") from None
        return result.body()


class HttpDelivery:
    """`leash pull sqs` beside any deployment: POST /v1/events with the ship path's retries."""

    def __init__(self, shipper: Shipper) -> None:
        self._shipper = shipper

    def __call__(self, parsed: ParsedBody, labels: list[str]) -> dict[str, Any]:
        rejected = [{"index": i, "error": f"{labels[i]}: {e}"} for i, e in parsed.errors.items()]
        good = [i for i in range(len(parsed.records)) if i not in parsed.errors]
        if not good:
            return {"accepted": 0, "duplicates": 0, "rejected": rejected}
        try:
            result = self._shipper.post_records([parsed.records[i] for i in good])
        except RetryableError as exc:
            raise DeliveryUnavailable(str(exc)) from None
        for item in result["rejected"]:
            index = good[int(item["index"])]
            reason = str(item["error"]).split(": ", 1)[-1]  # "record 3: why" -> "why"
            rejected.append({"index": index, "error": f"{labels[index]}: {reason}"})
        return {
            "accepted": int(result["accepted"]),
            "duplicates": int(result["duplicates"]),
            "rejected": rejected,
        }
