"""``lstmgen serve`` where it cannot listen: one line and exit code 1, before the model loads
or the server says it is serving. Runs without the serve extra (its check is stubbed)."""

import socket

import pytest

import lstmgen.serve
from lstmgen.errors import AddressError
from lstmgen.serve import listen_socket
from tests.helpers import assert_user_error, run


@pytest.fixture
def busy_port():
    """A loopback port another socket listens on."""
    with socket.socket() as other:
        other.bind(("127.0.0.1", 0))
        other.listen()
        yield other.getsockname()[1]


def test_a_port_in_use_is_one_line_and_exit_code_1(busy_port, tmp_path, monkeypatch):
    monkeypatch.setattr(lstmgen.serve, "missing", lambda: [])
    result = run("serve", tmp_path / "no-such-run", "--port", busy_port)
    assert_user_error(result, 1, f"port {busy_port} on 127.0.0.1 is in use: choose another with --port")
    assert result.output.strip().splitlines() == [
        f"Error: port {busy_port} on 127.0.0.1 is in use: choose another with --port"]  # no "serving ..."


def test_listen_socket_binds_a_free_port_and_refuses_a_busy_one(busy_port):
    with pytest.raises(AddressError, match=f"port {busy_port} on 127.0.0.1 is in use"):
        listen_socket("127.0.0.1", busy_port)
    sock = listen_socket("127.0.0.1", 0)  # 0: the system chooses
    try:
        assert sock.getsockname()[1] > 0
        with pytest.raises(AddressError, match="is in use"):
            listen_socket("127.0.0.1", sock.getsockname()[1])  # held until serve hands it to uvicorn
    finally:
        sock.close()
