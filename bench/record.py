"""Where every benchmark writes its JSON record: `bench/results/<name>[-<timestamp>].json` (git-ignored)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"


def write_record(name: str, record: dict, *, stamped: bool = True) -> Path:
    """Write `record` (values JSON can't hold, such as dates, as text) and say where."""
    stamp = f"-{dt.datetime.now():%Y%m%d-%H%M%S}" if stamped else ""
    out = RESULTS / f"{name}{stamp}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(record, indent=2, default=str))
    print(f"\nwrote {out.relative_to(RESULTS.parents[1])}")
    return out
