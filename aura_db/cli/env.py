"""An environment variable for every option of ``aura-db``, and the CLI reference built from it.

Each option named in :data:`ENV` takes its default from that variable (a value on the command
line wins); the variable shows in ``--help`` and in the README's reference, which
:func:`reference` writes from the parser itself so the two cannot drift apart. A few options
name what ONE run does or confirm a destructive one (``--to``, ``--steps``, ``--force``,
``--yes``, ``--cascade``, ``--no-backup``...): they have no variable on purpose, so that an
exported variable can never turn a later command into a rollback or a forced restore.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Mapping

from ..errors import ConfigError

__all__ = ["ENV", "EXIT_CODES", "NO_ENV", "READ_ELSEWHERE", "apply_env", "reference"]

# option dest -> variable
ENV: dict[str, str] = {
    "url": "AURA_DATABASE_URL",
    "url_file": "AURA_DATABASE_URL_FILE",
    "migrations_dir": "AURA_MIGRATIONS_DIR",
    "verbose": "AURA_VERBOSE",
    "quiet": "AURA_QUIET",
    "wait": "AURA_WAIT",
    "timeout": "AURA_WAIT_TIMEOUT",
    "json": "AURA_JSON",
    "module": "AURA_MODULE",
    "allow_drift": "AURA_ALLOW_DRIFT",
    "status": "AURA_SHOW_STATUS",
    "exit_code": "AURA_EXIT_CODE",
    "lock_wait": "AURA_MIGRATION_LOCK_WAIT",
    "lock_timeout": "AURA_MIGRATION_LOCK_TIMEOUT",
    "statement_timeout": "AURA_MIGRATION_STATEMENT_TIMEOUT",
    "retries": "AURA_MIGRATION_RETRIES",
    "limit": "AURA_HISTORY_LIMIT",
    "dir": "AURA_BACKUP_DIR",
    "pg_bin": "AURA_PG_BIN",
    "verify": "AURA_BACKUP_VERIFY",
    "keep": "AURA_BACKUP_KEEP",
    "check": "AURA_SCHEMA_CHECK",
    "output": "AURA_SCHEMA_OUTPUT",
    "no_squawk": "AURA_NO_SQUAWK",
    "app": "AURA_APP_ROLE",
    "readonly": "AURA_READONLY_ROLE",
    "app_password_file": "AURA_APP_PASSWORD_FILE",
    "readonly_password_file": "AURA_READONLY_PASSWORD_FILE",
    "workspace": "AURA_CALIBRATE_WORKSPACE",
    "recall_target": "AURA_RECALL_TARGET",
    "progress": "AURA_PROGRESS",
    "by": "AURA_BASELINE_BY",
}
# read by Config / MigrationSettings themselves (the library honours them too): not defaults here
READ_ELSEWHERE = {"url", "lock_wait", "lock_timeout", "statement_timeout", "retries"}
# one run's target or a confirmation: never from the environment
NO_ENV = {"to", "steps", "rollback", "force", "yes", "cascade", "no_backup", "accept_renames",
          "dry_run", "show", "help", "version", "ids", "allow_missing", "force_seed", "seed"}

EXIT_CODES = {
    0: "success",
    1: "error (one line on stderr: what failed, on which server, and the fix)",
    2: "bad usage (unknown command or option, invalid value)",
    3: "`status --exit-code`: migrations are pending",
}

_TRUE, _FALSE = {"1", "true", "yes", "on"}, {"0", "false", "no", "off", ""}


def _subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:  # argparse keeps its subparsers here, the only way to walk them
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def _options(parser: argparse.ArgumentParser) -> list[argparse.Action]:
    return [a for a in parser._actions if a.option_strings and a.dest not in ("help", "version")]


def apply_env(parser: argparse.ArgumentParser, env: Mapping[str, str] | None = None) -> None:
    """Give every option in :data:`ENV` its variable: named in the help, and (unless the library
    reads it itself) its default when set. Raises :class:`ConfigError` for a variable whose value
    the option cannot take (a flag set to "maybe", a module that does not exist)."""
    env = os.environ if env is None else env
    for p in [parser, *_subparsers(parser).values()]:
        for action in _options(p):
            var = ENV.get(action.dest)
            if var is None:
                continue
            if action.help and "[env " not in action.help:
                action.help += f" [env {var}]"
            value = env.get(var)
            if value is None or action.dest in READ_ELSEWHERE or action.default is argparse.SUPPRESS:
                continue
            if action.nargs == 0:  # a flag
                if value.strip().lower() not in _TRUE | _FALSE:
                    raise ConfigError(f"{var}={value!r}: use 1/true/yes/on or 0/false/no/off")
                action.default = value.strip().lower() in _TRUE
            elif value.strip():
                if action.choices is not None and value not in action.choices:
                    raise ConfigError(f"{var}={value!r}: choose from {', '.join(map(str, action.choices))}")
                action.default = value  # argparse converts a str default with the option's type


def _flags(action: argparse.Action) -> str:
    flags = ", ".join(f"`{s}`" for s in action.option_strings)
    if action.nargs == "?":
        return flags + f" [{action.metavar or action.dest.upper()}]"
    if action.nargs != 0:
        return flags + f" {action.metavar or action.dest.upper()}"
    return flags


def _positional(action: argparse.Action) -> str:
    name = str(action.metavar or action.dest)
    if action.choices is not None:
        name = "|".join(map(str, action.choices))
    return {"?": f"[{name}]", "+": f"{name}...", "*": f"[{name}...]"}.get(str(action.nargs), name)


def _help(action: argparse.Action) -> str:
    text = (action.help or "").split(" [env ")[0]
    return text.replace("|", "\\|")


def reference(parser: argparse.ArgumentParser) -> str:
    """The README's CLI reference (markdown): global options, then every command with its
    options and their variables, then the exit codes."""
    def rows(actions: list[argparse.Action]) -> list[str]:
        out = []
        for a in actions:
            var = ENV.get(a.dest)
            shown = f"`{var}`" if var else "—"
            out.append(f"| {_flags(a)} | {shown} | {_help(a)} |")
        return out

    lines = ["Global options (accepted before or after the command):", "",
             "| option | environment | meaning |", "|---|---|---|"]
    lines += rows(_options(parser))
    lines += ["", "| command | options (environment variable) | what it does |", "|---|---|---|"]
    common = {a.dest for a in _options(parser)}
    sub = _subparsers(parser)
    for name, p in sub.items():
        positional = " ".join(_positional(a) for a in p._actions if not a.option_strings)
        opts = []
        for a in _options(p):
            if a.dest in common:
                continue
            var = ENV.get(a.dest)
            opts.append(_flags(a) + (f" (`{var}`)" if var else ""))
        command = f"`{name}{' ' + positional if positional else ''}`".replace("|", "\\|")
        what = (p.description or "").replace("|", "/")
        lines.append(f"| {command} | {'<br>'.join(opts) or '—'} | {what} |")
    lines += ["", "Exit codes:", "", "| code | meaning |", "|---|---|"]
    lines += [f"| {code} | {meaning} |" for code, meaning in EXIT_CODES.items()]
    return "\n".join(lines) + "\n"

