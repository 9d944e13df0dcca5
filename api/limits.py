"""Request size limits: every body is bounded, before it is read (``Content-Length``) or while
it streams in (chunked bodies), per path with a default for all others."""

from __future__ import annotations

import logging

from api.problems import ASGIApp, Message, Problem, Receive, Scope, Send, send_problem

__all__ = ["BodyLimitMiddleware"]

logger = logging.getLogger(__name__)


class _TooLarge(Exception):
    pass


class BodyLimitMiddleware:
    """413 for request bodies above the limit of their path (``limits``: path → (bytes, hint))
    or ``default`` for other paths."""

    def __init__(self, app: ASGIApp, limits: dict[str, tuple[int, str]], default: int) -> None:
        self.app = app
        self.limits = limits
        self.default = default

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit, hint = self.limits.get(scope["path"].rstrip("/"), (self.default, ""))
        headers = dict(scope.get("headers") or [])
        length = headers.get(b"content-length")
        if length is not None and (not length.isdigit() or int(length) > limit):
            await send_problem(send, scope["path"], _too_large(limit, hint))
            return
        seen = 0
        started = False

        async def counting_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise _TooLarge
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except _TooLarge:
            if started:
                raise
            await send_problem(send, scope["path"], _too_large(limit, hint))


def _too_large(limit: int, hint: str) -> Problem:
    return Problem(
        413,
        "Request too large",
        f"the request body is larger than the limit of {limit:,} bytes. {hint}".strip(),
        slug="too-large",
        members={"field": "(body)", "expected": f"at most {limit} bytes"},
    )
