"""Response headers for the extension's pages and API: no framing (a clickjacked "turn off
two-step verification" inside the re-verification window), no caching of pages that show
account details or carry CSRF tokens, no MIME sniffing, no full URLs in Referer.

A header the response already has is kept; an app that sets its own (Flask-Talisman, say,
in an app-wide ``after_request``, which runs after these) has the last word.
"""

from __future__ import annotations

from werkzeug.wrappers import Response

SECURITY_HEADERS: dict[str, str] = {
    "Content-Security-Policy": "frame-ancestors 'none'",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-store",
    "Referrer-Policy": "same-origin",
}


def protect(response: Response) -> Response:
    """``after_request`` of the extension's blueprints."""
    for name, value in SECURITY_HEADERS.items():
        if name not in response.headers:
            response.headers[name] = value
    return response
