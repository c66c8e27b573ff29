"""No secret is ever shown: over eight URL shapes (URL and key=value, password and sslpassword,
percent-encoded and quoted), neither the password nor the sslpassword appears in ``repr`` or
``str`` of a Config or Database, in errors, in log lines or in CLI output — whether the server
answers or not. A password on the command line draws a warning; ``--url-file`` avoids it."""

from __future__ import annotations

import logging
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from aura_db import Config, Database
from aura_db import errors as E
from aura_db.cli import main
from aura_db.errors import AuraError
from tests.fix_db import APP, PgServer

SECRET = "s3cr3t-Pw@x"  # an '@' and a '-', so the URL forms must percent-encode it
ENCODED = quote(SECRET, safe="")


def _shapes(host: str, port: str, db: str, user: str) -> list[str]:
    q = f"host={quote(host, safe='/')}&port={port}"
    kv = f"host={host} port={port} dbname={db} user={user}"
    return [
        f"postgresql://{user}:{ENCODED}@/{db}?{q}",
        f"postgres://{user}:{ENCODED}@/{db}?{q}&connect_timeout=2",
        f"postgresql+psycopg://{user}:{ENCODED}@/{db}?{q}",
        f"postgresql:///{db}?{q}&user={user}&password={ENCODED}",
        f"postgresql:///{db}?{q}&user={user}&sslpassword={ENCODED}&application_name=x",
        f"{kv} password={SECRET}",
        f"{kv} password='{SECRET} with a space'",
        f"{kv} sslpassword={SECRET} password=other-{SECRET}",
    ]


def _leaks(text: str) -> list[str]:
    return [s for s in (SECRET, ENCODED, quote(SECRET)) if s in text]


CLOSED = _shapes("127.0.0.1", "1", "aura", "alice")


@pytest.mark.parametrize("url", CLOSED, ids=[f"shape{i}" for i in range(len(CLOSED))])
def test_no_secret_when_the_server_does_not_answer(url: str, caplog: pytest.LogCaptureFixture,
                                                   capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    caplog.set_level(logging.DEBUG)
    config = Config(url=url, connect_timeout=1)
    shown = [repr(config), str(config), config.masked_url(), config.redact(f"echo {url}")]
    with pytest.raises(AuraError) as caught:
        Database(config)
    shown += [str(caught.value), repr(caught.value)]
    monkeypatch.setenv("AURA_CONNECT_TIMEOUT", "1")
    assert main(["--url", url, "health"]) == 1
    out = capsys.readouterr()
    assert "process list" in out.err  # the warning
    shown += [out.out, out.err, caplog.text]
    assert not [text for text in shown if _leaks(text)], [t for t in shown if _leaks(t)]


@pytest.fixture
def answering(db_url: str, pg_server: PgServer) -> list[str]:
    """The eight shapes pointing at a real test database (the embedded server trusts its
    socket, so the password is carried but not checked)."""
    try:  # the embedded server (and the URL mode's) trusts its socket: any password answers
        psycopg.connect(make_conninfo(db_url, password="not-the-password"), connect_timeout=5).close()
    except psycopg.OperationalError:
        pytest.skip("needs a server that does not check the password (the embedded one)")
    params = conninfo_to_dict(db_url)
    return _shapes(str(params["host"]), str(params.get("port") or "5432"), str(params["dbname"]),
                   str(params.get("user") or "postgres"))


def test_no_secret_when_the_server_answers(answering: list[str], caplog: pytest.LogCaptureFixture,
                                           capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    caplog.set_level(logging.DEBUG)
    monkeypatch.delenv("AURA_DATABASE_URL", raising=False)
    for i, url in enumerate(answering):
        with Database(Config(url=url, min_size=1, max_size=1)) as db:
            shown = [repr(db), str(db), repr(db.config), "\n".join(db.health().lines())]
        url_file = tmp_path / f"url{i}"
        url_file.write_text(url + "\n")
        url_file.chmod(0o600)
        for argv in (["--url", url, "health"], ["--url-file", str(url_file), "health"],
                     ["--url-file", str(url_file), "migrate", "--status"],
                     ["--url-file", str(url_file), "check"]):
            assert main(argv) == 0, argv
            out = capsys.readouterr()
            assert ("process list" in out.err) == (argv[0] == "--url"), (argv, out.err)
            shown += [out.out, out.err]
        monkeypatch.setenv("AURA_DATABASE_URL", url)
        assert main(["health"]) == 0
        out = capsys.readouterr()
        assert "process list" not in out.err
        shown += [out.out, out.err, caplog.text]
        monkeypatch.delenv("AURA_DATABASE_URL")
        leaked = [text for text in shown if _leaks(text)]
        assert not leaked, (i, leaked)


def test_url_file_errors_are_clear(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    empty = tmp_path / "empty"
    empty.write_text("\n")
    assert main(["--url-file", str(empty), "health"]) == 1
    assert "is empty" in capsys.readouterr().err
    assert main(["--url-file", str(tmp_path / "missing"), "health"]) == 1
    assert "No such file" in capsys.readouterr().err


def test_masking_leaves_other_parameters_alone() -> None:
    from aura_db.config import mask_dsn

    assert mask_dsn("postgresql://u@h/d?sslpassword=x&sslmode=require") == \
        "postgresql://u@h/d?sslpassword=***&sslmode=require"
    assert mask_dsn("host=h sslpassword=x sslmode=require") == "host=h sslpassword=*** sslmode=require"




# -- ~/.pgpass / PGPASSFILE -------------------------------------------------------------------


@pytest.fixture
def password_role(pg_server: PgServer, db_url: str) -> Iterator[tuple[str, str]]:
    """A role the server authenticates by SCRAM password (a pg_hba.conf line for this role only,
    first, when the server's pg_hba.conf is a file here, as the embedded server's and the URL
    mode's are; a remote server must demand passwords itself); yields (role, password)."""
    role, password = f"aura_pgpass_{uuid.uuid4().hex[:8]}", f"pw-{uuid.uuid4().hex}"
    hba: Path | None = None
    with psycopg.connect(pg_server.admin_url, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE ROLE {} LOGIN PASSWORD {} IN ROLE {}").format(
            sql.Identifier(role), sql.Literal(password), sql.Identifier(APP)))  # an application login
        row = admin.execute("SHOW hba_file").fetchone()
        assert row is not None
        if os.access(row[0], os.W_OK) and pg_server.kind != "docker":
            hba = Path(row[0])
            original = hba.read_text()
            hba.write_text(f"local all {role} scram-sha-256\n" + original)
            admin.execute("SELECT pg_reload_conf()")
    try:
        yield role, password
    finally:
        with psycopg.connect(pg_server.admin_url, autocommit=True) as admin:
            if hba is not None:
                hba.write_text(original)
                admin.execute("SELECT pg_reload_conf()")
            admin.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(role)))


def test_pgpass_supplies_the_password(password_role: tuple[str, str], db_url: str, tmp_path: Path,
                                      monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    role, password = password_role
    params = {k: v for k, v in conninfo_to_dict(db_url).items() if k != "password"}
    url = make_conninfo("", **{**params, "user": role})
    assert "password" not in url
    empty = tmp_path / "empty.pgpass"
    empty.write_text("")
    empty.chmod(0o600)
    monkeypatch.setenv("PGPASSFILE", str(empty))
    with pytest.raises(E.ServerUnavailable, match="password") as caught:
        Database(Config(url=url, connect_timeout=2, min_size=1, max_size=1))
    assert password not in str(caught.value)  # the server asked for one; none was found
    pgpass = tmp_path / "pgpass"
    pgpass.write_text(f"*:*:*:{role}:{password}\n")
    pgpass.chmod(0o600)
    monkeypatch.setenv("PGPASSFILE", str(pgpass))
    with Database(Config(url=url, min_size=1, max_size=1)) as db, db.connection() as conn:
        assert conn.execute("SELECT current_user").fetchone() == (role,)
    assert main(["--url", url, "health"]) == 0
    out, err = capsys.readouterr()
    assert "postgresql:" in out and "warning" not in err and password not in out + err


def test_the_migration_url_is_masked_too() -> None:
    config = Config(url="postgresql://app:app-pw@h/d",
                    migration_url="host=h dbname=d user=owner password=owner-pw sslpassword=key-pw")
    for text in (repr(config), str(config), config.redact("failed: owner-pw / key-pw / app-pw")):
        assert "owner-pw" not in text and "key-pw" not in text and "app-pw" not in text, text
    assert not Config(migration_url="postgresql://o:pw@h/d").password_given  # --url warns for url only
