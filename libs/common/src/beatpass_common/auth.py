"""JWT verification (HS256 secret or RS256 public key from configuration) and dev tokens."""

from __future__ import annotations

import time
from dataclasses import dataclass

import jwt
from jwt.types import Options

from . import keys
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
    upload_minutes_limit: int  # the token's claim, else the setting's default


# The largest upload_minutes_limit a token may grant (about 70 days of audio): beyond it a claim
# is a mistake of the identity provider, refused rather than trusted or clipped.
MINUTES_LIMIT_MAX = 100_000
INVALID = "Your access token is not valid. Sign in again."
PRODUCER_ID_MESSAGE = "Your access token names a producer id this platform cannot use. Contact BeatPass support."


def claim_message(claim: str) -> str:
    return f"Your access token's {claim} claim is not valid. Contact BeatPass support."


def _key_and_algorithm(settings: Settings) -> tuple[str, str]:
    if settings.jwt_public_key:
        return settings.jwt_public_key, "RS256"
    return settings.secret("jwt_secret"), "HS256"  # the dev secret only in dev mode


def _minutes_limit(value: object) -> int | None:
    """A whole number of minutes from 0 to MINUTES_LIMIT_MAX (600.0 counts as 600); AuthError otherwise."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise AuthError("TOKEN_CLAIM_INVALID", claim_message("upload_minutes_limit"))
    if not (0 <= value <= MINUTES_LIMIT_MAX) or value != int(value):  # NaN and ±Infinity fail the range
        raise AuthError("TOKEN_CLAIM_INVALID", claim_message("upload_minutes_limit"))
    return int(value)


def verify_token(token: str, settings: Settings) -> Producer:
    """The producer a token names. Raises AuthError: TOKEN_EXPIRED, TOKEN_INVALID (signature,
    shape, missing sub/exp), PRODUCER_ID_INVALID (sub outside beatpass_common.keys' alphabet),
    TOKEN_CLAIM_INVALID (upload_minutes_limit not a whole number 0..MINUTES_LIMIT_MAX,
    producer_approved present but not a boolean)."""
    key, algorithm = _key_and_algorithm(settings)
    options: Options = {"require": ["sub", "exp"]}
    try:
        claims = jwt.decode(token, key, algorithms=[algorithm], options=options, audience=settings.jwt_audience or None)
    except jwt.ExpiredSignatureError:
        raise AuthError("TOKEN_EXPIRED", "Your session has expired. Sign in again.") from None
    except (jwt.PyJWTError, OverflowError, TypeError, ValueError):
        # PyJWT converts exp/nbf/iat with int(): Infinity raises OverflowError, not a PyJWTError.
        raise AuthError("TOKEN_INVALID", INVALID) from None
    sub = claims.get("sub")
    if not isinstance(sub, str) or not sub.strip():
        raise AuthError("TOKEN_INVALID", INVALID)
    if not keys.valid_producer_id(sub):
        raise AuthError("PRODUCER_ID_INVALID", PRODUCER_ID_MESSAGE)
    approved = claims.get("producer_approved", False)
    if not isinstance(approved, bool):
        raise AuthError("TOKEN_CLAIM_INVALID", claim_message("producer_approved"))
    limit = _minutes_limit(claims.get("upload_minutes_limit"))
    return Producer(
        id=sub, approved=approved, upload_minutes_limit=settings.upload_minutes_limit if limit is None else limit
    )


def bearer_token(header: str | None) -> str:
    if not header:
        raise AuthError("AUTH_REQUIRED", "Sign in to upload: this request has no access token.")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise AuthError("TOKEN_INVALID", INVALID)
    return token.strip()


def mint_dev_token(
    settings: Settings,
    producer_id: str,
    *,
    approved: bool = True,
    minutes: int | None = None,
    ttl_s: int = 7 * 24 * 3600,
) -> str:
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
