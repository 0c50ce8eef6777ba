"""JWT verification (HS256 secret or RS256 public key from configuration) and dev tokens."""

from __future__ import annotations

import time
from dataclasses import dataclass

import jwt

from .config import DEV_JWT_SECRET, Settings


class AuthError(Exception):
    """The request carries no usable identity; ``message`` is what the caller reads."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class Producer:
    id: str
    approved: bool
    upload_minutes_limit: int | None = None


def _key_and_algorithm(settings: Settings) -> tuple[str, str]:
    if settings.jwt_public_key:
        return settings.jwt_public_key, "RS256"
    return settings.jwt_secret or DEV_JWT_SECRET, "HS256"


def verify_token(token: str, settings: Settings) -> Producer:
    key, algorithm = _key_and_algorithm(settings)
    options = {"require": ["sub", "exp"]}
    try:
        claims = jwt.decode(token, key, algorithms=[algorithm], options=options,
                            audience=settings.jwt_audience or None)
    except jwt.ExpiredSignatureError:
        raise AuthError("TOKEN_EXPIRED", "Your session has expired. Sign in again.") from None
    except jwt.InvalidSignatureError:
        raise AuthError("TOKEN_INVALID", "Your access token is not valid. Sign in again.") from None
    except jwt.PyJWTError:
        raise AuthError("TOKEN_INVALID", "Your access token is not valid. Sign in again.") from None
    sub = claims.get("sub")
    if not isinstance(sub, str) or not sub.strip() or len(sub) > 128:
        raise AuthError("TOKEN_INVALID", "Your access token is not valid. Sign in again.")
    limit = claims.get("upload_minutes_limit")
    return Producer(
        id=sub,
        approved=claims.get("producer_approved") is True,
        upload_minutes_limit=int(limit) if isinstance(limit, (int, float)) and limit >= 0 else None,
    )


def bearer_token(header: str | None) -> str:
    if not header:
        raise AuthError("AUTH_REQUIRED", "Sign in to upload: this request has no access token.")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise AuthError("TOKEN_INVALID", "Your access token is not valid. Sign in again.")
    return token.strip()


def mint_dev_token(settings: Settings, producer_id: str, *, approved: bool = True, minutes: int | None = None,
                   ttl_s: int = 7 * 24 * 3600) -> str:
    """Sign a token with the configured HS256 secret (dev and tests; production tokens come from BeatPass auth)."""
    if settings.jwt_public_key and not settings.jwt_secret:
        raise RuntimeError("RS256 is configured: tokens are issued by the identity provider, not minted here")
    now = int(time.time())
    claims = {"sub": producer_id, "producer_approved": approved, "iat": now, "exp": now + ttl_s}
    if minutes is not None:
        claims["upload_minutes_limit"] = minutes
    if settings.jwt_audience:
        claims["aud"] = settings.jwt_audience
    return jwt.encode(claims, settings.jwt_secret or DEV_JWT_SECRET, algorithm="HS256")
