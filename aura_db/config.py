"""Configuration: where the database is and how the pool behaves.

Environment variables are read only by :meth:`Config.from_env`; everything can be overridden in
code. Any DSN shown to a person goes through :func:`mask_dsn` or :meth:`Config.redact`.
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from psycopg.conninfo import conninfo_to_dict, make_conninfo

from .errors import ConfigError

__all__ = ["ENV_VARS", "LIBPQ_TARGET_VARS", "POOLERS", "Config", "default_data_dir", "libpq_env_url",
           "mask_dsn", "normalize_url"]

# name -> (Config field, default shown in the README)
ENV_VARS: dict[str, tuple[str, str]] = {
    "AURA_DATABASE_URL": ("url", "unset: the embedded server"),
    "DATABASE_URL": ("url", "fallback for AURA_DATABASE_URL"),
    "AURA_MIGRATION_URL": ("migration_url", "= AURA_DATABASE_URL (owner: migrate, roles, isolation)"),
    "AURA_WORKSPACE_ID": ("workspace_id", "unset (the workspace every transaction is scoped to)"),
    "AURA_DATA_DIR": ("data_dir", "$XDG_DATA_HOME/aura-db (~/.local/share/aura-db)"),
    "AURA_POOL_MIN_SIZE": ("min_size", "1"),
    "AURA_POOL_MAX_SIZE": ("max_size", "10"),
    "AURA_CONNECT_TIMEOUT": ("connect_timeout", "30 (seconds)"),
    "AURA_STATEMENT_TIMEOUT": ("statement_timeout", "30 (seconds, 0 = none)"),
    "AURA_LOCK_TIMEOUT": ("lock_timeout", "10 (seconds a statement waits for a row or table lock, 0 = none)"),
    "AURA_IDLE_IN_TRANSACTION_TIMEOUT": ("idle_in_transaction_timeout", "60 (seconds, 0 = none)"),
    "AURA_APPLICATION_NAME": ("application_name", "aura-db"),
    "AURA_POOL_CHECK_AFTER_IDLE": ("check_after_idle", "5 (seconds; 0 = a round trip on every checkout)"),
    "AURA_POOL_WAIT": ("pool_wait", "= AURA_CONNECT_TIMEOUT (seconds a call waits for a free connection)"),
    "AURA_CALL_DEADLINE": ("call_deadline", "statement timeout + 2 (seconds; 0 = none)"),
    "AURA_RETRY_ATTEMPTS": ("retry_attempts", "3 (tries of retry-safe work; 1 = no retry)"),
    "AURA_RETRY_BACKOFF": ("retry_backoff", "0.05 (seconds before the first retry; doubled, jittered)"),
    "AURA_RETRY_DEADLINE": ("retry_deadline", "10 (seconds all tries of one call may take)"),
    "AURA_TCP_USER_TIMEOUT": ("tcp_user_timeout", "30 (seconds unacknowledged data may wait on TCP)"),
    "AURA_POOLER": ("pooler", "none (transaction: behind PgBouncer's pool_mode = transaction)"),
    "AURA_REPLICA_URLS": ("replicas", "unset (streaming read replicas, separated by spaces)"),
    "AURA_REPLICA_MAX_LAG": ("replica_max_lag", "10 (seconds a replica may lag before leaving rotation)"),
    "AURA_REPLICA_WAIT": ("replica_wait", "0.5 (seconds a read waits for a replica to replay this "
                                          "process's commits, then reads the primary)"),
    "AURA_REPLICA_RETRY": ("replica_retry", "5 (seconds a replica out of rotation rests before a retry)"),
}
POOLERS = ("none", "transaction")

_URL_PASSWORD = re.compile(r"(?P<head>[a-z][a-z0-9+.-]*://[^:/?#@\s]*:)(?P<pw>[^@/?#\s]*)(?=@)", re.I)
_KV_PASSWORD = re.compile(r"(?P<head>(?<![?&\w])(?:ssl)?password\s*=\s*)(?P<pw>'(?:[^'\\]|\\.)*'|\S+)", re.I)
_QUERY_PASSWORD = re.compile(r"(?P<head>[?&](?:ssl)?password=)(?P<pw>[^&#\s]*)", re.I)
_SECRET_KEYS = ("password", "sslpassword")
_WORKSPACE_ID = re.compile(r"^[0-9a-f]{16}$")


def mask_dsn(text: str) -> str:
    """Return ``text`` with every password (and ``sslpassword``) in a URL or key=value conninfo
    replaced by ``***``."""
    for pattern in (_URL_PASSWORD, _KV_PASSWORD, _QUERY_PASSWORD):
        text = pattern.sub(lambda m: m.group("head") + "***", text)
    return text


def normalize_url(url: str) -> str:
    """Accept SQLAlchemy-style ``postgresql+psycopg://`` URLs and return what libpq takes.

    Raises :class:`ConfigError` (with the password masked) when libpq cannot parse it.
    """
    url = url.strip()
    url = re.sub(r"^(postgres(?:ql)?)\+[a-z0-9_]+://", r"\1://", url, flags=re.I)
    try:
        conninfo_to_dict(url)
    except Exception as exc:  # psycopg echoes the whole string, password included
        raise ConfigError(f"invalid database URL {mask_dsn(url)!r}: {_first_line(mask_dsn(str(exc)))}")\
            from None
    return url


def describe_server(url: str) -> str:
    """``host:port/dbname`` of a conninfo, for messages (never the password)."""
    params = conninfo_to_dict(url)
    host = params.get("host") or "localhost"
    port = params.get("port") or "5432"
    return f"{host}:{port}/{params.get('dbname') or params.get('user') or '?'}"


def _secrets_of(url: str | None) -> list[str]:
    if not url:
        return []
    params = conninfo_to_dict(url)
    return [str(params[k]) for k in _SECRET_KEYS if params.get(k)]


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0] if text.strip() else text


# libpq's variables that name a server or database: when one is set and no URL is, aura-db uses
# them (as psql would) instead of starting the embedded server. Passwords stay with libpq
# (PGPASSWORD, PGPASSFILE), which reads them itself.
LIBPQ_TARGET_VARS = {"PGSERVICE": "service", "PGHOST": "host", "PGHOSTADDR": "hostaddr",
                     "PGPORT": "port", "PGDATABASE": "dbname", "PGUSER": "user"}


def libpq_env_url(env: Mapping[str, str]) -> str | None:
    """A conninfo from libpq's ``PG*`` variables (service, host, port, database, user), or None
    when none of them is set."""
    params = {key: env[var] for var, key in LIBPQ_TARGET_VARS.items() if env.get(var)}
    return make_conninfo("", **params) if params else None


def default_data_dir(env: Mapping[str, str] | None = None) -> Path:
    """Per-user directory for the embedded server: ``$AURA_DATA_DIR`` or the XDG data home."""
    env = os.environ if env is None else env
    if env.get("AURA_DATA_DIR"):
        return Path(env["AURA_DATA_DIR"]).expanduser()
    base = env.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base).expanduser() / "aura-db"


@dataclass(frozen=True, kw_only=True, repr=False)
class Config:
    """How to reach the database and size the pool; validated on construction.

    ``url=None`` means the embedded server in ``data_dir``. Timeouts are in seconds.
    """

    url: str | None = None
    migration_url: str | None = None  # the owner's; None: url
    workspace_id: str | None = None  # default scope of row-level security (aura.workspace_id)
    data_dir: Path = dataclasses.field(default_factory=default_data_dir)
    min_size: int = 1
    max_size: int = 10
    connect_timeout: float = 30.0
    statement_timeout: float = 30.0
    lock_timeout: float = 10.0
    idle_in_transaction_timeout: float = 60.0
    application_name: str = "aura-db"
    close_timeout: float = 10.0
    check_after_idle: float = 5.0
    pool_wait: float | None = None  # None: connect_timeout
    call_deadline: float | None = None  # None: statement_timeout + 2 (no limit without one); 0: none
    retry_attempts: int = 3
    retry_backoff: float = 0.05
    retry_deadline: float = 10.0
    tcp_user_timeout: float = 30.0
    # "transaction": a transaction pooler (PgBouncer pool_mode = transaction) is between aura-db
    # and the server, so nothing may live in the session: see :attr:`transaction_pooled`
    pooler: str = "none"
    # streaming read replicas of the server at url: see :mod:`aura_db.replicas`
    replicas: tuple[str, ...] = ()
    replica_max_lag: float = 10.0
    replica_wait: float = 0.5
    replica_retry: float = 5.0

    def __post_init__(self) -> None:
        for name in ("url", "migration_url"):
            if getattr(self, name) is not None:
                object.__setattr__(self, name, normalize_url(getattr(self, name)))
        if isinstance(self.replicas, str):
            raise ConfigError("replicas must be a list of URLs, not one string")
        object.__setattr__(self, "replicas", tuple(normalize_url(u) for u in self.replicas))
        if self.workspace_id is not None and not _WORKSPACE_ID.match(str(self.workspace_id)):
            raise ConfigError(f"workspace_id must be 16 lowercase hex characters (a workspace's id), "
                              f"got {self.workspace_id!r}")
        object.__setattr__(self, "data_dir", Path(self.data_dir))
        if self.min_size < 0:
            raise ConfigError(f"min_size must be >= 0, got {self.min_size!r}")
        if self.max_size < max(1, self.min_size):
            raise ConfigError(
                f"max_size must be >= min_size and >= 1, got max_size={self.max_size!r} "
                f"min_size={self.min_size!r}"
            )
        for name in ("connect_timeout", "close_timeout"):
            if getattr(self, name) <= 0:
                raise ConfigError(f"{name} must be > 0 seconds, got {getattr(self, name)!r}")
        for name in ("statement_timeout", "lock_timeout", "idle_in_transaction_timeout", "check_after_idle",
                     "retry_backoff", "retry_deadline", "tcp_user_timeout", "replica_wait"):
            if getattr(self, name) < 0:
                raise ConfigError(f"{name} must be >= 0 seconds, got {getattr(self, name)!r}")
        for name in ("pool_wait", "call_deadline"):
            value = getattr(self, name)
            if value is not None and value < 0:
                raise ConfigError(f"{name} must be >= 0 seconds, got {value!r}")
        for name in ("replica_max_lag", "replica_retry"):
            if getattr(self, name) <= 0:
                raise ConfigError(f"{name} must be > 0 seconds, got {getattr(self, name)!r}")
        if self.retry_attempts < 1:
            raise ConfigError(f"retry_attempts must be >= 1, got {self.retry_attempts!r}")
        if self.pooler not in POOLERS:
            raise ConfigError(f"pooler must be one of {', '.join(POOLERS)}, got {self.pooler!r}")
        if not self.application_name or len(self.application_name) > 63:
            raise ConfigError(f"application_name must be 1-63 characters, got {self.application_name!r}")

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: object) -> Config:
        """Build a Config from the environment (see ``ENV_VARS``); keyword arguments win."""
        env = os.environ if env is None else env
        values: dict[str, object] = {"data_dir": default_data_dir(env)}
        url = env.get("AURA_DATABASE_URL") or env.get("DATABASE_URL") or libpq_env_url(env)
        if url:
            values["url"] = url
        for var, name in (("AURA_MIGRATION_URL", "migration_url"), ("AURA_WORKSPACE_ID", "workspace_id")):
            if env.get(var):
                values[name] = env[var]
        casts: dict[str, type] = {
            "min_size": int, "max_size": int, "connect_timeout": float,
            "statement_timeout": float, "lock_timeout": float, "idle_in_transaction_timeout": float,
            "application_name": str, "check_after_idle": float, "pool_wait": float,
            "call_deadline": float, "retry_attempts": int, "retry_backoff": float,
            "retry_deadline": float, "tcp_user_timeout": float, "pooler": str,
            "replica_max_lag": float, "replica_wait": float, "replica_retry": float,
        }
        for var, (field, _) in ENV_VARS.items():
            if field in casts and env.get(var):
                try:
                    values[field] = casts[field](env[var])
                except ValueError:
                    raise ConfigError(f"{var} must be a {casts[field].__name__}, got {env[var]!r}")\
                        from None
        if env.get("AURA_REPLICA_URLS", "").strip():
            values["replicas"] = tuple(env["AURA_REPLICA_URLS"].split())
        values.update(overrides)
        return cls(**values)  # type: ignore[arg-type]

    @property
    def password(self) -> str | None:
        """The password in the URL, if any (used only to scrub it from messages)."""
        return next(iter(self._secrets()), None)

    @property
    def password_given(self) -> bool:
        """Whether the URL itself carries a password or sslpassword."""
        return bool(_secrets_of(self.url))

    def _secrets(self) -> list[str]:
        """The URLs' passwords and sslpasswords, decoded (as libpq and psycopg may echo them)."""
        return [secret for url in (self.url, self.migration_url, *self.replicas)
                for secret in _secrets_of(url)]

    def redact(self, text: str) -> str:
        """Mask the URL's password and sslpassword anywhere in ``text``."""
        text = mask_dsn(text)
        for secret in self._secrets():
            text = text.replace(secret, "***")
        return text

    def __repr__(self) -> str:
        shown = []
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if f.name in ("url", "migration_url") and value:
                value = self.redact(value)
            elif f.name == "replicas":
                value = tuple(self.redact(url) for url in value)
            shown.append(f"{f.name}={value!r}")
        return f"Config({', '.join(shown)})"

    __str__ = __repr__

    def masked_url(self) -> str:
        """The URL with its password masked, or a description of the embedded server."""
        return mask_dsn(self.url) if self.url else f"embedded server in {self.data_dir}"

    @property
    def wait_for_connection(self) -> float:
        """Seconds a call waits for a pooled connection before PoolExhausted/ServerUnavailable."""
        return self.connect_timeout if self.pool_wait is None else self.pool_wait

    @property
    def deadline(self) -> float | None:
        """Seconds any wait for the server may last before DeadlineExceeded (None: no limit):
        ``call_deadline``, else ``statement_timeout`` + 2 s (so the server's own timeout, which
        cancels cleanly, comes first)."""
        if self.call_deadline is not None:
            return self.call_deadline or None
        return self.statement_timeout + 2.0 if self.statement_timeout else None

    @property
    def transaction_pooled(self) -> bool:
        """Whether a transaction pooler stands between aura-db and the server. Then a session
        spans one transaction only, so: no startup ``options`` (PgBouncer refuses them; its
        server connections are shared by every client), no prepared statements (PgBouncer
        before 1.21 does not track them: the next transaction may land on a backend that never
        saw them), and the session defaults (timeouts, ``aura.workspace_id``) are set
        transaction-locally by every transaction aura-db opens, a call outside a transaction
        included (:meth:`transaction_settings`)."""
        return self.pooler == "transaction"

    @property
    def prepare_threshold(self) -> int | None:
        """psycopg's ``prepare_threshold`` for pooled connections: statements run this many
        times are prepared server-side; never behind a transaction pooler."""
        return None if self.transaction_pooled else 5

    def connect_kwargs(self) -> dict[str, object]:
        """libpq parameters of every pooled connection: session defaults (none behind a
        transaction pooler), a bounded connect, and TCP keepalives plus ``tcp_user_timeout``
        so a dead peer is noticed (libpq ignores the TCP ones on Unix sockets)."""
        return {
            "application_name": self.application_name,
            **({} if self.transaction_pooled else {"options": self.session_options()}),
            "prepare_threshold": self.prepare_threshold,
            "connect_timeout": max(1, int(min(self.connect_timeout, 10))),
            "keepalives": 1,
            "keepalives_idle": 30,
            "keepalives_interval": 10,
            "keepalives_count": 3,
            "tcp_user_timeout": int(self.tcp_user_timeout * 1000),
        }

    def transaction_settings(self) -> tuple[str, str, str]:
        """``statement_timeout``, ``lock_timeout`` and ``idle_in_transaction_session_timeout``
        in milliseconds, as a transaction sets them behind a transaction pooler."""
        return (str(int(self.statement_timeout * 1000)), str(int(self.lock_timeout * 1000)),
                str(int(self.idle_in_transaction_timeout * 1000)))

    def session_options(self) -> str:
        """libpq ``options`` that set the session defaults on every new connection."""
        statement, lock, idle = self.transaction_settings()
        parts = [
            f"-c statement_timeout={statement}",
            *([f"-c aura.workspace_id={self.workspace_id}"] if self.workspace_id else []),
            f"-c lock_timeout={lock}",
            f"-c idle_in_transaction_session_timeout={idle}",
        ]
        return " ".join(parts)
