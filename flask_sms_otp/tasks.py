"""Queued delivery on Celery (``SMS_OTP_DELIVERY = "celery"``).

The web request creates the challenge and queues only its id: the worker makes the code,
stores its digest and calls the provider, so no code ever passes through the broker and a
slow provider never holds a web worker. Transient provider failures are retried with
backoff, each attempt with a fresh code; when the task gives up the challenge is closed,
the delivery record says ``failed`` and ``delivery_failed`` is sent.

The task needs the Flask app around it: create the Celery app the Flask way, with a task
class that runs every task inside ``app.app_context()`` (see docs/deployment.md).
"""

from __future__ import annotations

from typing import Any

from celery import Task, shared_task

from .dispatch import QueuedDispatcher
from .errors import DeliveryError, ProviderRateLimited
from .state import get_state

#: Attempts after the first before the task gives up.
MAX_RETRIES = 3
#: Longest wait between attempts, in seconds.
MAX_BACKOFF = 60


@shared_task(name="flask_sms_otp.deliver_code", bind=True, max_retries=MAX_RETRIES)
def deliver_code(
    self: Task,
    challenge_id: str,
    resend: bool = False,
    client_ip: str | None = None,
    locale: str | None = None,
) -> str:
    """Send the code of a queued challenge in ``locale`` (the request's language). Returns
    what happened (for Celery's result)."""
    final = self.request.retries >= MAX_RETRIES
    dispatcher = get_state().dispatcher
    if not isinstance(dispatcher, QueuedDispatcher):
        raise RuntimeError("flask_sms_otp.deliver_code needs SMS_OTP_DELIVERY = 'celery'")
    try:
        sent = dispatcher.deliver_queued(
            challenge_id, resend=resend, client_ip=client_ip, final_attempt=final, locale=locale
        )
    except DeliveryError as error:
        if error.retryable and not final:
            raise self.retry(countdown=backoff(error, self.request.retries)) from None
        return "failed"
    return "sent" if sent else "skipped"


def backoff(error: DeliveryError, retries: int) -> float:
    """The provider's own ``Retry-After`` when it gave one, else 1, 2, 4 ... seconds."""
    if isinstance(error, ProviderRateLimited) and error.retry_after is not None:
        return min(float(error.retry_after), MAX_BACKOFF)
    return float(min(2**retries, MAX_BACKOFF))


def enqueue(challenge_id: str, resend: bool, client_ip: str | None, locale: str | None) -> Any:
    """Queue the delivery of ``challenge_id`` on the current Celery app."""
    return deliver_code.apply_async(args=(challenge_id, resend, client_ip, locale))
