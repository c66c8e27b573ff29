"""The sync flavour is generated from the async one (tools/async_to_sync.py): CI fails when a
generated module is stale — edited by hand, or its source changed without regenerating — and
the generator's rewrites are checked on small sources."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tools.async_to_sync import ROOT, convert, sources, stale, target


def test_every_sync_module_matches_its_async_source() -> None:
    assert sources(), "no async sources found"
    assert [str(dest.relative_to(ROOT)) for dest, _ in stale()] == []
    for src in sources():
        assert target(src).read_text().startswith("# WARNING: generated from " + src.name)


def test_the_check_command_fails_on_a_stale_module(tmp_path: Path) -> None:
    script = ROOT / "tools" / "async_to_sync.py"
    ok = subprocess.run([sys.executable, str(script), "--check"], capture_output=True, text=True)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    victim = target(sources()[0])
    original = victim.read_text()
    try:
        victim.write_text(original + "# edited by hand\n")
        bad = subprocess.run([sys.executable, str(script), "--check"], capture_output=True, text=True)
        assert bad.returncode == 1
        assert f"{victim.relative_to(ROOT)} is stale" in bad.stdout
    finally:
        victim.write_text(original)


def _body(text: str) -> str:
    return text.split("\n", 2)[2]  # without the two header lines


def test_keywords_names_and_directives_are_rewritten() -> None:
    source = (
        "from contextlib import asynccontextmanager\n"
        "from .pool_async import AsyncPool\n"
        "\n"
        "\n"
        "@asynccontextmanager\n"
        "async def borrow(pool: AsyncPool,\n"
        "                 timeout: float) -> None:\n"
        '    """Borrow from an AsyncPool: ``await pool.getconn()``."""\n'
        "    async with pool.connection() as conn:  # an AsyncConnection\n"
        "        rows = (await q.amany(conn, row))[0]\n"
        "        await asyncio.sleep(0)  # async-only\n"
        "        x = await run()  # sync: x = run_now()\n"
        "        async for r in (await conn.execute('SELECT 1')):\n"
        "            pass\n"
        "        t = (await a, b)\n"
        "        f(await g())\n"
    )
    assert _body(convert(source, "m_async.py")) == (
        "from contextlib import contextmanager\n"
        "from .pool_sync import Pool\n"
        "\n"
        "\n"
        "@contextmanager\n"
        "def borrow(pool: Pool,\n"
        "           timeout: float) -> None:\n"
        '    """Borrow from an Pool: ``pool.getconn()``."""\n'
        "    with pool.connection() as conn:  # an Connection\n"
        "        rows = q.many(conn, row)[0]\n"
        "        x = run_now()\n"
        "        for r in conn.execute('SELECT 1'):\n"
        "            pass\n"
        "        t = (a, b)\n"
        "        f(g())\n"
    )
