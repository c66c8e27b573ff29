"""A lexer for PostgreSQL statement text, just deep enough to find ``%(name)s`` parameters.

It skips what can hide a ``%(``, a ``;`` or a ``$1``: string literals (``'...'`` with doubled
quotes, ``E'...'`` with backslash escapes), quoted identifiers, dollar-quoted strings
(``$tag$...$tag$``) and comments (``--`` and nested ``/* */``). Everything else — ``::casts``,
array slices ``a[1:3]``, a ``%`` operator or a ``%`` inside a ``LIKE`` pattern — passes through
untouched, because queries are sent with native ``$n`` placeholders and nothing is rewritten.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from .errors import QueryFileError

__all__ = ["Scan", "compile_params", "scan"]

Fail = Callable[[str, int], QueryFileError]  # message, offset -> the error to raise

IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_PARAM = re.compile(r"%\((?P<name>[^)]*)\)s")
_DOLLAR_TAG = re.compile(r"\$(?:[A-Za-z_\x80-\uffff][A-Za-z0-9_\x80-\uffff]*)?\$")

@dataclass
class Scan:
    params: list[tuple[int, int, str]]  # (start, end, name) of each %(name)s in code
    has_code: bool
    extra_statement_at: int | None
    trailing_semicolon: int | None


def scan(src: str, file: str, first_line: int) -> Scan:
    """Walk PostgreSQL text, skipping strings, quoted identifiers, dollar quotes and comments;
    collect ``%(name)s`` placeholders that stand in code."""
    result = Scan(params=[], has_code=False, extra_statement_at=None, trailing_semicolon=None)
    i, n = 0, len(src)
    after_semicolon: int | None = None

    def fail(message: str, at: int) -> QueryFileError:
        return QueryFileError(message, file=file, line=first_line + src.count("\n", 0, at))

    def code_seen(at: int) -> None:
        nonlocal after_semicolon
        if after_semicolon is not None and result.extra_statement_at is None:
            result.extra_statement_at = at
        result.has_code = True

    while i < n:
        ch = src[i]
        if ch.isspace():
            i += 1
        elif src.startswith("--", i):
            j = src.find("\n", i)
            i = n if j < 0 else j + 1
        elif src.startswith("/*", i):
            i = _skip_block_comment(src, i, fail)
        elif ch == "'" or (ch in "eE" and src.startswith("'", i + 1) and not _word_before(src, i)):
            code_seen(i)
            escapes = ch != "'"
            i = _skip_quoted(src, i + (1 if escapes else 0), "'", escapes, fail)
        elif ch == '"':
            code_seen(i)
            i = _skip_quoted(src, i, '"', False, fail)
        elif ch == "$" and (m := _DOLLAR_TAG.match(src, i)) and not _word_before(src, i):
            code_seen(i)
            close = src.find(m.group(0), m.end())
            if close < 0:
                raise fail(f"unterminated dollar-quoted string {m.group(0)}", i)
            i = close + len(m.group(0))
        elif ch == "$" and i + 1 < n and src[i + 1].isdigit() and not _word_before(src, i):
            raise fail("positional $n parameters are not allowed: write %(name)s", i)
        elif ch == "%" and src.startswith("%(", i):
            m = _PARAM.match(src, i)
            if m is None:
                raise fail("malformed parameter: write %(name)s", i)
            if not IDENT.match(m.group("name")):
                raise fail(f"parameter name {m.group('name')!r} is not an identifier", i)
            code_seen(i)
            result.params.append((i, m.end(), m.group("name")))
            i = m.end()
        elif ch == ";":
            if after_semicolon is None:
                result.trailing_semicolon = i
            after_semicolon = i
            i += 1
        else:
            code_seen(i)
            i += 1
            # consume the rest of a word at once (keeps `E'...'` detection honest)
            while i < n and (src[i].isalnum() or src[i] == "_"):
                i += 1
    if result.extra_statement_at is None and after_semicolon is not None:
        result.trailing_semicolon = after_semicolon
    return result


def _word_before(src: str, i: int) -> bool:
    return i > 0 and (src[i - 1].isalnum() or src[i - 1] == "_")


def _skip_block_comment(src: str, i: int, fail: Fail) -> int:
    depth, j = 0, i
    while j < len(src):
        if src.startswith("/*", j):
            depth += 1
            j += 2
        elif src.startswith("*/", j):
            depth -= 1
            j += 2
            if depth == 0:
                return j
        else:
            j += 1
    raise fail("unterminated /* comment", i)


def _skip_quoted(src: str, i: int, quote: str, escapes: bool, fail: Fail) -> int:
    j = i + 1
    while j < len(src):
        ch = src[j]
        if escapes and ch == "\\":
            j += 2
        elif ch == quote:
            if src.startswith(quote, j + 1):
                j += 2  # doubled quote
            else:
                return j + 1
        else:
            j += 1
    what = "quoted identifier" if quote == '"' else "string literal"
    raise fail(f"unterminated {what}", i)


def compile_params(src: str, scan: Scan) -> tuple[str, tuple[str, ...], tuple[tuple[int, int], ...]]:
    """Replace each ``%(name)s`` with ``$n`` (one number per distinct name), drop a trailing
    semicolon, and keep (compiled offset, source offset) pairs for error positions."""
    numbers: dict[str, int] = {}
    out: list[str] = []
    offsets: list[tuple[int, int]] = [(0, 0)]
    pos = compiled_len = 0
    for start, end, name in scan.params:
        out.append(src[pos:start])
        compiled_len += start - pos
        number = numbers.setdefault(name, len(numbers) + 1)
        out.append(f"${number}")
        compiled_len += len(f"${number}")
        offsets.append((compiled_len, end))
        pos = end
    tail = src[pos:]
    if scan.trailing_semicolon is not None and scan.extra_statement_at is None:
        cut = scan.trailing_semicolon - pos
        if cut >= 0:
            tail = tail[:cut] + tail[cut + 1:]
    out.append(tail)
    text = "".join(out).rstrip()
    lead = len(text) - len(text.lstrip())
    shifted = [(0, lead)] + [(c - lead, s) for c, s in offsets[1:]]
    return text[lead:], tuple(numbers), tuple(shifted)
