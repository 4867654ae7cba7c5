"""What a ``User-Agent`` tells a person about one of their sessions: the browser and the
operating system, so that they recognise their own devices in the sessions list.

Parsed with ua-parser (the maintained uap-core rules), only when the list is shown, never
on the request path of a session check.
"""

from __future__ import annotations

from dataclasses import dataclass

from ua_parser import parse


@dataclass(frozen=True, slots=True)
class Device:
    """``browser`` ("Chrome 124") and ``os`` ("Windows 10"), each ``None`` when unknown."""

    browser: str | None
    os: str | None


def describe(user_agent: str) -> Device:
    result = parse(user_agent) if user_agent else None
    if result is None:
        return Device(None, None)
    agent, system = result.user_agent, result.os
    browser = _named(agent.family, agent.major) if agent is not None else None
    os = None
    if system is not None:
        version = system.major if not system.minor else f"{system.major}.{system.minor}"
        os = _named(system.family, version)
    return Device(browser, os)


def _named(family: str, version: str | None) -> str | None:
    if not family or family == "Other":
        return None
    return f"{family} {version}" if version else family
