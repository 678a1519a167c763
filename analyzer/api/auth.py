"""The bearer token that guards the API when ANALYZER_API_TOKEN is set.

Every /api route wants ``Authorization: Bearer <token>``. A browser's EventSource cannot set
headers, so the events route alone also takes ``?token=``. Tokens are compared in constant
time so the response time tells an attacker nothing about how much of a guess was right.
"""

from __future__ import annotations

import hmac

from fastapi import HTTPException, Request, status

from analyzer.api.settings import ApiSettings


def _expected_token(request: Request) -> str | None:
    settings: ApiSettings = request.app.state.api_settings
    return settings.api_token


def bearer_token(request: Request) -> str | None:
    """The token of an ``Authorization: Bearer …`` header (scheme is case-insensitive)."""
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        return None
    return value.strip()


def token_matches(given: str | None, expected: str) -> bool:
    if given is None:
        return False
    return hmac.compare_digest(given.encode("utf-8"), expected.encode("utf-8"))


def _refuse(given: str | None) -> HTTPException:
    detail = (
        "This API needs a token: send 'Authorization: Bearer <ANALYZER_API_TOKEN>'."
        if given is None
        else "The API token was refused."
    )
    return HTTPException(
        status_code=status.HTTP_401_UNAUTHORIZED,
        detail=detail,
        headers={"WWW-Authenticate": "Bearer"},
    )


def require_token(request: Request) -> None:
    """Dependency for every /api route."""
    expected = _expected_token(request)
    if expected is None:
        return
    given = bearer_token(request)
    if not token_matches(given, expected):
        raise _refuse(given)


def require_token_or_query(request: Request) -> None:
    """Dependency for the events route: the header, or ``?token=`` for EventSource clients."""
    expected = _expected_token(request)
    if expected is None:
        return
    given = bearer_token(request) or request.query_params.get("token")
    if not token_matches(given, expected):
        raise _refuse(given)
