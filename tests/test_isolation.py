"""The suite stands alone: no test opens a connection off loopback (conftest's audit
hook), and what it starts gets a dead loopback proxy for the internet."""
import os
import socket
import subprocess
import sys

import pytest

pytestmark = pytest.mark.fast


def test_a_connection_off_loopback_is_refused_before_any_packet():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        with pytest.raises(ConnectionRefusedError, match="off loopback"):
            s.connect(("192.0.2.1", 443))  # TEST-NET-1: nothing should ever answer


def test_loopback_stays_open():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        with socket.create_connection(server.getsockname(), timeout=5):
            pass


def test_subprocesses_reach_the_internet_only_through_a_dead_loopback_proxy():
    code = "import urllib.request; urllib.request.urlopen('http://example.com', timeout=5)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60, env=os.environ)
    assert done.returncode != 0
    assert "Connection refused" in done.stderr or "URLError" in done.stderr
