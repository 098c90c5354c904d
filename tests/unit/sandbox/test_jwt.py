import base64

import orjson
import pytest

from service.devkit.sandbox import jwt


def test_issue_and_decode_round_trip() -> None:
    token = jwt.issue(1, "s3cret", now=1000.0, ttl_s=60)
    claims = jwt.decode(token, "s3cret", now=1059.0)
    assert claims["business"] == 1
    assert claims["token_type"] == "access"
    assert claims["exp"] == 1060
    assert jwt.business_of(claims) == 1


def test_header_is_hs256() -> None:
    header = orjson.loads(base64.urlsafe_b64decode(jwt.DEMO_JWT.split(".")[0] + "=="))
    assert header == {"alg": "HS256", "typ": "JWT"}


def test_demo_token_is_stable_and_valid_forever() -> None:
    claims = jwt.decode(jwt.DEMO_JWT, jwt.DEFAULT_SECRET, now=4_000_000_000)
    assert jwt.business_of(claims) == 1


@pytest.mark.parametrize(
    "mangle",
    [
        lambda t: t + "x",
        lambda t: t.rsplit(".", 1)[0],
        lambda t: "a.b.c",
        lambda t: "",
        lambda t: t.replace(".", ".é", 1),
    ],
)
def test_malformed_tokens_are_rejected(mangle) -> None:
    with pytest.raises(jwt.TokenError):
        jwt.decode(mangle(jwt.issue(1, "k", now=0, ttl_s=None)), "k", now=0)


def test_wrong_secret_expiry_and_token_type() -> None:
    token = jwt.issue(1, "k", now=0, ttl_s=10)
    with pytest.raises(jwt.TokenError, match="signature"):
        jwt.decode(token, "other", now=0)
    with pytest.raises(jwt.TokenError, match="expired"):
        jwt.decode(token, "k", now=10)
    refresh = jwt.encode({"token_type": "refresh", "business": 1}, "k")
    with pytest.raises(jwt.TokenError, match="access"):
        jwt.decode(refresh, "k", now=0)


def test_alg_none_is_refused_even_when_signed() -> None:
    header = base64.urlsafe_b64encode(b'{"alg":"none"}').rstrip(b"=").decode()
    payload = base64.urlsafe_b64encode(b'{"token_type":"access"}').rstrip(b"=").decode()
    signature = jwt._sign(f"{header}.{payload}".encode(), "k")
    with pytest.raises(jwt.TokenError, match="HS256"):
        jwt.decode(f"{header}.{payload}.{signature}", "k", now=0)


def test_business_of_ignores_non_ints() -> None:
    assert jwt.business_of({"business": True}) is None
    assert jwt.business_of({"business": "1"}) is None
