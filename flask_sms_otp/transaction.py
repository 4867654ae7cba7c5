"""Who commits what.

The code engine writes in transactions of its own (:mod:`.challenges`), never on the app's
``db.session``. Changes to users (a new account, a password, a number) are made on the app's
``db.session`` without committing; the extension's own views commit them once, when the
request is answered (:func:`finish`, an ``after_request`` of its blueprints), and only when a
flow changed something. Work that must follow the commit (a notice to the old number, say)
is queued with :func:`after_commit`. Nothing here ever rolls back: a request that fails
leaves the app's session as it was, for Flask-SQLAlchemy to discard at teardown.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from flask import g, has_app_context
from werkzeug.wrappers import Response

from .state import get_state

logger = logging.getLogger("flask_sms_otp")

_IN_VIEW = "_sms_otp_in_view"
_CHANGED = "_sms_otp_changed"
_AFTER_COMMIT = "_sms_otp_after_commit"


def changed() -> None:
    """A flow changed a user on ``db.session``: the view must commit it."""
    if has_app_context():
        setattr(g, _CHANGED, True)


def after_commit(work: Callable[[], object]) -> None:
    """Run ``work`` once the view's changes are committed; at once outside the extension's
    views (where there is nothing of ours to wait for)."""
    if has_app_context() and getattr(g, _IN_VIEW, False):
        g.setdefault(_AFTER_COMMIT, []).append(work)
    else:
        work()


def begin() -> None:
    """``before_request`` of the extension's blueprints."""
    end()
    setattr(g, _IN_VIEW, True)


def end(_error: BaseException | None = None) -> None:
    """``teardown_request`` of the extension's blueprints: nothing carries over to the next
    request (``g`` outlives a request when the app context was pushed around it)."""
    for name in (_IN_VIEW, _CHANGED, _AFTER_COMMIT):
        g.pop(name, None)


def finish(response: Response) -> Response:
    """``after_request`` of the extension's blueprints: commit what the flows changed, then
    run the work queued for after the commit. A server error commits nothing."""
    changes = g.pop(_CHANGED, False)
    queued: list[Callable[[], object]] = g.pop(_AFTER_COMMIT, [])
    end()
    if response.status_code >= 500:
        return response
    if changes:
        get_state().db.session.commit()
    for work in queued:
        try:
            work()
        except Exception:  # follow-up work (notices) never undoes what was committed
            logger.exception("work after the commit failed")
    return response
