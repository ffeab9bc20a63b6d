"""A group join that finishes between two polls is kept, not thrown away (kafka-python 3.0).

kafka-python 3.0 runs a member's JoinGroup/SyncGroup exchange as a task on its IO thread and
awaits it inside `KafkaConsumer.poll`. A poll that times out leaves the task running; the next
poll awaits it again -- unless it has finished meanwhile: then `join_group_async` sees a done
task, takes it for a spent one and sends a new JoinGroup. The assignment the group just agreed
is dropped, and the new join starts another rebalance for every member. Members that poll for
short spells (Leash's sink and detector poll for 50 ms, so stop and control checks stay prompt)
often finish a join between polls; two such members can keep restarting each other's joins for
minutes (seen over Tansu: a two-member group that took 30-120 s to settle under load).

`keep_finished_joins` wraps `join_group_async` once: a join task that finished with an
assignment while nobody waited is handed to kafka-python's own loop as a pending future that
resolves at once, so the loop takes the assignment exactly as if it had waited for it (listener,
heartbeats, state). Only a fresh one: heartbeats are off while a join is outstanding, so a
member that does not poll for a session timeout after its join finished has been dropped by
the broker and its partitions given to others -- a result older than KEEP_SHARE of the session
timeout is let go and kafka-python joins again (review: a member kept a generation the broker
had evicted it from and handed out records of partitions another member owned). A failed task
is left alone: its error was already applied (a rejoin requested, the generation reset) and a
new join is what kafka-python should send. Where kafka-python has no such methods (other
versions), nothing is changed.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Awaitable, Callable
from typing import Any

from kafka.coordinator.base import BaseCoordinator
from kafka.future import Future

_KEPT = "_leash_keeps_finished_joins"
_FINISHED = "_leash_join_finished_s"  # on a coordinator: when its last join task finished
KEEP_SHARE = 0.5  # a finished join is kept while younger than this share of the session timeout


def keep_finished_joins() -> bool:
    """Wrap kafka-python's `join_group_async` (once per process); False where it has none."""
    original = getattr(BaseCoordinator, "join_group_async", None)
    exchange = getattr(BaseCoordinator, "_do_join_and_sync_async", None)
    if original is None or exchange is None:
        return False
    if getattr(original, _KEPT, False):
        return True

    @functools.wraps(exchange)
    async def do_join_and_sync_async(self: Any) -> Any:
        assignment = await exchange(self)
        setattr(self, _FINISHED, time.monotonic())
        return assignment

    @functools.wraps(original)
    async def join_group_async(self: Any, timeout_ms: int | None = None) -> bool:
        task = getattr(self, "_join_task", None)
        if task is not None and task.is_done and task.exception is None and self.need_rejoin():
            age_s = time.monotonic() - getattr(self, _FINISHED, float("-inf"))
            if age_s < KEEP_SHARE * self.config["session_timeout_ms"] / 1000:
                # (a Task from kafka-python, or a future of ours whose await had timed out)
                assignment = task.value if isinstance(task, Future) else task.result
                self._join_task = _resolving(self, assignment)
        joined: bool = await original(self, timeout_ms)
        return joined

    setattr(join_group_async, _KEPT, True)
    BaseCoordinator._do_join_and_sync_async = do_join_and_sync_async
    BaseCoordinator.join_group_async = join_group_async
    return True


def _resolving(coordinator: Any, assignment: bytes) -> Future:
    """A future that is pending now (so `join_group_async` awaits it instead of joining again)
    and resolves with `assignment` on the coordinator's loop right after."""
    pending = Future()

    async def resolve() -> None:
        pending.success(assignment)

    call_soon: Callable[[Callable[[], Awaitable[None]]], object] = coordinator._net.call_soon
    call_soon(resolve)
    return pending
