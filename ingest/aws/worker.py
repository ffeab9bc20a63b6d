"""The puller as a `leash up` worker thread, and the boto3 clients both ways of running it use."""

from __future__ import annotations

import logging
import re
import threading
from typing import Any

from ingest.aws.deliver import ServiceDelivery
from ingest.aws.pull import Deliver, SqsPuller
from ingest.metrics import IngestMetrics
from ingest.runtime import Runtime
from ingest.settings import Settings
from ingest.worker import ThreadWorker

__all__ = ["SqsPullWorker", "aws_clients", "build_puller"]

logger = logging.getLogger(__name__)
_QUEUE_REGION = re.compile(r"^https://sqs[.-]([a-z0-9-]+)\.amazonaws\.com(\.cn)?/")


def aws_clients(settings: Settings) -> tuple[Any, Any]:
    """(sqs, s3) boto3 clients from the standard chain; the region defaults to the queue's."""
    import boto3

    region = settings.aws_region or None
    match = _QUEUE_REGION.match(settings.sqs.queue_url)
    session = boto3.session.Session()
    if region is None and not session.region_name and match:
        region = match.group(1)
    endpoint = settings.aws_endpoint_url or None  # else AWS_ENDPOINT_URL, read by boto3 itself
    return (
        session.client("sqs", region_name=region, endpoint_url=endpoint),
        session.client("s3", region_name=region, endpoint_url=endpoint),
    )


def build_puller(settings: Settings, deliver: Deliver, metrics: IngestMetrics) -> SqsPuller:
    sqs, s3 = aws_clients(settings)
    cfg = settings.sqs
    return SqsPuller(
        cfg.queue_url,
        deliver,
        sqs=sqs,
        s3=s3,
        metrics=metrics,
        concurrency=cfg.concurrency,
        wait_s=cfg.wait_s,
        visibility_s=cfg.visibility_s,
        batch_records=cfg.batch_records,
        max_object_bytes=cfg.max_object_bytes,
        max_decompressed_bytes=settings.max_decompressed_bytes,
    )


class SqsPullWorker(ThreadWorker):
    """`leash up` with LEASH_SQS__QUEUE_URL: pulls into this process's bus (no HTTP hop)."""

    def __init__(self, runtime: Runtime) -> None:
        super().__init__("sqs-pull")
        self._stop_event = threading.Event()
        delivery = ServiceDelivery(runtime.service, queue_url=runtime.settings.sqs.queue_url)
        self.puller = build_puller(runtime.settings, delivery, runtime.metrics)

    def _run(self) -> None:
        try:
            self.puller.run(self._stop_event)
        except Exception:  # the thread ends: /healthz turns degraded and says so in the log
            logger.exception("the S3 + SQS puller stopped")
            raise

    def _wake(self) -> None:
        self._stop_event.set()  # a long poll in flight ends within LEASH_SQS__WAIT_S
