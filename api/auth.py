"""Authentication and tenancy: who sends a request, checked before its body is read.

:class:`AuthMiddleware` runs outside the routes: it reads only the ``X-API-Key`` header, answers
401/403 at once (the body is never read, so an unauthenticated 100 MB body costs nothing) and
puts the caller's :class:`Principal` into the request scope. A principal is a tenant and a role:
read keys and write keys see only their tenant's datasets and jobs (anything else is 404), admin
keys see every tenant's. Public paths: ``/health`` and the API documentation.
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass

from api.problems import ASGIApp, Problem, Receive, Scope, Send, send_problem
from api.settings import Role, Settings

__all__ = ["API_KEY_HEADER", "OPEN", "AuthMiddleware", "Principal"]

logger = logging.getLogger(__name__)

API_KEY_HEADER = "X-API-Key"
PUBLIC_PATHS = ("/health", "/openapi.json", "/docs")
PUBLIC_PREFIXES = ("/docs-static/",)
READ_METHODS = ("GET", "HEAD")


@dataclass(frozen=True)
class Principal:
    """The caller: a tenant and a role (``read``, ``write`` or ``admin``)."""

    tenant: str
    role: Role

    @property
    def scope(self) -> str | None:
        """The owner whose data this caller sees (``None``: every owner's, for admins)."""
        return None if self.role == "admin" else self.tenant

    @property
    def can_write(self) -> bool:
        """Whether this caller may upload, delete, solve and submit."""
        return self.role != "read"


#: the caller of a service configured with SITING_OPEN=true
OPEN = Principal("open", "admin")


class AuthMiddleware:
    """401 / 403 problem responses before anything reads the body; the principal in
    ``scope["state"]["principal"]`` otherwise."""

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.open = settings.open
        self.keys = [(k.secret.encode(), Principal(k.tenant, k.role)) for k in settings.api_keys()]

    def principal(self, key: bytes) -> Principal | None:
        """The principal of a key (every configured key is compared, in constant time)."""
        found = None
        for secret, principal in self.keys:
            if secrets.compare_digest(key, secret):
                found = principal
        return found

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        method: str = scope["method"]
        if method == "OPTIONS" or path in PUBLIC_PATHS or path.startswith(PUBLIC_PREFIXES):
            await self.app(scope, receive, send)
            return
        if self.open:
            principal = OPEN
        else:
            key = next((v for k, v in scope.get("headers") or [] if k == b"x-api-key"), b"").strip()
            found = self.principal(key) if key else None
            if found is None:
                await send_problem(send, path, _unauthorized(bool(key)))
                return
            principal = found
            if method not in READ_METHODS and not principal.can_write:
                await send_problem(send, path, _forbidden())
                return
        scope.setdefault("state", {})["principal"] = principal
        await self.app(scope, receive, send)


def _unauthorized(sent: bool) -> Problem:
    detail = (
        f"the key in the `{API_KEY_HEADER}` header is not a configured API key"
        if sent
        else f"send an API key in the `{API_KEY_HEADER}` header"
    )
    return Problem(
        401,
        "Invalid API key" if sent else "API key required",
        detail,
        members={"field": API_KEY_HEADER, "expected": "a configured API key"},
        headers={"WWW-Authenticate": f'ApiKey header="{API_KEY_HEADER}"'},
    )


def _forbidden() -> Problem:
    return Problem(
        403,
        "Write access denied",
        "this API key may only read; this endpoint needs a write key",
        members={"field": API_KEY_HEADER, "expected": "a write key"},
    )
