"""What every ``aura-db`` subcommand shares: the output (``Out``, ``-q``), the URL it works on
(application or owner, ``--wait``), the common options, JSON and progress display."""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from .. import progress
from ..config import Config, mask_dsn
from ..embedded import embedded_url
from ..errors import ConfigError
from ..progress import Progress

__all__ = ["Out", "adder", "common_options", "config_of", "database_url", "emit_json", "owner_url",
           "progress_arg", "progress_of", "wait_arg"]


class Out:
    """Where a command's output goes: ``out(line)`` for messages (silenced by ``-q``),
    ``out.data(text)`` for what the command exists to produce (JSON, a plan's script), always
    printed."""

    def __init__(self, *, quiet: bool = False, write: Callable[[str], None] = print) -> None:
        self.quiet, self._write = quiet, write

    def __call__(self, line: str) -> None:
        if not self.quiet:
            self._write(line)

    def data(self, text: str) -> None:
        self._write(text)


def config_of(args: argparse.Namespace, *, warn: bool = True) -> Config:
    """The Config a command works with: the environment, and ``--url`` or ``--url-file`` over
    it. A password given in ``--url`` is visible in the process list: the command warns."""
    url = getattr(args, "url", None)
    url_file = getattr(args, "url_file", None)
    if url_file:
        try:
            url = Path(url_file).expanduser().read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ConfigError(f"--url-file {url_file!r}: {exc.strerror or exc}") from None
        if not url:
            raise ConfigError(f"--url-file {url_file!r} is empty")
    config = Config.from_env(**({"url": url} if url else {}))
    if warn and getattr(args, "url", None) and config.password_given:
        print("aura-db: warning: --url carries a password, which every user of this machine can "
              "read in the process list; use AURA_DATABASE_URL, --url-file FILE or ~/.pgpass",
              file=sys.stderr)
    return config


def database_url(args: argparse.Namespace) -> tuple[Config, str]:
    """The Config and the libpq URL the command works on (starting the embedded server when
    no URL is configured), once the server accepts connections when ``--wait`` asks for it."""
    config = config_of(args)
    url = config.url or embedded_url(config.data_dir)
    _wait(args, config, url)
    return config, url


def _wait(args: argparse.Namespace, config: Config, url: str) -> None:
    """``--wait[=SECONDS]``: retry connecting with backoff until the server answers."""
    seconds = getattr(args, "wait", None)
    if seconds is None:
        return
    from ..ops.wait import wait_for_server

    waited = wait_for_server(url, seconds, connect_timeout=config.connect_timeout,
                             report=lambda line: print(f"aura-db: {line}", file=sys.stderr))
    if waited >= 0.5:
        print(f"aura-db: the server answered after {waited:.1f}s", file=sys.stderr)


def owner_url(args: argparse.Namespace) -> tuple[Config, str, str]:
    """For the commands that change the schema or privileges (migrate, rollback, plan, unlock,
    verify --accept-renames, roles, isolation on/off): the Config, the owner's URL and how to
    show it. ``--url``/``--url-file`` when given, else ``AURA_MIGRATION_URL``, else the
    application's URL (or the embedded server)."""
    config = config_of(args)
    explicit = getattr(args, "url", None) or getattr(args, "url_file", None)
    if config.migration_url and not explicit:
        _wait(args, config, config.migration_url)
        return config, config.migration_url, mask_dsn(config.migration_url)
    url = config.url or embedded_url(config.data_dir)
    _wait(args, config, url)
    return config, url, config.masked_url()


def emit_json(out: Out, value: Any) -> None:
    """``value`` as indented JSON (dataclasses as objects, datetimes as ISO 8601)."""
    out.data(json.dumps(value, indent=2, default=_jsonable, sort_keys=False))


def _jsonable(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Path):
        return str(value)
    return str(value)


def common_options() -> argparse.ArgumentParser:
    """--url, --migrations-dir and -v, accepted after the subcommand too (the scripts/ wrappers
    put every argument there); SUPPRESS keeps them from overriding values given before it."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--url", default=argparse.SUPPRESS,
                        help="database URL (a password here shows in the process list: prefer "
                             "AURA_DATABASE_URL, --url-file or ~/.pgpass)")
    common.add_argument("--url-file", default=argparse.SUPPRESS, metavar="FILE",
                        help="read the database URL from FILE (keep it mode 0600)")
    common.add_argument("--migrations-dir", default=argparse.SUPPRESS, metavar="DIR",
                        help="root of the migration modules")
    common.add_argument("-v", "--verbose", action="store_true", default=argparse.SUPPRESS,
                        help="log progress to stderr")
    common.add_argument("-q", "--quiet", action="store_true", default=argparse.SUPPRESS,
                        help="print only errors and the data asked for (JSON, a plan)")
    return common


def progress_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--progress", choices=("auto", "bar", "log", "none"), default="auto",
                   help="how to show progress on stderr: a bar on a terminal and a line every 10 s "
                        "otherwise (auto), always a bar, always lines, or nothing (default auto; -q: none)")


def progress_of(args: argparse.Namespace) -> Progress | None:
    """The progress display ``--progress`` (and ``-q``) asks for."""
    choice = "none" if getattr(args, "quiet", False) else getattr(args, "progress", "auto")
    if choice == "none":
        return None
    if choice == "bar":
        return progress.bar()
    if choice == "log":
        return progress.log_lines(lambda line: print(line, file=sys.stderr, flush=True))
    return progress.auto()


def wait_arg(p: argparse.ArgumentParser) -> None:
    """``--wait[=SECONDS]`` (default 60 when given bare)."""
    from ..ops.wait import DEFAULT_WAIT

    p.add_argument("--wait", nargs="?", type=float, const=DEFAULT_WAIT, metavar="SECONDS",
                   help=f"first wait (retrying with backoff) until the server accepts connections, "
                        f"up to SECONDS (default {DEFAULT_WAIT:g})")


def adder(sub: Any) -> Callable[[str, str], argparse.ArgumentParser]:
    """``add(name, help)``: a subcommand of ``sub`` that takes the common options."""
    common = common_options()

    def add(name: str, helptext: str) -> argparse.ArgumentParser:
        parser: argparse.ArgumentParser = sub.add_parser(name, parents=[common], help=helptext,
                                                         description=helptext)
        return parser
    return add
