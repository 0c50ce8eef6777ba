import time

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from beatpass_common.auth import AuthError, bearer_token, mint_dev_token, verify_token
from beatpass_common.config import Settings


def test_dev_token_round_trip_with_claims():
    settings = Settings(jwt_secret="s" * 40)
    producer = verify_token(mint_dev_token(settings, "p1", minutes=30), settings)
    assert (producer.id, producer.approved, producer.upload_minutes_limit) == ("p1", True, 30)
    assert verify_token(mint_dev_token(settings, "p2", approved=False), settings).approved is False


def test_rs256_public_key():
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public = key.public_key().public_bytes(serialization.Encoding.PEM,
                                           serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    settings = Settings(jwt_public_key=public)
    token = jwt.encode({"sub": "p9", "producer_approved": True, "exp": int(time.time()) + 60}, key, algorithm="RS256")
    assert verify_token(token, settings).id == "p9"
    forged = jwt.encode({"sub": "p9", "producer_approved": True, "exp": int(time.time()) + 60}, "x" * 40,
                        algorithm="HS256")
    with pytest.raises(AuthError):
        verify_token(forged, settings)  # no algorithm confusion


@pytest.mark.parametrize("claims, code", [
    ({"sub": "p", "exp": 1}, "TOKEN_EXPIRED"),
    ({"producer_approved": True, "exp": 4_000_000_000}, "TOKEN_INVALID"),  # no sub
    ({"sub": "p"}, "TOKEN_INVALID"),  # no exp
])
def test_bad_claims(claims, code):
    settings = Settings(jwt_secret="s" * 40)
    with pytest.raises(AuthError) as exc:
        verify_token(jwt.encode(claims, "s" * 40, algorithm="HS256"), settings)
    assert exc.value.code == code


def test_bearer_header_parsing():
    assert bearer_token("Bearer abc") == "abc"
    for header in (None, "", "Basic abc", "Bearer "):
        with pytest.raises(AuthError):
            bearer_token(header)
