"""A bounded pool of threads per process for the sends whose timing must not show.

A code for an anonymous usage (sign-up, sign-in by code, reset, a new number) goes out only
when the number is in the right state; if the provider call ran in the web worker, even
after the response, the worker's next request would wait for it, and that wait tells whether
the number has an account. Handed to this pool instead, the send leaves the worker free the
moment it answers.

The pool is bounded: at most ``threads`` sends run at once and ``backlog`` wait. When it is
full the send is refused, not dropped in silence: the engine closes the challenge, records
the delivery as failed, logs it and sends ``delivery_failed``, exactly as for a provider
outage; the person can ask for the code again. Pending sends finish before the process
exits (the pool's threads are joined at interpreter shutdown, as gunicorn's graceful
shutdown expects). Threads are started lazily in each process, so a pre-forking server
never copies a pool across ``fork``.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from flask import Flask

from .errors import ProviderUnavailable

logger = logging.getLogger("flask_sms_otp")


class SenderBusy(ProviderUnavailable):
    """The background sender is full: this send was refused (closed, recorded, signalled)."""

    def __init__(self) -> None:
        super().__init__("the background sender is full", connector="sender")


class BackgroundSender:
    def __init__(self, *, threads: int, backlog: int) -> None:
        self.threads = threads
        self.backlog = backlog
        self._lock = threading.Lock()
        self._pid: int | None = None
        self._executor: ThreadPoolExecutor | None = None
        self._slots = threading.BoundedSemaphore(threads + backlog)

    def submit(self, app: Flask, work: Callable[[], None]) -> None:
        """Run ``work`` in ``app``'s context on a pool thread; :class:`SenderBusy` when
        ``threads`` sends run and ``backlog`` wait already."""
        executor = self._executor_here()
        if not self._slots.acquire(blocking=False):
            raise SenderBusy()

        def run() -> None:
            try:
                with app.app_context():
                    work()
            except Exception:  # the engine logs and signals delivery errors; this is the rest
                logger.exception("a background send failed")
            finally:
                self._slots.release()

        executor.submit(run)

    def _executor_here(self) -> ThreadPoolExecutor:
        """This process's pool: made on first use, and made again after a ``fork``."""
        pid = os.getpid()
        with self._lock:
            if self._executor is None or self._pid != pid:
                self._executor = ThreadPoolExecutor(
                    max_workers=self.threads, thread_name_prefix="sms-otp-sender"
                )
                self._slots = threading.BoundedSemaphore(self.threads + self.backlog)
                self._pid = pid
            return self._executor

    def drain(self) -> None:
        """Wait until every pending send is done (tests; the interpreter does it at exit).
        The next send starts the pool again."""
        with self._lock:
            executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=True)
