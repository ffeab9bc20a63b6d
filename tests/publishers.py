"""HeldPublisher: a Publisher whose first publish stays pending until the test releases it;
held_service: a runtime's IngestService over one."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from concurrent.futures import Future

from ingest.bus import Publisher
from ingest.runtime import Runtime
from ingest.service import IngestService

__all__ = ["HeldPublisher", "held_service"]


class HeldPublisher:
    """Wraps a real Publisher; the first call is not handed on until `release()`, as if the bus
    took that long to make it durable. Later calls go straight through. `calls` holds how many
    messages each call carried, in call order."""

    def __init__(self, inner: Publisher) -> None:
        self._inner = inner
        self._lock = threading.Lock()
        self._held: Future[None] = Future()
        self._first: tuple[str, Sequence[tuple[bytes, bytes]]] | None = None
        self.calls: list[int] = []
        self.second = threading.Event()  # a publish arrived while the first was held

    def publish(self, topic: str, messages: Sequence[tuple[bytes, bytes]]) -> Future[None]:
        with self._lock:
            self.calls.append(len(messages))
            if self._first is None:
                self._first = (topic, messages)
                return self._held
        if not self._held.done():
            self.second.set()
        return self._inner.publish(topic, messages)

    def release(self, error: BaseException | None = None) -> None:
        """Hand the first publish on to the real bus (or fail it with `error`)."""
        if error is not None:
            self._held.set_exception(error)
            return
        assert self._first is not None, "nothing was published yet"
        durable = self._inner.publish(*self._first)
        durable.add_done_callback(lambda done: _copy(done, self._held))

    def close(self) -> None:
        self._inner.close()


def _copy(source: Future[None], target: Future[None]) -> None:
    error = source.exception()
    if error is None:
        target.set_result(None)
    else:
        target.set_exception(error)


def held_service(runtime: Runtime) -> tuple[IngestService, HeldPublisher]:
    """The runtime's normaliser and dedupe cache over a bus whose first publish is held."""
    publisher = HeldPublisher(runtime.bus.publisher())
    service = IngestService(
        publisher,
        runtime.normalizer,
        runtime.service.dedupe,
        max_decompressed_bytes=runtime.settings.max_decompressed_bytes,
        max_records=runtime.settings.max_records_per_request,
        topic=runtime.settings.kafka.topic,
    )
    return service, publisher
