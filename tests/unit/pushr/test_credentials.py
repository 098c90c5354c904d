"""The status list's JWT in its three ways: a static token, a token file re-read when it
changes, and user + password on simplejwt-style endpoints renewed before `exp` (on a
ManualClock, over httpx.MockTransport)."""

from __future__ import annotations

import asyncio
import io
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from pydantic import SecretStr, ValidationError

from service.cli import settings_problems
from service.clock import ManualClock
from service.configuration import ConfigurationError
from service.observability.logging import configure_logging
from service.pushr.credentials import (
    CredentialsError,
    PasswordLogin,
    StaticToken,
    TokenFile,
    build_credentials,
    jwt_expiry,
    site_url,
)
from service.settings import Settings
from tests.unit.pushr.simplejwt_fake import PASSWORD, SITE, USER, TokenApi, jwt_shaped

ENV = "PUSHR_RELAY_"
MARGIN = 30.0


# --- settings ---------------------------------------------------------------------------------


def problem(**values: Any) -> str:
    with pytest.raises(ValidationError) as refused:
        Settings.model_validate(values)
    return settings_problems(refused.value)


def test_one_way_at_a_time() -> None:
    line = problem(pushr_jwt="a-static-token", pushr_jwt_file="/run/jwt")
    assert line == (
        f"set one of {ENV}PUSHR_JWT, {ENV}PUSHR_JWT_FILE or {ENV}PUSHR_USERNAME with "
        f"{ENV}PUSHR_PASSWORD, not several"
    )
    assert "a-static-token" not in line


@pytest.mark.parametrize("given", [{"pushr_username": "relay"}, {"pushr_password": "pw-only-1"}])
def test_user_and_password_go_together(given: dict[str, str]) -> None:
    line = problem(**given)
    assert line == f"{ENV}PUSHR_USERNAME and {ENV}PUSHR_PASSWORD go together"
    assert "pw-only-1" not in line


def test_endpoint_paths_are_paths() -> None:
    assert problem(pushr_jwt_refresh_path="https://elsewhere/refresh") == (
        f"{ENV}PUSHR_JWT_REFRESH_PATH must be a path starting with /, got "
        "'https://elsewhere/refresh'"
    )


def test_the_endpoints_sit_on_the_site_root() -> None:
    assert site_url("https://pushr.pywe.org/api/client", "/api/token/") == (
        "https://pushr.pywe.org/api/token/"
    )
    assert site_url("http://127.0.0.1:6700/api/client/", "/auth/jwt/create/") == (
        "http://127.0.0.1:6700/auth/jwt/create/"
    )


async def test_build_follows_the_settings(tmp_path: Path) -> None:
    clock = ManualClock()
    async with httpx.AsyncClient() as http:
        none = Settings()
        assert build_credentials(none, http, clock) is None
        static = build_credentials(Settings(pushr_jwt=SecretStr("tok-123456")), http, clock)
        assert isinstance(static, StaticToken)
        (tmp_path / "jwt").write_text("from-file-1\n")
        from_file = build_credentials(Settings(pushr_jwt_file=tmp_path / "jwt"), http, clock)
        assert isinstance(from_file, TokenFile)
        login = Settings(pushr_username=USER, pushr_password=SecretStr(PASSWORD))
        assert isinstance(build_credentials(login, http, clock), PasswordLogin)


# --- static token and token file ----------------------------------------------------------------


async def test_a_static_token_has_nothing_newer() -> None:
    static = StaticToken(SecretStr("static-token-1"))
    assert await static.token() == "static-token-1"
    assert await static.renew("static-token-1") == "static-token-1"


@pytest.mark.parametrize(("content", "expected"), [(None, "cannot read"), ("  \n", "is empty")])
def test_a_token_file_that_cannot_serve_fails_at_start_up(
    tmp_path: Path, content: str | None, expected: str
) -> None:
    path = tmp_path / "jwt"
    if content is not None:
        path.write_text(content)
    with pytest.raises(ConfigurationError, match=f"^{ENV}PUSHR_JWT_FILE") as refused:
        TokenFile(path)
    assert expected in str(refused.value)
    assert str(path) in str(refused.value)


async def test_a_token_file_is_read_again_when_it_changes(tmp_path: Path) -> None:
    path = tmp_path / "jwt"
    path.write_text("first-token\n")
    tokens = TokenFile(path)
    assert await tokens.token() == "first-token"
    path.write_text("second-token-longer\n")
    assert await tokens.token() == "second-token-longer"


async def test_a_rotated_kubernetes_secret_is_followed(tmp_path: Path) -> None:
    """A Secret volume: `jwt -> ..data/jwt`, `..data -> ..<timestamp>`, swapped atomically."""

    def generation(name: str, token: str) -> None:
        (tmp_path / name).mkdir()
        (tmp_path / name / "jwt").write_text(token)
        (tmp_path / "..data_tmp").symlink_to(name)
        os.replace(tmp_path / "..data_tmp", tmp_path / "..data")

    generation("..2024_01", "token-of-january")
    (tmp_path / "jwt").symlink_to("..data/jwt")
    tokens = TokenFile(tmp_path / "jwt")
    assert await tokens.token() == "token-of-january"
    generation("..2024_02", "token-of-february")  # same size, new inode
    assert await tokens.token() == "token-of-february"


async def test_a_file_gone_mid_rotation_leaves_the_last_token(tmp_path: Path) -> None:
    path = tmp_path / "jwt"
    path.write_text("kept-token")
    tokens = TokenFile(path)
    path.unlink()
    assert await tokens.token() == "kept-token"
    assert await tokens.renew("kept-token") == "kept-token"


async def test_renew_reads_the_file_even_when_it_looks_unchanged(tmp_path: Path) -> None:
    path = tmp_path / "jwt"
    path.write_text("token-aaaa")
    tokens = TokenFile(path)
    before = path.stat()
    with path.open("r+") as file:  # same inode, same size, then the old mtime back
        file.write("token-bbbb")
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert await tokens.token() == "token-aaaa"
    assert await tokens.renew("token-aaaa") == "token-bbbb"


# --- user and password ---------------------------------------------------------------------------


def test_expiry_is_read_from_the_payload_without_verifying() -> None:
    assert jwt_expiry(jwt_shaped({"exp": 1_700_000_300})) == 1_700_000_300
    assert jwt_expiry(jwt_shaped({"sub": "x"})) is None
    assert jwt_expiry(jwt_shaped({"exp": "soon"})) is None
    assert jwt_expiry("not-a-jwt") is None
    assert jwt_expiry("a.!!!.c") is None


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def api(clock: ManualClock) -> TokenApi:
    return TokenApi(clock)


@pytest.fixture
async def login(api: TokenApi, clock: ManualClock) -> AsyncIterator[PasswordLogin]:
    async with httpx.AsyncClient(transport=httpx.MockTransport(api)) as http:
        yield PasswordLogin(
            http,
            obtain_url=f"{SITE}/api/token/",
            refresh_url=f"{SITE}/api/token/refresh/",
            username=USER,
            password=SecretStr(PASSWORD),
            clock=clock,
            renew_margin=MARGIN,
        )


async def test_obtains_once_then_serves_the_token_until_the_margin(
    login: PasswordLogin, api: TokenApi, clock: ManualClock
) -> None:
    first = await login.token()
    assert api.calls == [("/api/token/", {"username": USER, "password": PASSWORD})]
    clock.advance(300 - MARGIN - 1)
    assert await login.token() == first
    assert api.paths() == ["/api/token/"]

    clock.advance(1)  # the margin before `exp`: refreshed, not obtained again
    second = await login.token()
    assert second != first
    assert api.paths() == ["/api/token/", "/api/token/refresh/"]
    assert jwt_expiry(second) == clock.now() + 300


async def test_past_two_expiries_and_beyond_the_refresh_tokens_day(
    login: PasswordLogin, api: TokenApi, clock: ManualClock
) -> None:
    seen = {await login.token()}
    for _ in range(2):
        clock.advance(301)
        seen.add(await login.token())
    assert len(seen) == 3
    assert api.paths() == ["/api/token/", "/api/token/refresh/", "/api/token/refresh/"]

    clock.advance(86_400)  # the refresh token is past its day by our clock: obtain again
    await login.token()
    assert api.paths()[-1] == "/api/token/"


async def test_a_refused_refresh_falls_back_to_obtaining(
    login: PasswordLogin, api: TokenApi, clock: ManualClock
) -> None:
    await login.token()
    api.revoked.add(login._refresh)  # Push.R logged the session out
    clock.advance(300)
    token = await login.token()
    assert api.paths() == ["/api/token/", "/api/token/refresh/", "/api/token/"]
    assert api.valid(token, "access")


async def test_a_rotated_refresh_token_is_kept(
    login: PasswordLogin, api: TokenApi, clock: ManualClock
) -> None:
    api.rotate_refresh = True
    await login.token()
    first_refresh = login._refresh
    clock.advance(300)
    await login.token()
    assert login._refresh != first_refresh
    assert api.calls[-1] == ("/api/token/refresh/", {"refresh": first_refresh})


async def test_a_short_lived_token_renews_at_half_its_life(
    login: PasswordLogin, api: TokenApi, clock: ManualClock
) -> None:
    api.access_ttl = 40  # shorter than twice the margin
    first = await login.token()
    clock.advance(19)
    assert await login.token() == first
    clock.advance(1)
    assert await login.token() != first


async def test_renew_after_a_refusal_and_once_for_readers_refused_together(
    login: PasswordLogin, api: TokenApi
) -> None:
    refused = await login.token()
    renewed = await login.renew(refused)
    assert renewed != refused
    assert api.paths() == ["/api/token/", "/api/token/refresh/"]
    # a second reader refused with the same old token gets the new one, no new request
    assert await login.renew(refused) == renewed
    assert len(api.calls) == 2


async def test_readers_at_once_share_one_obtain(login: PasswordLogin, api: TokenApi) -> None:
    tokens = await asyncio.gather(*(login.token() for _ in range(5)))
    assert len(set(tokens)) == 1
    assert api.paths() == ["/api/token/"]


async def test_tokens_without_exp_or_already_past_are_used_until_refused(
    login: PasswordLogin, api: TokenApi, clock: ManualClock
) -> None:
    api.with_exp = False
    first = await login.token()
    clock.advance(10 * 86_400)
    assert await login.token() == first
    api.with_exp, api.access_ttl = True, -5  # Push.R's clock behind ours: exp already past
    skewed = await login.renew(first)
    assert await login.token() == skewed  # not renewed at every call
    assert len(api.calls) == 2


async def test_a_refused_password_is_unauthorized_and_never_quoted(
    api: TokenApi, clock: ManualClock
) -> None:
    stream = io.StringIO()
    configure_logging("DEBUG", stream=stream, secrets=["correct-horse-battery"])
    try:
        async with httpx.AsyncClient(transport=httpx.MockTransport(api)) as http:
            wrong = PasswordLogin(
                http,
                obtain_url=f"{SITE}/api/token/",
                refresh_url=f"{SITE}/api/token/refresh/",
                username=USER,
                password=SecretStr("wrong-password-never-quoted"),
                clock=clock,
                renew_margin=MARGIN,
            )
            with pytest.raises(CredentialsError) as refused:
                await wrong.token()
    finally:
        configure_logging("INFO")
    assert refused.value.kind == "unauthorized"
    assert refused.value.detail == (
        "Push.R refused the obtain for user 'relay' "
        "(401: No active account found with the given credentials)"
    )
    assert "wrong-password" not in str(refused.value) + stream.getvalue()


@pytest.mark.parametrize(
    ("answer", "kind", "detail"),
    [
        (503, "error", "obtain endpoint answered HTTP 503 without a token"),
        (200, "error", "obtain endpoint answered HTTP 200 without a token"),
        (403, "unauthorized", "Push.R refused the obtain for user 'relay' (403: from the test)"),
    ],
)
async def test_token_endpoint_failures(
    login: PasswordLogin, api: TokenApi, answer: int, kind: str, detail: str
) -> None:
    api.answers = [answer]
    with pytest.raises(CredentialsError) as failed:
        await login.token()
    assert (failed.value.kind, failed.value.detail) == (kind, detail)
    assert await login.token()  # the next call tries again


async def test_an_unreachable_endpoint_is_an_error(clock: ManualClock) -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    async with httpx.AsyncClient(transport=httpx.MockTransport(refuse)) as http:
        login = PasswordLogin(
            http,
            obtain_url=f"{SITE}/api/token/",
            refresh_url=f"{SITE}/api/token/refresh/",
            username=USER,
            password=SecretStr(PASSWORD),
            clock=clock,
            renew_margin=MARGIN,
        )
        with pytest.raises(CredentialsError) as failed:
            await login.token()
    assert (failed.value.kind, failed.value.detail) == ("error", "obtain endpoint: ConnectError")


async def test_the_log_lines_carry_no_token(login: PasswordLogin, clock: ManualClock) -> None:
    stream = io.StringIO()
    configure_logging("DEBUG", stream=stream)
    try:
        token = await login.token()
        clock.advance(300)
        renewed = await login.token()
    finally:
        configure_logging("INFO")
    lines = [orjson.loads(line) for line in stream.getvalue().splitlines()]
    assert [(line["event"], line["step"]) for line in lines] == [
        ("pushr_jwt_renewed", "obtain"),
        ("pushr_jwt_renewed", "refresh"),
    ]
    assert lines[0]["renew_in"] == 300 - MARGIN
    text = stream.getvalue()
    assert token not in text
    assert renewed not in text
    assert login._refresh not in text
