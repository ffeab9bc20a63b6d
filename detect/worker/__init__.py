"""The detection engine on the bus: in this process's thread, or in a child process.

`DetectionWorker` (thread) runs the engine in the process that polls the bus.
"""

from __future__ import annotations

from detect.worker.thread import DetectionWorker

__all__ = ["DetectionWorker"]
