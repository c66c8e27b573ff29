"""The privilege subcommands of ``aura-db``: roles (owner / application / read-only) and the
per-workspace row-level security switch. Both run as the owner (``AURA_MIGRATION_URL``)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from ..ops import isolation
from ..ops.roles import ensure_roles
from .common import Out, adder, database_url, owner_url

__all__ = ["register"]


def _secret_file(path: str | None, what: str) -> str | None:
    if not path:
        return None
    try:
        secret = Path(path).expanduser().read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise ConfigError(f"--{what}-password-file {path!r}: {exc.strerror or exc}") from None
    if not secret:
        raise ConfigError(f"--{what}-password-file {path!r} is empty")
    return secret


def cmd_roles(args: argparse.Namespace, out: Out) -> int:
    _, url, where = owner_url(args)
    report = ensure_roles(url, app=args.app, readonly=args.readonly,
                          app_password=_secret_file(args.app_password_file, "app"),
                          readonly_password=_secret_file(args.readonly_password_file, "readonly"))
    out(f"roles on {where}:")
    for line in report.lines():
        out(line)
    return 0


def cmd_isolation(args: argparse.Namespace, out: Out) -> int:
    if args.state == "status":
        state = isolation.isolation_state(database_url(args)[1])
    else:
        state = isolation.set_isolation(owner_url(args)[1], args.state == "on")
    for line in state.lines():
        out(line)
    return 0


def register(sub: Any) -> None:
    """Add the privilege subcommands to the ``aura-db`` subparsers."""
    add = adder(sub)
    p = add("roles", "create/grant the application and read-only roles (run as the owner)")
    p.add_argument("--app", default="aura_app", metavar="ROLE",
                   help="the application role (default aura_app)")
    p.add_argument("--readonly", default="aura_readonly", metavar="ROLE",
                   help="the read-only role (default aura_readonly)")
    p.add_argument("--app-password-file", metavar="FILE",
                   help="set the application role's password from FILE (sent SCRAM-encrypted)")
    p.add_argument("--readonly-password-file", metavar="FILE",
                   help="set the read-only role's password from FILE (sent SCRAM-encrypted)")
    p.set_defaults(func=cmd_roles)

    p = add("isolation", "row-level security per workspace: on, off (as the owner) or status")
    p.add_argument("state", choices=("on", "off", "status"))
    p.set_defaults(func=cmd_isolation)
