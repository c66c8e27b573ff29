"""Migration files on disk: reading them, fingerprinting them, scaffolding new ones."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

from yoyo.migrations import read_sql_migration

from .. import resources
from ..errors import MigrationError

__all__ = ["MODULES", "SUPERSEDED", "MigrationInfo", "load_migrations", "new_migration", "sha256_file"]

MODULES = ("foundation", "developer")
_NUMBERED = re.compile(r"^(\d{4})_")

# Applied migrations amended after release, in a reviewed way that databases migrated by the
# earlier version tolerate (the file's header says what changed and why): the SHA-256 of the
# earlier files, which ``verify`` accepts as that migration's.
SUPERSEDED: dict[str, frozenset[str]] = {
    # 0001 learnt to create pgvector only when it is missing and to drop it only if it did.
    "0001_workspaces": frozenset({
        "f6359f5668caa391eefaded81ef64aa39b4c991e9cba66e721823d3749c3a89e",
        "3486e5ea0b4f17a113d1c93fc780f84375fbc07c45ee7e67640cfcb4893a5c3c",
    }),
    # developer 0003's header and lint justification now state the locks pg_locks shows.
    "0003_story_links": frozenset({
        "f98f7a1ef76f4ffba48165fe95ec5ae11c997bb1cea0bcafe00f7395a2016dc5",
    }),
}


@dataclass(frozen=True, slots=True)
class MigrationInfo:
    """One migration file pair as found on disk, with the SHA-256 of each file."""

    id: str
    module: str
    path: Path
    rollback_path: Path | None
    up_sha256: str = ""
    down_sha256: str | None = None
    transactional: bool = True

    def up_statements(self) -> tuple[str, ...]:
        """The statements yoyo would run to apply (split by yoyo, directives removed)."""
        return tuple(read_sql_migration(str(self.path))[2])

    def down_statements(self) -> tuple[str, ...]:
        """The statements of the rollback file, in file order (empty without one)."""
        if self.rollback_path is None:
            return ()
        return tuple(read_sql_migration(str(self.rollback_path))[2])

    @property
    def display(self) -> str:
        return f"{self.module}/{self.path.name}"


def sha256_file(path: Path | None) -> str | None:
    """Hex SHA-256 of a file's bytes, or None for no file."""
    return hashlib.sha256(path.read_bytes()).hexdigest() if path is not None else None


def _transactional(path: Path) -> bool:
    value = str(read_sql_migration(str(path))[0].get("transactional", "true")).strip().lower()
    if value not in ("true", "false"):
        raise MigrationError(f"{path}: '-- transactional:' must be true or false, got {value!r}")
    return value == "true"


def load_migrations(directory: Path | None = None) -> list[MigrationInfo]:
    """The migration files of every module, in module then file order.

    Raises :class:`MigrationError` for an id used twice across modules or a bad directive.
    """
    root = resources.migrations_dir() if directory is None else directory
    found: dict[str, MigrationInfo] = {}
    for module in MODULES:
        for path in sorted((root / module).glob("*.sql")):
            if path.name.endswith(".rollback.sql"):
                continue
            mid = path.name[: -len(".sql")]
            if mid in found:
                raise MigrationError(f"migration id {mid!r} is used twice: {found[mid].path} and {path}")
            down = path.with_name(f"{mid}.rollback.sql")
            down_path = down if down.exists() else None
            found[mid] = MigrationInfo(
                id=mid, module=module, path=path, rollback_path=down_path,
                up_sha256=sha256_file(path) or "", down_sha256=sha256_file(down_path),
                transactional=_transactional(path),
            )
    return list(found.values())



def _slug(name: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")
    if not slug:
        raise MigrationError(f"migration name {name!r} has no letters or digits")
    return slug


def new_migration(module: str, name: str, directory: Path | None = None) -> tuple[Path, Path]:
    """Write the next-numbered ``NNNN_name.sql`` / ``.rollback.sql`` pair of ``module``.

    It depends on the newest migration of the module and, for developer, on the newest
    foundation one. Returns the two paths; refuses an unknown module or a name already used
    by a migration of any module.
    """
    if module not in MODULES:
        raise MigrationError(f"unknown module {module!r}: use one of {', '.join(MODULES)}")
    root = resources.migrations_dir() if directory is None else directory
    infos = load_migrations(root)
    mine = sorted(i.id for i in infos if i.module == module)
    numbers = [int(m.group(1)) for i in mine if (m := _NUMBERED.match(i))]
    slug = _slug(name)
    same = [i for i in infos if i.id.split("_", 1)[-1] == slug]
    if same:
        raise MigrationError(f"a migration named {slug!r} already exists: {same[0].display}: pick "
                             f"another name (or edit that one if it is not applied yet)")
    mid = f"{max(numbers, default=0) + 1:04d}_{slug}"
    depends = mine[-1:]
    if module != "foundation":
        depends += sorted(i.id for i in infos if i.module == "foundation")[-1:]
    up, down = root / module / f"{mid}.sql", root / module / f"{mid}.rollback.sql"
    up.parent.mkdir(parents=True, exist_ok=True)
    head = f"-- depends: {' '.join(depends)}\n" if depends else ""
    up.write_text(f"{head}--\n-- {module} {mid}: {name}.\n-- Say what this changes and why.\n\n")
    down.write_text(f"-- Undo {module} {mid}: reverse every statement of {mid}.sql, newest first.\n\n")
    return up, down
