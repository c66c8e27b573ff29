"""The CLI surface: every option's environment variable, -q, the README's reference, wait,
--wait, plan --json. The README's reference is generated from the parser; it must match."""

from __future__ import annotations

import json
import logging
import threading
import time
from pathlib import Path

import pytest
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from aura_db.cli import build_parser, main
from aura_db.cli.env import ENV, NO_ENV, _options, _subparsers, reference

ROOT = Path(__file__).resolve().parent.parent


def test_the_readme_reference_is_the_parser_s() -> None:
    readme = (ROOT / "README.md").read_text()
    block = readme.split("<!-- cli-reference:start -->\n", 1)[1].split("<!-- cli-reference:end -->", 1)[0]
    assert block == reference(build_parser()), "regenerate it with aura_db.cli.cli_reference()"


def test_every_option_has_a_variable_or_is_a_one_run_choice() -> None:
    parser = build_parser()
    missing = [f"{name} {a.option_strings[0]}" for name, p in [("", parser), *_subparsers(parser).items()]
               for a in _options(p) if a.dest not in ENV and a.dest not in NO_ENV]
    assert missing == []
    for p in _subparsers(parser).values():
        for a in _options(p):
            if a.dest in ENV:
                assert f"[env {ENV[a.dest]}]" in (a.help or ""), a.option_strings


def test_variables_give_defaults_and_the_command_line_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AURA_BACKUP_KEEP", "3")
    monkeypatch.setenv("AURA_JSON", "yes")
    monkeypatch.setenv("AURA_WAIT", "12.5")
    monkeypatch.setenv("AURA_MODULE", "developer")
    monkeypatch.setenv("AURA_QUIET", "1")
    parser = build_parser()
    args = parser.parse_args(["backup"])
    assert args.keep == 3 and args.quiet is True
    assert parser.parse_args(["backup", "--keep", "9"]).keep == 9
    status = parser.parse_args(["status"])
    assert (status.json, status.wait, status.module) == (True, 12.5, "developer")
    assert parser.parse_args(["status", "--wait"]).wait == 60.0
    assert parser.parse_args(["status", "--module", "foundation"]).module == "foundation"
    # a one-run choice never comes from the environment
    monkeypatch.setenv("AURA_FORCE", "1")
    monkeypatch.setenv("AURA_TO", "0001_workspaces")
    rollback = build_parser().parse_args(["rollback"])
    assert (rollback.force, rollback.to, rollback.steps) == (False, None, None)


@pytest.mark.parametrize(("var", "value", "expected"), [
    ("AURA_JSON", "maybe", "AURA_JSON='maybe': use 1/true/yes/on or 0/false/no/off"),
    ("AURA_MODULE", "billing", "AURA_MODULE='billing': choose from foundation, developer"),
])
def test_a_variable_an_option_cannot_take_is_a_usage_error(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], var: str, value: str, expected: str,
) -> None:
    monkeypatch.setenv(var, value)
    assert main(["status"]) == 2
    assert capsys.readouterr().err.strip() == f"aura-db: error: {expected}"


def test_a_bad_number_in_a_variable_is_a_usage_error(monkeypatch: pytest.MonkeyPatch,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("AURA_BACKUP_KEEP", "many")
    assert main(["backup"]) == 2
    assert "--keep: invalid int value: 'many'" in capsys.readouterr().err


def test_quiet_prints_only_the_data(db_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    level = logging.getLogger("aura_db").level
    assert main(["-q", "--url", db_url, "migrate"]) == 0
    assert logging.getLogger("aura_db").level == level  # -q is for that command only
    assert main(["migrate", "--url", db_url, "-q"]) == 0  # after the command too
    assert capsys.readouterr().out == ""
    assert main(["status", "-q", "--url", db_url, "--json"]) == 0
    status = json.loads(capsys.readouterr().out)
    assert status["pending"] == 0 and status["applied"] > 10
    assert main(["-v", "-q", "status"]) == 2


def test_plan_json_lists_the_operations(empty_db_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["plan", "--url", empty_db_url, "--to", "0002_conversations", "--json"]) == 0
    found = json.loads(capsys.readouterr().out)
    assert found["action"] == "migrate --to 0002_conversations"
    assert [(o["id"], o["module"], o["direction"]) for o in found["operations"]] == [
        ("0001_workspaces", "foundation", "apply"), ("0002_conversations", "foundation", "apply")]
    assert any("CREATE TABLE" in s and "conversations" in s for s in found["operations"][1]["statements"])
    assert found["script"].startswith("-- aura-db plan: migrate --to 0002_conversations")
    assert main(["migrate", "--url", empty_db_url]) == 0
    capsys.readouterr()
    assert main(["plan", "--url", empty_db_url, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["operations"] == []


def _socket_of(url: str) -> tuple[Path, int]:
    params = conninfo_to_dict(url)
    return Path(str(params["host"])), int(params.get("port") or 5432)


def test_wait_retries_until_the_server_accepts(db_url: str, tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    """The server 'starts' 1.5 s after the command: its socket appears in the directory the
    URL names (a symlink to the real one). Without --wait the command fails at once."""
    host, port = _socket_of(db_url)
    url = make_conninfo(db_url, host=str(tmp_path))
    assert main(["status", "--url", url]) == 1
    assert "No such file or directory" in capsys.readouterr().err
    appear = threading.Timer(1.5, lambda: (tmp_path / f".s.PGSQL.{port}").symlink_to(host / f".s.PGSQL.{port}"))
    appear.start()
    try:
        start = time.monotonic()
        assert main(["status", "--url", url, "--wait", "20"]) == 0
        took = time.monotonic() - start
    finally:
        appear.cancel()
    assert 1.4 < took < 15
    captured = capsys.readouterr()
    assert "waiting up to 20s for PostgreSQL at" in captured.err
    assert "the server answered after" in captured.err
    assert "applied, 0 pending" in captured.out


def test_wait_gives_up_in_time_with_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url = f"host={tmp_path} dbname=aura user=aura"
    start = time.monotonic()
    assert main(["wait", "--url", url, "--timeout", "1.5"]) == 1
    assert time.monotonic() - start < 5
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("aura-db: error: could not connect to PostgreSQL at ") and "within 1.5s" in err[-1]
    assert len([line for line in err if "error" in line]) == 1


def test_wait_does_not_wait_for_a_final_refusal(db_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    url = make_conninfo(db_url, dbname="no_such_database_here")
    start = time.monotonic()
    assert main(["wait", "--url", url, "--timeout", "30"]) == 1
    assert time.monotonic() - start < 5
    assert 'database "no_such_database_here" does not exist' in capsys.readouterr().err


def test_wait_succeeds_at_once_on_a_running_server(db_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["wait", "--url", db_url]) == 0
    assert capsys.readouterr().out.strip().endswith("accepts connections")


def test_check_takes_the_common_options_after_the_command(db_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", "--url", db_url, "-q"]) == 0
    assert main(["check", "--url", db_url]) == 0
    assert "named queries checked, 0 problem(s)" in capsys.readouterr().out
