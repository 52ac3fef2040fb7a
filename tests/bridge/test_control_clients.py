"""``mpsim serve`` survives whatever its control clients do, and ``mpsim control`` runs
every request it is given. Real server processes, real unix sockets.
"""

from __future__ import annotations

import socket
import time

import pytest

from sim.bridge.control import MAX_CLIENTS
from tests.bridge.test_serve import errors, run_cli, serve  # noqa: F401  (fixture)

TCP_ECHO = b"\x03\r print(6 * 7)\r"


def _ask(s: socket.socket, request: bytes, answers: int = 1, timeout_s: float = 30.0) -> list[str]:
    s.settimeout(timeout_s)
    s.sendall(request)
    buf = b""
    while buf.count(b"\n") < answers:
        chunk = s.recv(4096)
        if not chunk:
            break
        buf += chunk
    return buf.decode().splitlines()


def _tcp_board_answers(endpoint: str) -> bool:
    """The board still runs: its console answers a line of Python over TCP."""
    host, port = endpoint.removeprefix("tcp:").rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=30) as c:
        c.sendall(b"\r\nprint(6 * 7)\r\n")
        buf = b""
        while b"42" not in buf:
            chunk = c.recv(4096)
            if not chunk:
                return False
            buf += chunk
    return True


def test_a_thousand_control_connections_do_not_stop_the_board(serve):
    """~1,027 connections once pushed a descriptor past select()'s limit of 1024 and
    serve died with the board. Now: connections beyond MAX_CLIENTS get one line and
    are closed; the board runs on; control answers again once they are gone."""
    s = serve("--tcp", "0")
    conns = []
    try:
        for _ in range(1100):
            c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            c.connect(s.control_path)
            conns.append(c)
        refused = 0
        for c in conns[MAX_CLIENTS:MAX_CLIENTS + 50]:
            c.settimeout(30)
            line = c.recv(4096).decode()
            assert line.startswith("error too many control connections"), line
            refused += 1
        assert refused == 50
        assert _ask(conns[0], b"status\n")[0].startswith("ok state="), "an accepted client is served"
    finally:
        for c in conns:
            c.close()
    assert s.proc.poll() is None, s.stderr()
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as c:
        c.connect(s.control_path)
        assert _ask(c, b"status\n")[0].startswith("ok state=")
    assert _tcp_board_answers(s.endpoint)


def test_every_request_line_gets_one_answer(serve):
    s = serve("--tcp", "0")
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as c:
        c.connect(s.control_path)
        answers = _ask(c, b"status\n\n   \nfrobnicate\nhelp\n", answers=5)
    assert len(answers) == 5, answers
    assert answers[0].startswith("ok state=")
    assert answers[1].startswith("error empty request") and answers[2].startswith("error empty request")
    assert answers[3].startswith("error unknown command 'frobnicate'")
    assert answers[4].startswith("ok commands:")


def test_an_endless_line_is_answered_and_closed(serve):
    s = serve("--tcp", "0")
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as c:
        c.connect(s.control_path)
        answers = _ask(c, b"x" * 5000)
        assert answers and answers[0].startswith("error request longer than"), answers
        try:
            rest = c.recv(10)
        except ConnectionResetError:      # closed with the rest of the line unread
            rest = b""
        assert rest == b"", "the connection is closed after the answer"
    assert _tcp_board_answers(s.endpoint)


def test_control_takes_serves_line_runs_every_request(serve):
    s = serve("--tcp", "0")
    r = run_cli("control", "--socket", f"control:{s.control_path}", "status", "help", "status")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.decode().splitlines()
    assert [line.split()[0] for line in lines] == ["ok", "ok", "ok"] and lines[1].startswith("ok commands:"), lines


def test_control_unknown_request_is_usage_error_and_nothing_is_sent(serve):
    s = serve("--tcp", "0")
    r = run_cli("control", "--socket", s.control_path, "status", "frobnicate", "quit")
    assert r.returncode == 2 and r.stdout == b""
    err = errors(r)
    assert len(err) == 1 and err[0].startswith("mpsim: unknown request 'frobnicate'"), err
    assert s.proc.poll() is None, "'quit' was sent although the request list was refused"


@pytest.mark.parametrize("kind", ["file", "directory"])
def test_control_path_that_is_not_a_socket_is_refused_untouched(tmp_path, kind):
    path = tmp_path / "precious"
    if kind == "file":
        path.write_text("keep me")
    else:
        path.mkdir()
    r = run_cli("serve", "--tcp", "0", "--control", str(path), "--flash", str(tmp_path / "f.bin"))
    assert r.returncode == 2
    err = errors(r)
    assert len(err) == 1 and "is not a socket" in err[0], err
    assert path.read_text() == "keep me" if kind == "file" else path.is_dir()


def test_hibernate_while_a_program_runs_succeeds_after_ctrl_c(serve):
    """The client's Ctrl-C is heard while a hibernate request waits for the prompt."""
    s = serve("--tcp", "0")
    host, port = s.endpoint.removeprefix("tcp:").rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=30) as tty, \
            socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as ctl:
        tty.sendall(b"\r\nkept = 5\r\nwhile True: pass\r\n\r\n")
        buf = b""
        while buf.count(b">>> ") < 2:                 # 'kept = 5' done; the loop was entered
            buf += tty.recv(4096)
        ctl.connect(s.control_path)
        ctl.sendall(b"hibernate\n")
        time.sleep(1)             # the request is being carried out: only then the Ctrl-C
        tty.sendall(b"\x03")
        answer = _ask(ctl, b"")[0]
        assert answer.startswith("ok hibernated image #1"), answer
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as ctl:
        ctl.connect(s.control_path)
        assert _ask(ctl, b"power-cycle\n")[0].startswith("ok hibernated image #2")
