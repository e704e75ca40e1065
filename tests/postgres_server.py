"""A throwaway PostgreSQL server for the tests: `initdb` into a temp directory, `pg_ctl start` on a
free loopback port, stopped and deleted at the end of the session.

The server programs are found on PATH, else in /usr/lib/postgresql/<version>/bin (Debian and
Ubuntu's place). Missing: the PostgreSQL tests are skipped with how to get them, unless
REQUIRE_POSTGRES=1 (CI sets it in .ci/run), where missing is a failure. As root (a container),
the server runs as the `postgres` user, since PostgreSQL refuses to run as root.
"""

from __future__ import annotations

import glob
import os
import secrets
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

HOW_TO = (
    "PostgreSQL server programs (initdb, pg_ctl) not found: install PostgreSQL "
    "(e.g. `apt-get install postgresql`) or put its bin directory on PATH, then run the tests again"
)


def find_bin_dir() -> Path | None:
    found = shutil.which("initdb")
    if found:
        return Path(found).resolve().parent  # /usr/local/bin/initdb may be a link to the real bin dir
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parts[-3]))
    return Path(candidates[-1]).parent if candidates else None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class PostgresServer:
    bin_dir: Path
    port: int
    run_as: list[str]  # `runuser -u postgres --` as root, else nothing

    def dsn(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def run(self, program: str, *args: str) -> None:
        subprocess.run([*self.run_as, str(self.bin_dir / program), *args], check=True, capture_output=True, timeout=120)

    def new_database(self) -> str:
        """A fresh, empty database; its URL."""
        name = f"t_{secrets.token_hex(6)}"
        self.run("createdb", "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", name)
        return self.dsn(name)


def start_server(base: Path, *, durable: bool = False) -> Iterator[PostgresServer]:
    """`durable`: flush the WAL as a production server would (benchmarks); tests skip fsync."""
    bin_dir = find_bin_dir()
    if bin_dir is None:
        if os.environ.get("REQUIRE_POSTGRES") == "1":
            pytest.fail(HOW_TO + " (REQUIRE_POSTGRES=1: CI must run them)")
        pytest.skip(HOW_TO)
    run_as: list[str] = []
    if os.geteuid() == 0:
        run_as = ["runuser", "-u", "postgres", "--"]
        shutil.chown(base, "postgres")
    data = base / "data"
    server = PostgresServer(bin_dir, free_port(), run_as)
    server.run("initdb", "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync")
    # Benchmarks: fsync on, but a commit does not wait for its own flush (synchronous_commit=off,
    # flushed within a fraction of a second), the nearest match to the bot's SQLite (WAL with
    # synchronous=NORMAL, which does not flush per commit either).
    durability = "-c synchronous_commit=off" if durable else "-c fsync=off"
    options = f"-p {server.port} -k {base} -c listen_addresses=127.0.0.1 {durability} -c max_connections=200"
    server.run("pg_ctl", "-D", str(data), "-o", options, "-l", str(base / "log"), "-w", "start")
    try:
        yield server
    finally:
        server.run("pg_ctl", "-D", str(data), "-m", "immediate", "-w", "stop")


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    base = Path(tempfile.mkdtemp(prefix="pgtest-"))
    os.chmod(base, 0o755)
    try:
        yield from start_server(base)
    finally:
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Where a store lives, once per database kind: a SQLite file, or a fresh PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'bot.sqlite3'}"
    server: PostgresServer = request.getfixturevalue("postgres_server")
    return server.new_database()
