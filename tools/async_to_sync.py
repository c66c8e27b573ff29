"""Generate aura-db's synchronous modules from their asynchronous sources.

The async code is the one source (as psycopg keeps its sync classes generated from the async
ones): every ``aura_db/**/NAME_async.py`` is turned into ``NAME_sync.py`` beside it by token
edits that keep the layout and the comments — ``async def`` / ``async with`` / ``async for``
lose ``async``, ``await`` is dropped, and names are mapped:

- ``AsyncX`` -> ``X`` (``AsyncConnection`` -> ``Connection``, ``AsyncDatabase`` -> ``Database``),
  and the few names in :data:`NAMES` (``asynccontextmanager`` -> ``contextmanager``, ...);
- ``X_async`` -> ``X_sync`` (the modules a source imports: the flavours pair up);
- the same in docstrings and comments.

Two line directives cover what has no mechanical twin: a line ending in ``# async-only`` is
left out of the sync module, and ``CODE  # sync: OTHER`` becomes ``OTHER`` there.

    python tools/async_to_sync.py           # (re)generate
    python tools/async_to_sync.py --check   # exit 1, listing them, when a module is stale

tests/test_generated.py runs the check, so CI fails when a sync module was edited by hand or
its source changed without regenerating.
"""

from __future__ import annotations

import io
import keyword
import re
import sys
import tokenize
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "aura_db"
HAND_WRITTEN = {"_compat_async.py"}  # a pair written by hand: the primitives that differ

NAMES = {
    "asynccontextmanager": "contextmanager",
    "AbstractAsyncContextManager": "AbstractContextManager",
    "AsyncExitStack": "ExitStack",
    "aclosing": "closing",
    "__aenter__": "__enter__",
    "__aexit__": "__exit__",
    "__aiter__": "__iter__",
    "__anext__": "__next__",
    "aclose": "close",
    "anext": "next",
    "aiter": "iter",
    # the query runners (aura_db/_query_run_async.py): the async twins sit on the same Query
    "amany": "many",
    "amany_planned": "many_planned",
    "_amany": "_many",
    "aone": "one",
    "aoptional": "optional",
    "ascalar": "scalar",
    "aexecute": "execute",
    "aaffected": "affected",
    "aexecute_many": "execute_many",
    "ascript": "script",
    "acopy_in": "copy_in",
    "_asingle": "_single",
    "_acursor": "_cursor",
    "_atyped": "_typed",
}
_ASYNC_CLASS = re.compile(r"^Async([A-Z]\w*)$")
_WORD = re.compile(r"\b(?:Async([A-Z]\w*)|(\w+)_async|(" + "|".join(map(re.escape, NAMES)) + r"))\b")
_TEXT_KEYWORDS = re.compile(r"\basync (?=def\b|with\b|for\b)|\bawait (?=\S)")
# docstrings, comments and (from Python 3.12 on) the literal parts of f-strings
_TEXT_TOKENS = {tokenize.STRING, tokenize.COMMENT, getattr(tokenize, "FSTRING_MIDDLE", tokenize.STRING)}
_LAYOUT = {tokenize.NL, tokenize.COMMENT, tokenize.INDENT, tokenize.DEDENT, tokenize.ENDMARKER}
HEADER = ("# WARNING: generated from {source} by tools/async_to_sync.py: do not edit.\n"
          "# Change the async source and run `python tools/async_to_sync.py`.\n")


def rename(name: str) -> str:
    """The sync name of an identifier."""
    if name in NAMES:
        return NAMES[name]
    if m := _ASYNC_CLASS.match(name):
        return m.group(1)
    if name.endswith("_async"):
        return name[: -len("_async")] + "_sync"
    return name


def _text(text: str) -> str:
    """Names (and async keywords) mapped inside a docstring or a comment."""
    text = _TEXT_KEYWORDS.sub("", text)
    return _WORD.sub(lambda m: rename(m.group(0)), text)


def convert(source: str, name: str) -> str:
    """The sync module for the async module text ``source`` (file name ``name``)."""
    lines = source.splitlines(keepends=True)
    starts = [0]
    for line in lines:
        starts.append(starts[-1] + len(line))

    def offset(pos: tuple[int, int]) -> int:
        return starts[pos[0] - 1] + pos[1]

    edits: list[tuple[int, int, str]] = []
    removed: dict[int, list[tuple[int, int]]] = {}  # row -> (column, length) of cut keywords
    logical_start: int | None = None  # first row of the logical line being read
    tokens = list(tokenize.generate_tokens(io.StringIO(source).readline))
    for i, tok in enumerate(tokens):
        nxt = tokens[i + 1] if i + 1 < len(tokens) else None
        if tok.type == tokenize.NEWLINE:
            if logical_start is not None and removed:
                edits.extend(_realign(lines, removed, logical_start, tok.end[0], offset))
            removed, logical_start = {}, None
            continue
        if logical_start is None and tok.type not in _LAYOUT:
            logical_start = tok.start[0]
        if tok.type == tokenize.OP and tok.string == "(" and nxt is not None and nxt.string == "await":
            close = _redundant_parens(tokens, i)
            if close is not None:  # ``(await x).y`` -> ``x.y``, not ``(x).y``
                edits.append((offset(tok.start), offset(tok.end), ""))
                edits.append((offset(close.start), offset(close.end), ""))
                removed.setdefault(tok.start[0], []).append((tok.start[1], 1))
        if tok.type == tokenize.NAME:
            if tok.string == "await" or (tok.string == "async" and nxt is not None
                                         and nxt.string in ("def", "with", "for")):
                assert nxt is not None
                edits.append((offset(tok.start), offset(nxt.start), ""))
                if nxt.start[0] == tok.start[0]:
                    removed.setdefault(tok.start[0], []).append((tok.start[1], nxt.start[1] - tok.start[1]))
            elif (new := rename(tok.string)) != tok.string:
                edits.append((offset(tok.start), offset(tok.end), new))
                if len(new) < len(tok.string):  # ``aone(`` -> ``one(``: realign as for a keyword
                    removed.setdefault(tok.start[0], []).append((tok.start[1], len(tok.string) - len(new)))
        elif tok.type in _TEXT_TOKENS and (new := _text(tok.string)) != tok.string:
            edits.append((offset(tok.start), offset(tok.end), new))
    out = source
    for start, end, new in sorted(edits, reverse=True):
        out = out[:start] + new + out[end:]
    result = []
    for line in out.splitlines(keepends=True):
        if line.rstrip().endswith("# async-only"):
            continue
        code, directive, other = line.rpartition("# sync: ")
        if directive:
            line = code[: len(code) - len(code.lstrip())] + other.rstrip() + "\n"
        result.append(line)
    return HEADER.format(source=name) + "".join(result)


def _redundant_parens(tokens: list[tokenize.TokenInfo], i: int) -> tokenize.TokenInfo | None:
    """The ``)`` closing the ``(`` at ``tokens[i]`` when the pair only groups an ``await``
    expression (not a call's, not a tuple's), so the sync code needs no brackets there."""
    before = next((t for t in reversed(tokens[:i]) if t.type not in _LAYOUT), None)
    if before is not None and (before.string in (")", "]", "}") or (
            before.type == tokenize.NAME and not keyword.iskeyword(before.string))):
        return None  # a call's brackets
    depth = 0
    for tok in tokens[i:]:
        if tok.type != tokenize.OP:
            continue
        if tok.string in "([{":
            depth += 1
        elif tok.string in ")]}":
            depth -= 1
            if depth == 0:
                return tok
        elif depth == 1 and tok.string in (",", ":="):
            return None  # a tuple, or a name bound where the brackets matter
    return None


def _realign(lines: list[str], removed: dict[int, list[tuple[int, int]]], first: int, last: int,
             offset: Callable[[tuple[int, int]], int]) -> list[tuple[int, int, str]]:
    """Keep continuation lines aligned with the bracket they were aligned with when keywords
    before that bracket are cut (``async def f(a,`` / ``           b)``)."""
    edits = []
    for row in range(first + 1, last + 1):
        line = lines[row - 1]
        indent = len(line) - len(line.lstrip(" "))
        for above in range(row - 1, first - 1, -1):
            opener = lines[above - 1]
            if indent and len(opener) >= indent and opener[indent - 1] in "([{":
                shift = sum(n for col, n in removed.get(above, ()) if col < indent - 1)
                if shift:
                    edits.append((offset((row, 0)), offset((row, shift)), ""))
                break
    return edits


def sources() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*_async.py") if p.name not in HAND_WRITTEN)


def target(source: Path) -> Path:
    return source.with_name(source.name[: -len("_async.py")] + "_sync.py")


def stale() -> list[tuple[Path, str]]:
    """The sync modules that differ from what their sources generate, with the right text."""
    out = []
    for src in sources():
        text = convert(src.read_text(), src.name)
        dest = target(src)
        if not dest.exists() or dest.read_text() != text:
            out.append((dest, text))
    return out


def main(argv: list[str]) -> int:
    todo = stale()
    if "--check" in argv:
        for dest, _ in todo:
            print(f"{dest.relative_to(ROOT)} is stale: run python tools/async_to_sync.py")
        return 1 if todo else 0
    for dest, text in todo:
        dest.write_text(text)
        print(f"wrote {dest.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
