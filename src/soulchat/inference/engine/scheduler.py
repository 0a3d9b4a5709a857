"""The batching scheduler: a bounded queue of waiting requests and one worker thread that decodes them in batches.

Front ends submit from any thread (the server from its event loop) and never wait for the model: `submit` either
queues the request or raises [`QueueFullError`] at once, so memory stays bounded under load (the server answers 503).
The worker takes up to `max_batch_size` waiting requests and runs them as one batch; while it runs, the batch may
`admit` more waiting requests between two steps (up to `max_batch_size` in flight), so a newcomer does not wait for
the whole batch to end. Requests cancelled while waiting are dropped without touching the model.
"""

import logging
import threading
from collections import deque
from collections.abc import Callable
from typing import Protocol

logger = logging.getLogger(__name__)


class QueueFullError(RuntimeError):
    """Raised by [`Scheduler.submit`] when `max_queue` requests are already waiting."""


class Job(Protocol):
    """What the scheduler needs from a request."""

    @property
    def cancelled(self) -> bool:
        """Whether the request's client went away."""

    def cancel(self) -> None:
        """Asks for the request to stop (it ends at the next step)."""

    def abort(self, error: BaseException | None) -> None:
        """Ends the request without a reply: cancelled (`error` is None) or failed."""


class Scheduler:
    """Queues jobs and runs them in batches on one worker thread.

    Args:
        run_batch (`Callable[[list[Job], Callable[[int], list[Job]]], None]`):
            Runs a batch to completion (called on the worker thread) given the batch and an `admit(room)` function
            that hands over up to `room` more waiting jobs; every job it got must be ended by it.
        max_batch_size (`int`, *optional*, defaults to 8):
            Most jobs run together (1 = one at a time).
        max_queue (`int`, *optional*, defaults to 64):
            Most jobs waiting; beyond it `submit` raises [`QueueFullError`].
    """

    def __init__(
        self,
        run_batch: Callable[[list[Job], Callable[[int], list[Job]]], None],
        *,
        max_batch_size: int = 8,
        max_queue: int = 64,
    ):
        if max_batch_size < 1 or max_queue < 1:
            raise ValueError("max_batch_size and max_queue must be at least 1")
        self.run_batch = run_batch
        self.max_batch_size = max_batch_size
        self.max_queue = max_queue
        self._waiting: deque[Job] = deque()
        self._current: list[Job] = []
        self._paused = False
        self._closed = False
        self._condition = threading.Condition()
        self.batches = 0
        self._thread = threading.Thread(target=self._work, name="soulchat-engine", daemon=True)
        self._thread.start()

    @property
    def waiting(self) -> int:
        """Jobs queued and not started."""
        return len(self._waiting)

    @property
    def running(self) -> int:
        """Jobs taken by the batch being decoded (0 between batches)."""
        return len(self._current)

    def submit(self, job: Job) -> None:
        """Queues `job`; raises [`QueueFullError`] when the queue is full and `RuntimeError` once closed."""
        with self._condition:
            if self._closed:
                raise RuntimeError("the engine is closed")
            if len(self._waiting) >= self.max_queue:
                self._drop_cancelled()
            if len(self._waiting) >= self.max_queue:
                raise QueueFullError(f"{self.max_queue} requests are already waiting")
            self._waiting.append(job)
            self._condition.notify()

    def pause(self) -> None:
        """Stops starting new batches (the running one finishes); requests keep queueing up to `max_queue`."""
        with self._condition:
            self._paused = True

    def resume(self) -> None:
        """Starts batches again after [`pause`]."""
        with self._condition:
            self._paused = False
            self._condition.notify()

    def _drop_cancelled(self) -> None:
        """Ends the waiting jobs whose client went away (called with the lock held)."""
        for job in [job for job in self._waiting if job.cancelled]:
            self._waiting.remove(job)
            job.abort(None)

    def _pop(self, room: int) -> list[Job]:
        """Up to `room` waiting jobs, oldest first, skipping cancelled ones (called with the lock held)."""
        jobs: list[Job] = []
        while self._waiting and len(jobs) < room:
            job = self._waiting.popleft()
            if job.cancelled:
                job.abort(None)
            else:
                jobs.append(job)
        self._current.extend(jobs)
        return jobs

    def admit(self, room: int) -> list[Job]:
        """Hands up to `room` waiting jobs to the running batch (none while paused or closing)."""
        with self._condition:
            if self._paused or self._closed or room < 1:
                return []
            return self._pop(room)

    def _take(self) -> list[Job] | None:
        """Waits for work and returns the next batch, or None once closed."""
        with self._condition:
            while not self._closed and (self._paused or not self._waiting):
                self._condition.wait()
            if self._closed:
                return None
            return self._pop(self.max_batch_size)

    def _work(self) -> None:
        while (batch := self._take()) is not None:
            if not batch:
                continue
            self.batches += 1
            try:
                self.run_batch(batch, self.admit)
            except Exception as error:  # one failed batch must not stop the server: its requests get the error
                logger.exception("decoding a batch of %d requests failed", len(self._current))
                for job in list(self._current):
                    job.abort(error)
            finally:
                batch.clear()  # the idle worker must not keep the last batch's requests (and their text) alive
                with self._condition:
                    self._current = []

    def close(self, *, timeout: float | None = 30.0) -> None:
        """Stops the worker: the running batch is cancelled (its jobs end at the next step), waiting jobs end with
        an error."""
        with self._condition:
            self._closed = True
            waiting, self._waiting = list(self._waiting), deque()
            for job in self._current:
                job.cancel()
            self._condition.notify_all()
        for job in waiting:
            job.abort(RuntimeError("the engine was closed"))
        if threading.current_thread() is not self._thread:
            self._thread.join(timeout)

    @property
    def alive(self) -> bool:
        """Whether the worker thread runs."""
        return self._thread.is_alive()


__all__ = ["Job", "QueueFullError", "Scheduler"]
