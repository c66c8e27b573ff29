"""``aura-db lint``: squawk over the migrations, configured for yoyo, plus the checks squawk and
yoyo miss.

squawk runs with ``--assume-in-transaction`` only on files yoyo runs in a transaction, and with
rules for rollback files that accept what a down migration is for (dropping things). Our own
rules catch what yoyo silently accepts: a misspelt or misplaced directive (yoyo ignores it), a
directive in a rollback file (ignored), an empty up or rollback file (what ``new`` scaffolds),
CONCURRENTLY or ALTER TYPE ... ADD VALUE in a
transactional file, a missing rollback file, and (with a database) a new migration that sorts
before one already applied. A finding is accepted when its file carries
``-- lint: allow <rule> -- <reason>``.
"""

from __future__ import annotations

import json
import logging
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, replace
from pathlib import Path

from ..errors import ToolError
from .files import MigrationInfo, load_migrations

__all__ = ["SQUAWK_EXCLUDED", "Finding", "lint"]

logger = logging.getLogger(__name__)

# squawk rules that do not fit how aura-db runs migrations, and why:
SQUAWK_EXCLUDED = {
    "require-lock-timeout": "the runner sets lock_timeout on every migration session",
    "require-statement-timeout": "the runner sets statement_timeout on every migration session",
    "prefer-text-field": "varchar(n) limits are schema decisions reviewed in DESIGN.md",
    "prefer-bigint-over-int": "keys are uuid; int columns are bounded counters",
}
# ...and in rollback files, whose job is to drop what the up file created:
SQUAWK_EXCLUDED_DOWN = {"ban-drop-table", "ban-drop-column", "ban-drop-not-null", "ban-drop-function",
                        "ban-drop-extension", "ban-drop-trigger", "ban-drop-schema", "renaming-column",
                        "renaming-table"}
SQUAWK_PG_VERSION = "16"  # the oldest server we support

_YOYO_DIRECTIVE = re.compile(r"^\s*--\s*(transactional|depends)\s*:\s*(.*)$")
_DIRECTIVE_LIKE = re.compile(r"^\s*--\s*([A-Za-z][\w-]*)\s*([:=])\s*(.*)$")
_DIRECTIVE_WORDS = {"transactional", "transaction", "transactions", "depends", "depend",
                    "dependencies", "depends-on", "depends_on", "requires"}
_ALLOW = re.compile(r"--\s*lint:\s*allow\s+([\w-]+)\s*(?:--\s*(.*\S))?\s*$", re.M)
_CONCURRENTLY = re.compile(r"\b(?:CREATE\s+(?:UNIQUE\s+)?INDEX|DROP\s+INDEX|REINDEX(?:\s+\w+)?)\s+"
                           r"CONCURRENTLY\b", re.I)
_ADD_VALUE = re.compile(r"\bALTER\s+TYPE\s+\S+\s+ADD\s+VALUE\b", re.I)


@dataclass(frozen=True, slots=True)
class Finding:
    """One lint finding at ``path:line``; ``allowed`` holds the justification, if any."""

    path: Path
    line: int
    rule: str
    message: str
    source: str = "aura-db"
    allowed: str | None = None

    def __str__(self) -> str:
        tail = f" [allowed: {self.allowed}]" if self.allowed else ""
        return f"{self.path}:{self.line}: {self.rule} ({self.source}): {self.message}{tail}"


def _code_only(text: str) -> str:
    """``text`` with -- comments blanked (line numbers kept)."""
    return re.sub(r"--[^\n]*", "", text)


def _line_of(text: str, pos: int) -> int:
    return text.count("\n", 0, pos) + 1


def _directive_findings(path: Path, text: str, *, rollback: bool) -> list[Finding]:
    out: list[Finding] = []
    in_header = True
    for n, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        if stripped and not stripped.startswith("--"):
            in_header = False
        yoyo = _YOYO_DIRECTIVE.match(line)
        like = _DIRECTIVE_LIKE.match(line)
        if rollback and (yoyo or (like and like.group(1).lower() in _DIRECTIVE_WORDS)):
            out.append(Finding(path, n, "directive-in-rollback",
                               "yoyo ignores directives in rollback files: put it in the up file"))
        elif yoyo and not in_header:
            out.append(Finding(path, n, "directive-misplaced",
                               "yoyo reads directives only in the comments before the first statement: "
                               "move it to the top of the file"))
        elif yoyo and yoyo.group(1) == "transactional" and \
                yoyo.group(2).strip().lower() not in ("true", "false"):
            out.append(Finding(path, n, "directive-misspelt", "'-- transactional:' takes true or false"))
        elif not yoyo and like and like.group(1).lower() in _DIRECTIVE_WORDS:
            out.append(Finding(path, n, "directive-misspelt",
                               f"yoyo does not know {line.strip()!r} and silently ignores it: write "
                               f"'-- transactional: false' or '-- depends: ID ...' (lower case, colon)"))
    return out


def _transaction_findings(path: Path, text: str) -> list[Finding]:
    code = _code_only(text)
    out = [Finding(path, _line_of(code, m.start()), "concurrently-in-transaction",
                   "CONCURRENTLY cannot run inside a transaction: put it in its own migration "
                   "marked '-- transactional: false'") for m in _CONCURRENTLY.finditer(code)]
    out += [Finding(path, _line_of(code, m.start()), "enum-add-value-in-transaction",
                    "the new enum value cannot be used in the same transaction and older servers "
                    "refuse it: put it in a migration marked '-- transactional: false'")
            for m in _ADD_VALUE.finditer(code)]
    return out


def _empty_findings(info: MigrationInfo) -> list[Finding]:
    out = []
    if not info.up_statements():
        out.append(Finding(info.path, 1, "empty-migration",
                           "no statement: write what the migration changes, or delete the file"))
    if info.rollback_path is not None and not info.down_statements():
        out.append(Finding(info.rollback_path, 1, "empty-rollback",
                           f"no statement: write what undoes {info.id}, or delete the file"))
    return out


def _file_findings(info: MigrationInfo) -> list[Finding]:
    up = info.path.read_text()
    out = _directive_findings(info.path, up, rollback=False) + _empty_findings(info)
    if info.transactional:
        out += _transaction_findings(info.path, up)
    if info.rollback_path is None:
        out.append(Finding(info.path, 1, "missing-rollback",
                           f"no {info.id}.rollback.sql beside it: write the down migration"))
    else:
        down = info.rollback_path.read_text()
        out += _directive_findings(info.rollback_path, down, rollback=True)
        if info.transactional:
            out += _transaction_findings(info.rollback_path, down)
    return out


def _order_findings(infos: list[MigrationInfo], url: str) -> list[Finding]:
    from .runner import status

    applied = {s.id for s in status(url, directory=infos[0].path.parent.parent) if not s.pending}
    out = []
    for module in {i.module for i in infos}:
        mine = sorted((i for i in infos if i.module == module), key=lambda i: i.id)
        newest = max((i.id for i in mine if i.id in applied), default="")
        out += [Finding(i.path, 1, "sorts-before-applied",
                        f"{i.id!r} is not applied but sorts before the applied {newest!r}: renumber it "
                        f"after {newest!r}") for i in mine if i.id not in applied and i.id < newest]
    return out


def _squawk_binary() -> str | None:
    beside = Path(sys.executable).with_name("squawk")
    return str(beside) if beside.is_file() else shutil.which("squawk")


def _squawk(binary: str, files: list[Path], *, in_transaction: bool, down: bool) -> list[Finding]:
    if not files:
        return []
    excluded = set(SQUAWK_EXCLUDED) | (SQUAWK_EXCLUDED_DOWN if down else set())
    cmd = [binary, "--reporter", "json", f"--pg-version={SQUAWK_PG_VERSION}",
           f"--exclude={','.join(sorted(excluded))}",
           "--assume-in-transaction" if in_transaction else "--no-assume-in-transaction",
           *map(str, files)]
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    try:
        reports = json.loads(done.stdout or "[]")
    except json.JSONDecodeError:
        raise ToolError(f"squawk failed (exit {done.returncode}): {done.stderr.strip()[:300]}") from None
    return [Finding(Path(r["file"]), int(r["line"]) + 1, r["rule_name"],
                    f"{r['message']} {r.get('help') or ''}".strip(), source="squawk") for r in reports]


def _squawk_findings(infos: list[MigrationInfo]) -> list[Finding] | None:
    binary = _squawk_binary()
    if binary is None:
        return None
    out: list[Finding] = []
    for tx in (True, False):
        ups = [i.path for i in infos if i.transactional is tx]
        downs = [i.rollback_path for i in infos if i.transactional is tx and i.rollback_path]
        out += _squawk(binary, ups, in_transaction=tx, down=False)
        out += _squawk(binary, downs, in_transaction=tx, down=True)
    return out


def _justify(findings: list[Finding]) -> list[Finding]:
    allowances: dict[Path, dict[str, str | None]] = {}
    out = []
    for f in findings:
        if f.path not in allowances:
            allowances[f.path] = {m.group(1): m.group(2) for m in _ALLOW.finditer(f.path.read_text())}
        reason = allowances[f.path].get(f.rule)
        out.append(replace(f, allowed=reason) if reason else f)
    for path, rules in allowances.items():
        out += [Finding(path, 1, "allow-without-reason",
                        f"'-- lint: allow {rule}' needs a reason: '-- lint: allow {rule} -- why'")
                for rule, reason in rules.items() if not reason]
    return out


def lint(directory: Path | None = None, *, url: str | None = None,
         use_squawk: bool = True) -> tuple[list[Finding], bool]:
    """Lint every migration under ``directory``; returns the findings and whether squawk ran.

    With ``url``, also flags unapplied migrations that sort before applied ones.
    """
    infos = load_migrations(directory)
    findings = [f for info in infos for f in _file_findings(info)]
    if url and infos:
        findings += _order_findings(infos, url)
    squawked = _squawk_findings(infos) if use_squawk else None
    if use_squawk and squawked is None:
        logger.warning("squawk is not installed (pip install squawk-cli): only aura-db's own checks ran")
    findings += squawked or []
    return sorted(_justify(findings), key=lambda f: (str(f.path), f.line, f.rule)), squawked is not None
