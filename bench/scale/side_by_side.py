"""Two scales of `run.py --keep` measured side by side: their send, `prepare_days` and profile shard 0
run alternately (the order flipped each round), each in a fresh process, so that the machine's drift
over a run falls on both scales alike. A single `run.py` measures x100 and x250 twenty minutes apart,
and on a shared 2-core machine that moved their ratio by a third between runs (README, "Scale and
capacity").

    .venv/bin/python bench/scale/run.py --scales 1,100,250 --keep ...
    .venv/bin/python bench/scale/side_by_side.py [--pg-url URL] [--scales 100,250] [--send-rounds 3] [--profile-rounds 2]

Prints one line per task and round, and each round's ratio of the larger scale to the smaller.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from bench.scale.run import (  # noqa: E402
    database_url, in_fresh_process, task_build_shard, task_prepare, task_send, unsend,
)
from marketflow.profiles.settings import ProfileSettings  # noqa: E402


def history_lines(url: str) -> int:
    """The kept shop's order lines before the bench day, which size its shards as `run.py` sized them."""
    from sqlalchemy import create_engine, text

    from bench.scale.run import HISTORY_END

    engine = create_engine(url)
    with engine.connect() as conn:
        lines = conn.execute(text("SELECT count(*) FROM orders WHERE order_date <= :end"), {"end": HISTORY_END}).scalar_one()
    engine.dispose()
    return int(lines)


def alternate(rounds: int, scales: list[int], measure: Any, label: str) -> None:
    """`measure(round, scale)` (seconds) for each scale in each round, the order flipped every other round."""
    for r in range(rounds):
        seconds = {}
        for scale in scales if r % 2 == 0 else scales[::-1]:
            seconds[scale] = measure(r, scale)
        print(f"  {label} round {r}: x{scales[1]} / x{scales[0]} = {seconds[scales[1]] / seconds[scales[0]]:.2f}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pg-url", default=os.environ.get("MARKETFLOW_TEST_PG_URL",
                                                           "postgresql+psycopg2://postgres@127.0.0.1:55432/marketflow"))
    parser.add_argument("--scales", default="100,250", help="two scales whose databases `run.py --keep` left")
    parser.add_argument("--send-rounds", type=int, default=3)
    parser.add_argument("--profile-rounds", type=int, default=2)
    args = parser.parse_args()
    scales = [int(s) for s in args.scales.split(",")]
    if len(scales) != 2:
        parser.error("--scales takes two scales")
    urls = {scale: database_url(args.pg_url, f"bench_scale_x{scale}") for scale in scales}
    shards = {scale: ProfileSettings().shards_for(history_lines(url)) for scale, url in urls.items()}
    print(f"shards: {shards}", flush=True)

    from bench.send.run import SmtpServerProcess

    server = SmtpServerProcess()
    try:
        def send(r: int, scale: int) -> float:
            unsend(urls[scale])
            m = in_fresh_process(task_send, urls[scale], scale, server.port)
            sent = m["result"]["sent"]
            print(f"send x{scale} round {r}: {m['seconds']:.1f} s, {sent:,} e-mails, "
                  f"{1000 * m['cpu_s'] / sent:.2f} ms CPU an e-mail, {m['disk_read_mb']:.0f} MB read", flush=True)
            return m["seconds"]

        alternate(args.send_rounds, scales, send, "send")
    finally:
        server.stop()

    def prepare(r: int, scale: int) -> float:
        p = in_fresh_process(task_prepare, urls[scale], shards[scale])
        s = in_fresh_process(task_build_shard, urls[scale], p["result"], 0)
        print(f"prepare_days x{scale} round {r}: {p['seconds']:.1f} s ({p['cpu_s']:.1f} s CPU, "
              f"{p['disk_read_mb']:.0f} MB read); shard 0: {s['seconds']:.1f} s ({s['cpu_s']:.1f} s CPU, "
              f"{s['disk_read_mb']:.0f} MB read) for {s['result']:,} customers, "
              f"{1000 * s['seconds'] / s['result']:.3f} ms a customer", flush=True)
        return p["seconds"]

    alternate(args.profile_rounds, scales, prepare, "prepare_days")


if __name__ == "__main__":
    main()
