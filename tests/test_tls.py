"""TLS on the master and the framework: the framework subscribes to an https master it
was told to trust, clients reach the framework over https, and bad files are named."""

from __future__ import annotations

import aiohttp
import pytest

from api.framework_server import start_framework
from api.master_app import start_master
from api.tls import TlsError, client_context, server_context
from tests.master_fixtures import wait_for
from tests.tls_files import self_signed


async def test_the_framework_subscribes_to_an_https_master_and_serves_https(tmp_path):
    cert, key = self_signed(tmp_path)
    db = f"sqlite:///{tmp_path / 'berth.db'}"
    master = await start_master("127.0.0.1", 0, db_url=db, tls=server_context(cert, key),
                                tick_seconds=0.05)
    framework = await start_framework(master.url, "127.0.0.1", 0, db_url=db,
                                      master_ssl=client_context(cert),
                                      tls=server_context(cert, key))
    try:
        assert master.url.startswith("https://") and framework.url.startswith("https://")
        await wait_for(lambda: any(f.active for f in master.service.core.frameworks.values()),
                       what="the framework subscribed over https")
        trusting = aiohttp.TCPConnector(ssl=client_context(cert))
        async with aiohttp.ClientSession(connector=trusting) as s, \
                s.get(f"{framework.url}/client/task") as r:
            assert r.status == 200
        async with aiohttp.ClientSession() as s:  # the system's CAs do not know this one
            with pytest.raises(aiohttp.ClientConnectorCertificateError):
                await s.get(f"{framework.url}/client/task")
    finally:
        await framework.stop()
        await master.stop()


def test_files_that_are_not_a_certificate_and_key_are_named(tmp_path):
    cert, key = self_signed(tmp_path)
    with pytest.raises(TlsError, match="no such file"):
        server_context(tmp_path / "missing.pem", key)
    with pytest.raises(TlsError, match="are not a certificate and its private key"):
        server_context(key, cert)
    (tmp_path / "junk.pem").write_text("not a certificate")
    with pytest.raises(TlsError, match="--master-ca"):
        client_context(tmp_path / "junk.pem")
