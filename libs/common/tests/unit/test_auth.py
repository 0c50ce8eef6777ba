import time

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from hypothesis import given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from beatpass_common.auth import AuthError, bearer_token, mint_dev_token, verify_token
from beatpass_common.config import Settings


def test_dev_token_round_trip_with_claims():
    settings = Settings(jwt_secret="s" * 40)
    producer = verify_token(mint_dev_token(settings, "p1", minutes=30), settings)
    assert (producer.id, producer.approved, producer.upload_minutes_limit) == ("p1", True, 30)
    assert verify_token(mint_dev_token(settings, "p2", approved=False), settings).approved is False


def test_rs256_public_key():
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public = (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    settings = Settings(jwt_public_key=public)
    token = jwt.encode({"sub": "p9", "producer_approved": True, "exp": int(time.time()) + 60}, key, algorithm="RS256")
    assert verify_token(token, settings).id == "p9"
    forged = jwt.encode(
        {"sub": "p9", "producer_approved": True, "exp": int(time.time()) + 60}, "x" * 40, algorithm="HS256"
    )
    with pytest.raises(AuthError):
        verify_token(forged, settings)  # no algorithm confusion


@pytest.mark.parametrize(
    "claims, code",
    [
        ({"sub": "p", "exp": 1}, "TOKEN_EXPIRED"),
        ({"producer_approved": True, "exp": 4_000_000_000}, "TOKEN_INVALID"),  # no sub
        ({"sub": "p"}, "TOKEN_INVALID"),  # no exp
    ],
)
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


SECRET = "s" * 40


def _token(**claims) -> str:
    base = {"sub": "p1", "producer_approved": True, "exp": int(time.time()) + 600}
    return jwt.encode({**base, **claims}, SECRET, algorithm="HS256")


def test_no_key_outside_dev_mode_verifies_nothing():
    from beatpass_common.config import DEV_JWT_SECRET, MissingSecret

    forged = jwt.encode(
        {"sub": "anyone", "producer_approved": True, "exp": int(time.time()) + 60}, DEV_JWT_SECRET, algorithm="HS256"
    )
    with pytest.raises(MissingSecret, match="BEATPASS_JWT_SECRET or BEATPASS_JWT_PUBLIC_KEY not set"):
        verify_token(forged, Settings(dev_mode=False, jwt_secret="", jwt_public_key=""))
    assert verify_token(forged, Settings(dev_mode=True, jwt_secret="", jwt_public_key="")).id == "anyone"


@pytest.mark.parametrize(
    "sub",
    [
        "../../beatpass-media/x",
        "a/../b",
        "a/b",
        "p\x00",
        "..",
        ".hidden",
        "-x",
        "a..b",
        "x" * 65,
        "producer a",
        "é",
        "a\\b",
    ],
)
def test_producer_ids_outside_the_alphabet_are_refused(sub):
    with pytest.raises(AuthError) as exc:
        verify_token(_token(sub=sub), Settings(jwt_secret=SECRET))
    assert (exc.value.code, exc.value.message) == (
        "PRODUCER_ID_INVALID",
        "Your access token names a producer id this platform cannot use. Contact BeatPass support.",
    )


@pytest.mark.parametrize("sub", ["p1", "A", "producer-e2e", "auth0_abc.123", "x" * 64])
def test_producer_ids_in_the_alphabet_pass(sub):
    assert verify_token(_token(sub=sub), Settings(jwt_secret=SECRET)).id == sub


@pytest.mark.parametrize(
    "claims",
    [
        {"upload_minutes_limit": float("inf")},
        {"upload_minutes_limit": float("-inf")},
        {"upload_minutes_limit": float("nan")},
        {"upload_minutes_limit": 10**30},
        {"upload_minutes_limit": 100_001},
        {"upload_minutes_limit": -1},
        {"upload_minutes_limit": 1.5},
        {"upload_minutes_limit": "600"},
        {"upload_minutes_limit": True},
        {"upload_minutes_limit": [600]},
        {"producer_approved": "true"},
        {"producer_approved": 1},
        {"producer_approved": None},
    ],
)
def test_claims_out_of_range_are_refused_with_their_sentence(claims):
    (claim,) = claims
    with pytest.raises(AuthError) as exc:
        verify_token(_token(**claims), Settings(jwt_secret=SECRET))
    assert (exc.value.code, exc.value.message) == (
        "TOKEN_CLAIM_INVALID",
        f"Your access token's {claim} claim is not valid. Contact BeatPass support.",
    )


def test_minutes_limit_bounds_and_whole_floats():
    settings = Settings(jwt_secret=SECRET)
    assert verify_token(_token(upload_minutes_limit=0), settings).upload_minutes_limit == 0
    assert verify_token(_token(upload_minutes_limit=100_000), settings).upload_minutes_limit == 100_000
    assert verify_token(_token(upload_minutes_limit=600.0), settings).upload_minutes_limit == 600
    assert verify_token(_token(producer_approved=False), settings).approved is False


@pytest.mark.parametrize("exp", [float("inf"), float("-inf"), float("nan"), "soon", [1]])
def test_registered_claims_that_pyjwt_cannot_convert_are_invalid_tokens(exp):
    with pytest.raises(AuthError) as exc:
        verify_token(_token(exp=exp), Settings(jwt_secret=SECRET))
    assert exc.value.code == "TOKEN_INVALID"


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=80),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=6,
)


@given(
    claims=st.dictionaries(
        st.sampled_from(["sub", "exp", "nbf", "iat", "aud", "upload_minutes_limit", "producer_approved"]), JSON_VALUES
    )
)
@hsettings(max_examples=200, deadline=None)
def test_any_claim_values_give_a_producer_or_an_auth_error(claims):
    try:
        producer = verify_token(_token(**claims), Settings(jwt_secret=SECRET))
    except AuthError as exc:
        assert exc.code in {"TOKEN_INVALID", "TOKEN_EXPIRED", "PRODUCER_ID_INVALID", "TOKEN_CLAIM_INVALID"}
        return
    assert isinstance(producer.approved, bool)
    assert producer.upload_minutes_limit is None or 0 <= producer.upload_minutes_limit <= 100_000
