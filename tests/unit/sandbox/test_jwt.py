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
    token = jwt.issue(1, "k", now=0, ttl_s=60)
    header = orjson.loads(base64.urlsafe_b64decode(token.split(".")[0] + "=="))
    assert header == {"alg": "HS256", "typ": "JWT"}


def test_every_token_expires() -> None:
    claims = jwt.decode(jwt.issue(1, "k", now=100.0, ttl_s=jwt.ACCESS_TTL_S), "k", now=100.0)
    assert claims["exp"] == 100 + 300
    without_exp = jwt.encode({"token_type": "access", "business": 1}, "k")
    with pytest.raises(jwt.TokenError, match="expired") as refused:
        jwt.decode(without_exp, "k", now=0)
    assert refused.value.message == "Token is invalid or expired"


def test_refresh_tokens_are_not_access_tokens_and_back() -> None:
    refresh = jwt.issue(1, "k", now=0, ttl_s=jwt.REFRESH_TTL_S, kind="refresh")
    assert jwt.decode(refresh, "k", now=86_399, kind="refresh")["token_type"] == "refresh"
    with pytest.raises(jwt.TokenError) as refused:
        jwt.decode(refresh, "k", now=0)
    assert refused.value.message == "Token has wrong type"
    with pytest.raises(jwt.TokenError, match="expired"):
        jwt.decode(refresh, "k", now=86_400, kind="refresh")


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
        jwt.decode(mangle(jwt.issue(1, "k", now=0, ttl_s=60)), "k", now=0)


def test_wrong_secret_expiry_and_token_type() -> None:
    token = jwt.issue(1, "k", now=0, ttl_s=10)
    with pytest.raises(jwt.TokenError, match="signature"):
        jwt.decode(token, "other", now=0)
    with pytest.raises(jwt.TokenError, match="expired"):
        jwt.decode(token, "k", now=10)
    refresh = jwt.encode({"token_type": "refresh", "business": 1, "exp": 10}, "k")
    with pytest.raises(jwt.TokenError, match="type"):
        jwt.decode(refresh, "k", now=0)


def test_alg_none_is_refused_even_when_signed() -> None:
    header = base64.urlsafe_b64encode(b'{"alg":"none"}').rstrip(b"=").decode()
    payload = base64.urlsafe_b64encode(b'{"token_type":"access","exp":9}').rstrip(b"=").decode()
    signature = jwt._sign(f"{header}.{payload}".encode(), "k")
    with pytest.raises(jwt.TokenError, match="HS256"):
        jwt.decode(f"{header}.{payload}.{signature}", "k", now=0)


def test_business_of_ignores_non_ints() -> None:
    assert jwt.business_of({"business": True}) is None
    assert jwt.business_of({"business": "1"}) is None
