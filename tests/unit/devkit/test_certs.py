"""The local CA's certificates pass (and fail) a real TLS handshake on loopback."""

from __future__ import annotations

import asyncio
import datetime as dt
import ssl
from pathlib import Path

import pytest

from service.devkit.certs import Authority


async def handshake(server: ssl.SSLContext, client: ssl.SSLContext) -> bytes:
    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"ok")
        await writer.drain()
        writer.close()

    srv = await asyncio.start_server(answer, "127.0.0.1", 0, ssl=server)
    port = srv.sockets[0].getsockname()[1]
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=client)
        data = await reader.read(2)
        writer.close()
        return data
    finally:
        srv.close()


def server_context(tmp_path: Path, ca: Authority, **issue: object) -> ssl.SSLContext:
    cert, key = ca.issue("server", **issue).write(tmp_path, "server")  # type: ignore[arg-type]
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(cert, key)
    return ctx


async def test_a_server_certificate_is_trusted_through_the_ca(tmp_path: Path) -> None:
    ca = Authority()
    client = ssl.create_default_context(cafile=ca.write_ca(tmp_path / "ca.crt"))
    assert await handshake(server_context(tmp_path, ca), client) == b"ok"


async def test_an_expired_certificate_and_another_ca_are_refused(tmp_path: Path) -> None:
    ca, other = Authority(), Authority("another CA")
    past = dt.datetime.now(dt.UTC) - dt.timedelta(days=2)
    expired = server_context(tmp_path, ca, valid_from=past, valid_until=past)
    trusting_ca = ssl.create_default_context(cafile=ca.write_ca(tmp_path / "ca.crt"))
    with pytest.raises(ssl.SSLCertVerificationError, match="expired"):
        await handshake(expired, trusting_ca)
    trusting_other = ssl.create_default_context(cafile=other.write_ca(tmp_path / "other.crt"))
    with pytest.raises(ssl.SSLCertVerificationError):
        await handshake(server_context(tmp_path, ca), trusting_other)


def test_a_key_password_encrypts_the_key(tmp_path: Path) -> None:
    issued = Authority().issue("client", client=True, key_password=b"s3cret-pass")
    assert b"ENCRYPTED" in issued.key_pem
    cert, key = issued.write(tmp_path, "client")
    assert key.stat().st_mode & 0o077 == 0
    ctx = ssl.create_default_context()
    ctx.load_cert_chain(cert, key, password="s3cret-pass")
    with pytest.raises(ssl.SSLError):
        ctx.load_cert_chain(cert, key, password="wrong")
