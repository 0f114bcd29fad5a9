"""Source adapters benchmark: lines/s adapting and parsing the same real days written as each
platform's export, as a ratio to the shop's own layout (the baseline, same run, same purchases).

The days are rewritten by the tests' converters (`tests/ingest/source_exports.py`): Shopify's orders
export (79 columns, an order's fields on its first row) and a WooCommerce export read through
`include/sources/woocommerce.yaml`. Only reading, adapting and parsing are timed: validation and the
warehouse write are the same code for every source (`bench/ingest/run.py` measures them).

    .venv/bin/python bench/ingest/sources.py [--data DIR] [--days N]
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))  # for tests.ingest.source_exports

from bench.record import write_record  # noqa: E402
from marketflow.ingest.parsing import parse_orders  # noqa: E402
from marketflow.ingest.sources import mapped, online_retail, shopify  # noqa: E402
from tests.ingest.source_exports import as_shopify_orders, as_woocommerce_orders  # noqa: E402

DEFAULT_DATA = REPO.parent / "shared" / "data" / "online-retail" / "by-day"


def _rate(files: list[bytes], read) -> tuple[float, int]:
    """(seconds, rows) to adapt and parse every file."""
    rows = 0
    started = time.perf_counter()
    for content in files:
        rows += len(parse_orders(read(content, "bench.csv"), "GBP", {}))
    return time.perf_counter() - started, rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=Path(os.environ.get("MARKETFLOW_REAL_DATA", DEFAULT_DATA)))
    parser.add_argument("--days", type=int, default=60, help="the last N day files of the history")
    args = parser.parse_args()
    paths = sorted(args.data.glob("????-??-??.csv"))[-args.days:]
    uk = [path.read_bytes() for path in paths]
    emails = {}  # customers by e-mail: any stable address per customer will do for timing
    for content in uk:
        for line in content.decode().splitlines()[1:]:
            customer = line.rsplit(",", 2)[-2].removesuffix(".0")
            if customer:
                emails[customer] = f"customer{customer}@example.com"
    exports = {
        "online_retail": (uk, lambda content, url: online_retail.read_orders(content, url, "GBP")),
        "shopify": ([as_shopify_orders(c, emails) for c in uk], shopify.read_orders),
        "mapped": (
            [as_woocommerce_orders(c) for c in uk],
            lambda content, url, m=mapped.load_mapping(str(REPO / "include" / "sources" / "woocommerce.yaml")):
                mapped.read_orders(content, url, m, "GBP"),
        ),
    }
    results = {}
    for name, (files, read) in exports.items():
        _rate(files[:2], read)  # warm-up: imports and caches
        seconds, rows = _rate(files, read)
        results[name] = {"seconds": round(seconds, 3), "rows": rows, "rows_per_s": round(rows / seconds)}
    baseline = results["online_retail"]["rows_per_s"]
    print(f"{len(paths)} days, {paths[0].stem}..{paths[-1].stem}")
    print(f"{'source':<14}{'rows':>9}{'seconds':>9}{'rows/s':>10}{'vs layout':>11}")
    for name, result in results.items():
        result["ratio_to_layout"] = round(result["rows_per_s"] / baseline, 2)
        print(f"{name:<14}{result['rows']:>9}{result['seconds']:>9}{result['rows_per_s']:>10}{result['ratio_to_layout']:>10}x")
    write_record("ingest-sources", {"machine": platform.platform(), "days": len(paths), "results": results})


if __name__ == "__main__":
    main()
