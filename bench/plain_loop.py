"""The plain fetch-and-store loop that `sync_bench.py` times against `syncpay sync`.

    python bench/plain_loop.py --env-file F --workers N IDS_FILE

A naive asyncio program, no queue: one aiohttp session (N connections), a semaphore of
N, and per student GET the answer, the same parse and totals as a sync, and the same
UPDATE (`siswa_store_payment`) in a transaction of its own (one commit per student).
Its start-up (imports, connecting) is part of what the bench times, as for syncpay.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import sys
from datetime import date
from pathlib import Path
from urllib.parse import quote

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import aiohttp

from syncpay.config import load_settings
from syncpay.db import connect
from syncpay.sync.money import compute_totals
from syncpay.sync.parsers import parse_flat


async def run(env_file: str, workers: int, ids: list[str]) -> int:
    settings = load_settings(env_file=env_file, environ={})
    db = await connect(settings)
    template = settings.payment_api_url
    today = date.today()
    gate = asyncio.Semaphore(workers)
    failed = 0
    connector = aiohttp.TCPConnector(limit=workers)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def one(idperson: str) -> None:
            nonlocal failed
            async with gate:
                url = template.replace("{idperson}", quote(idperson, safe=""))
                async with session.get(url) as response:
                    if response.status != 200:
                        failed += 1
                        return
                    text = await response.text()
                totals = compute_totals(parse_flat(text).items, today)
                row = {
                    k: (str(v) if not isinstance(v, bool) else int(v))
                    for k, v in totals.as_row().items()
                }
                digest = hashlib.sha256(text.encode()).hexdigest()
                params = {"idperson": idperson, "pembayaran": text, "hash": digest, **row}
                await db.transact(lambda tx: tx.execute("siswa_store_payment", params))

        await asyncio.gather(*(one(i) for i in ids))
    await db.close()
    return failed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env-file", required=True)
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument("ids", help="a file of student ids, one a line")
    args = parser.parse_args()
    ids = Path(args.ids).read_text(encoding="utf-8").split()
    failed = asyncio.run(run(args.env_file, args.workers, ids))
    if failed:
        print(f"{failed} students failed", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
