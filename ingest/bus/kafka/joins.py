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
heartbeats, state). A failed task is left alone: its error was already applied (a rejoin
requested, the generation reset) and a new join is what kafka-python should send. Where
kafka-python has no such method (other versions), nothing is changed.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import Any

from kafka.coordinator.base import BaseCoordinator
from kafka.future import Future

_KEPT = "_leash_keeps_finished_joins"


def keep_finished_joins() -> bool:
    """Wrap kafka-python's `join_group_async` (once per process); False where it has none."""
    original = getattr(BaseCoordinator, "join_group_async", None)
    if original is None:
        return False
    if getattr(original, _KEPT, False):
        return True

    @functools.wraps(original)
    async def join_group_async(self: Any, timeout_ms: int | None = None) -> bool:
        task = getattr(self, "_join_task", None)
        if task is not None and task.is_done and task.exception is None and self.need_rejoin():
            # (a Task from kafka-python, or a future of ours whose await had timed out)
            assignment = task.value if isinstance(task, Future) else task.result
            self._join_task = _resolving(self, assignment)
        joined: bool = await original(self, timeout_ms)
        return joined

    setattr(join_group_async, _KEPT, True)
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
