"""The migration subcommands of ``aura-db``: migrate, rollback, status, new, plan, baseline,
mark, history, verify, unlock.

Each handler takes the parsed arguments and an :class:`~aura_db.cli.common.Out` and returns the
exit code; errors are raised as :class:`aura_db.errors.AuraError` and printed by ``cli.main``.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from .. import migrations
from ..migrations import lock as migration_lock
from ..migrations.files import new_migration
from .common import Out, adder, database_url, emit_json, owner_url, wait_arg

__all__ = ["print_status", "register"]


def _directory(args: argparse.Namespace) -> Path | None:
    return Path(args.migrations_dir) if getattr(args, "migrations_dir", None) else None


def _settings(args: argparse.Namespace) -> migrations.MigrationSettings:
    return migrations.MigrationSettings.from_env(
        lock_wait=args.lock_wait, lock_timeout=args.lock_timeout,
        statement_timeout=args.statement_timeout, retries=args.retries,
    )


def cmd_migrate(args: argparse.Namespace, out: Out) -> int:
    _, url, where = owner_url(args)
    applied = migrations.migrate(url, directory=_directory(args), settings=_settings(args),
                                 target=args.to, allow_drift=args.allow_drift)
    for mid in applied:
        out(f"applied {mid}")
    out(f"{len(applied)} migration(s) applied on {where}")
    if args.status:
        print_status(url, _directory(args), out)
    return 0


def cmd_rollback(args: argparse.Namespace, out: Out) -> int:
    config, url, where = owner_url(args)

    def safety_backup(ids: list[str]) -> None:
        from ..ops.backup import backup

        directory = Path(args.dir) if args.dir else config.data_dir / "backups"
        archive, _ = backup(url, directory, label="-pre-rollback",
                            pg_bin=Path(args.pg_bin) if args.pg_bin else None)
        out(f"safety backup before rolling back {', '.join(ids)} (drops data): {archive}")

    done = migrations.rollback(url, steps=args.steps, target=args.to, module=args.module,
                               cascade=args.cascade, force=args.force,
                               directory=_directory(args), settings=_settings(args),
                               allow_drift=args.allow_drift,
                               before_destructive=None if args.no_backup else safety_backup)
    for mid in done:
        out(f"rolled back {mid}")
    out(f"{len(done)} migration(s) rolled back on {where}")
    return 0


def cmd_status(args: argparse.Namespace, out: Out) -> int:
    config, url = database_url(args)
    if args.json:
        rows = migrations.status(url, directory=_directory(args), module=args.module)
        indexes = migrations.verify_indexes(url, directory=_directory(args))
        pending = sum(1 for r in rows if r.pending)
        emit_json(out, {"database": config.masked_url(), "applied": len(rows) - pending,
                        "pending": pending, "migrations": rows, "search_index_drift": indexes})
        return 3 if (args.exit_code and pending) else 0
    out(f"database: {config.masked_url()}")
    pending = print_status(url, _directory(args), out, module=args.module)
    return 3 if (args.exit_code and pending) else 0


def print_status(url: str, directory: Path | None, out: Out, *, module: str | None = None) -> int:
    """Print one line per migration (of ``module``, or all) and a summary; return how many are
    pending."""
    rows = migrations.status(url, directory=directory, module=module)
    for s in rows:
        if s.applied_at is not None:
            took = f" in {s.duration_ms} ms" if s.duration_ms is not None else ""
            what = f"applied {s.applied_at:%Y-%m-%d %H:%M:%S}Z by {s.applied_by or '?'}{took}"
            what += " (FILE MISSING)" if s.missing_file else ""
        else:
            what = "pending"
        out(f"  {s.module:<10} {s.id:<40} {what}")
        if s.failure:
            out(f"    FAILED HALF-WAY (non-transactional) {s.failure}")
        for index in s.invalid_indexes:
            out(f"    INVALID index {index} left behind: the next migrate drops and rebuilds it")
    pending = sum(1 for s in rows if s.pending)
    out(f"{len(rows) - pending} applied, {pending} pending")
    for i in migrations.verify_indexes(url, directory=directory):
        out(f"  search index {i.kind}: {i.message}")
    return pending


def cmd_new(args: argparse.Namespace, out: Out) -> int:
    up, down = new_migration(args.module, args.name, _directory(args))
    out(f"created {up}")
    out(f"created {down}")
    return 0


def cmd_plan(args: argparse.Namespace, out: Out) -> int:
    _, url, where = owner_url(args)
    found = migrations.plan_details(url, directory=_directory(args), settings=_settings(args),
                                    rollback_steps=args.rollback, target=args.to, force=args.force,
                                    module=args.module, cascade=args.cascade)
    if args.json:
        emit_json(out, {"database": where, "action": found.action, "operations": [
            {"id": op.migration_id, "module": op.module, "direction": op.direction,
             "transactional": op.transactional, "file": op.path, "statements": op.statements}
            for op in found.operations], "script": found.script})
    else:
        out.data(found.script.rstrip("\n"))
    return 0


def cmd_mark(args: argparse.Namespace, out: Out) -> int:
    _, url, where = owner_url(args)
    ids = getattr(args, "ids", None)
    done = migrations.mark(url, ids or None, target=getattr(args, "to", None),
                           directory=_directory(args), settings=_settings(args),
                           allow_missing=args.allow_missing, by=args.by)
    for mid in done:
        out(f"recorded {mid} as applied (not run)")
    out(f"{len(done)} migration(s) recorded as applied on {where}, verified against its catalog")
    return 0


def cmd_history(args: argparse.Namespace, out: Out) -> int:
    config, url = database_url(args)
    entries = migrations.history(url, directory=_directory(args), module=args.module, limit=args.limit)
    if args.json:
        emit_json(out, {"database": config.masked_url(), "entries": entries})
        return 0
    out(f"database: {config.masked_url()}")
    for e in entries:
        took = f" in {e.duration_ms} ms" if e.duration_ms is not None else ""
        out(f"  {e.at:%Y-%m-%d %H:%M:%S}Z  {e.operation:<8} {e.module:<10} {e.migration_id:<40} "
            f"by {e.by}{took}")
    out(f"{len(entries)} entr{'y' if len(entries) == 1 else 'ies'}")
    return 0


def cmd_verify(args: argparse.Namespace, out: Out) -> int:
    config, url = database_url(args)
    if args.accept_renames:
        for d in migrations.accept_renames(owner_url(args)[1], directory=_directory(args)):
            out(f"recorded rename: {d.migration_id} -> {d.new_id}")
    drift = migrations.verify(url, directory=_directory(args))
    indexes = migrations.verify_indexes(url, directory=_directory(args))
    if args.json:
        emit_json(out, {"database": config.masked_url(), "ok": not (drift or indexes),
                        "file_drift": drift, "search_index_drift": indexes})
        return 1 if drift or indexes else 0
    for d in drift:
        out(f"{d.kind}: {d.message}")
    for i in indexes:
        out(f"index {i.kind}: {i.message}")
    out(f"{len(drift)} problem(s) with applied migration files, {len(indexes)} with search indexes, "
        f"on {config.masked_url()}")
    return 1 if drift or indexes else 0


def cmd_unlock(args: argparse.Namespace, out: Out) -> int:
    _, url, _ = owner_url(args)
    for line in migration_lock.lock_info(url).lines():
        out(line)
    if args.dry_run:
        return 0
    broken = migration_lock.break_lock(url, force=args.force)
    pids = f" (pids {', '.join(map(str, broken))})" if broken else ""
    out(f"removed {len(broken)} yoyo lock row(s){pids}")
    return 0


def _add_settings(p: argparse.ArgumentParser) -> None:
    p.add_argument("--lock-wait", type=float, metavar="SECONDS",
                   help="how long to wait for another run's migration lock (default 60)")
    p.add_argument("--lock-timeout", type=float, metavar="SECONDS",
                   help="lock_timeout of migration statements (default 5)")
    p.add_argument("--statement-timeout", type=float, metavar="SECONDS",
                   help="statement_timeout of migration statements (default 600)")
    p.add_argument("--retries", type=int, metavar="N",
                   help="tries per migration when its lock_timeout expires (default 3)")


def _json_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="print JSON instead of text")


def _module_arg(p: argparse.ArgumentParser, helptext: str) -> None:
    p.add_argument("--module", choices=migrations.MODULES, help=helptext)


def register(sub: Any) -> None:
    """Add the migration subcommands to the ``aura-db`` subparsers."""
    add = adder(sub)
    p = add("migrate", "verify applied files, then apply pending migrations under a lock")
    p.add_argument("--to", metavar="ID", help="apply only up to ID (and what it depends on)")
    p.add_argument("--allow-drift", action="store_true",
                   help="migrate even when applied migration files were edited, renamed or deleted")
    p.add_argument("--status", action="store_true", help="print the status afterwards")
    wait_arg(p)
    _add_settings(p)
    p.set_defaults(func=cmd_migrate)

    p = add("rollback", "roll back the newest migration(s) (default: one)")
    group = p.add_mutually_exclusive_group()
    group.add_argument("--steps", type=int, metavar="N", help="roll back the newest N")
    group.add_argument("--to", metavar="ID", help="roll back everything applied after ID (keeps ID)")
    p.add_argument("--force", action="store_true",
                   help="unmark migrations that have no rollback file (their changes stay)")
    p.add_argument("--allow-drift", action="store_true",
                   help="roll back even when the files of those migrations changed since applied")
    _module_arg(p, "roll back migrations of this module only (default: the --to migration's)")
    p.add_argument("--cascade", action="store_true",
                   help="also undo the applied migrations that depend on those rolled back "
                        "(otherwise refused, with the list)")
    p.add_argument("--no-backup", action="store_true",
                   help="no safety backup before a rollback that drops tables or columns")
    p.add_argument("--dir", metavar="DIR", help="where the safety backup goes (default <data_dir>/backups)")
    p.add_argument("--pg-bin", metavar="DIR",
                   help="directory of pg_dump matching the server")
    _add_settings(p)
    p.set_defaults(func=cmd_rollback)

    p = add("status", "applied (when, who, how long) and pending migrations; no lock")
    p.add_argument("--exit-code", action="store_true",
                   help="exit 3 when any migration is pending (deploy gates)")
    _module_arg(p, "show this module's migrations only")
    _json_arg(p)
    wait_arg(p)
    p.set_defaults(func=cmd_status)

    p = add("new", "scaffold the next-numbered up/down migration pair of a module")
    p.add_argument("module", choices=migrations.MODULES)
    p.add_argument("name", help="what it does, e.g. 'add story labels'")
    p.set_defaults(func=cmd_new)

    p = add("plan", "print the SQL migrate (or rollback) would run, as a psql script")
    p.add_argument("--rollback", type=int, metavar="N", help="plan 'rollback --steps N' instead")
    p.add_argument("--to", metavar="ID", help="plan 'migrate --to ID'")
    p.add_argument("--force", action="store_true", help="as rollback --force")
    _module_arg(p, "with --rollback: as rollback --module")
    p.add_argument("--cascade", action="store_true", help="with --rollback: as rollback --cascade")
    _json_arg(p)
    _add_settings(p)
    p.set_defaults(func=cmd_plan)

    for name, helptext in (
        ("baseline", "record every migration (up to --to) as applied without running it, on a "
                     "database built from schema.sql or by hand; verified against its catalog"),
        ("mark", "record the named migrations (and what they depend on) as applied without "
                 "running them; verified against the catalog"),
    ):
        p = add(name, helptext)
        if name == "mark":
            p.add_argument("ids", nargs="+", metavar="ID", help="migration ids, e.g. 0004_rag_chunks")
        else:
            p.add_argument("--to", metavar="ID", help="only up to ID (and what it depends on)")
        p.add_argument("--allow-missing", action="store_true",
                       help="record even when objects the migrations make are missing")
        p.add_argument("--by", metavar="WHO", help="who to record (default user@host)")
        _add_settings(p)
        p.set_defaults(func=cmd_mark)

    p = add("history", "every apply and rollback: when, by whom, how long; no lock")
    _module_arg(p, "this module's entries only")
    p.add_argument("--limit", type=int, metavar="N", help="only the newest N entries")
    _json_arg(p)
    p.set_defaults(func=cmd_history)

    p = add("verify", "fail when applied migration files were edited, renamed or deleted")
    p.add_argument("--accept-renames", action="store_true",
                   help="record renamed migrations (same content, new id) under their new ids")
    _json_arg(p)
    p.set_defaults(func=cmd_verify)

    p = add("unlock", "show who holds the migration lock; remove a stale yoyo lock row")
    p.add_argument("--dry-run", action="store_true", help="only show the lock holders")
    p.add_argument("--force", action="store_true",
                   help="remove yoyo's lock row even if its process seems alive")
    p.set_defaults(func=cmd_unlock)
