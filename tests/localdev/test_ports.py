"""Local ports cannot clash with the kernel's client ports, and a taken port says which setting
moves it."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from localdev.servers import moto_server, ports, postgres
from localdev.servers.ports import EPHEMERAL_START, PortTaken


@pytest.fixture
def taken() -> Iterator[int]:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(1)
        yield sock.getsockname()[1]


def test_default_ports_are_below_the_ephemeral_range(monkeypatch):
    for setting in ("LOCAL_PG_PORT", "MOTO_PORT", "API_PORT"):
        monkeypatch.delenv(setting, raising=False)
    assert postgres.port() < EPHEMERAL_START and moto_server.port() < EPHEMERAL_START
    assert (postgres.port(), moto_server.port()) == (15432, 15055)


def test_a_taken_port_names_its_setting(taken):
    with pytest.raises(PortTaken, match=rf"127\.0\.0\.1:{taken} is already used .* Set MOTO_PORT to a free port"):
        ports.ensure_free("moto", taken, "MOTO_PORT")


def test_the_suggested_port_is_free_and_below_the_ephemeral_range():
    suggestion = ports.free_port()
    assert suggestion < EPHEMERAL_START and not ports.in_use(suggestion)


def test_moto_refuses_a_port_another_program_holds(taken, monkeypatch):
    monkeypatch.setenv("MOTO_PORT", str(taken))
    with pytest.raises(PortTaken, match="MOTO_PORT"):
        moto_server.start()


def test_postgres_refuses_a_port_another_program_holds(taken, monkeypatch):
    monkeypatch.setenv("LOCAL_PG_PORT", str(taken))
    with pytest.raises(PortTaken, match="LOCAL_PG_PORT"):
        postgres.start()


def test_api_refuses_a_port_another_program_holds(taken, monkeypatch):
    from localdev.servers import api

    monkeypatch.setenv("API_PORT", str(taken))
    monkeypatch.setattr(api.db, "connect", lambda *a, **k: pytest.fail("connected before checking the port"))
    with pytest.raises(PortTaken, match="API_PORT"):
        api.main()


def test_local_database_url_is_recognised(monkeypatch):
    monkeypatch.setenv("LOCAL_PG_PORT", "15432")
    assert postgres.is_local("postgresql://postgres@127.0.0.1:15432/julo_bench5")
    assert postgres.dbname_of("postgresql://postgres@127.0.0.1:15432/julo_bench5") == "julo_bench5"
    assert not postgres.is_local("postgresql://postgres@db.example.com:15432/julo")
    assert not postgres.is_local("postgresql://postgres@127.0.0.1:55433/julo")
