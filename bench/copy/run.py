"""Copy written by the embedded language model, measured on real customers of the demo's warehouse.

For the first N contacted members of a campaign's audience on the warehouse's newest day (as a
preview of that day selects them: real profiles, the recommender's real products), the campaign's
template copy is rendered and the embedded model drafts subject, preheader and intro from the same facts; the
guardrails accept each draft or name every rule it broke (a run would then use the template). Reported: the
acceptance rate, the rejections by rule, the time per generation and per message (a reply is generated
once per distinct prompt and reused; model vs template, same run), the time to draft the same
customers all at once as a render task does (prompts batched) against one message at a time, and a
blind side-by-side file (A/B order shuffled, key at the end) for a person to read.

    make demo    # once: the warehouse this reads
    .venv/bin/python bench/copy/run.py [--warehouse URL] [--campaign cross_sell] [-n 200] [--side-by-side 20]
"""

from __future__ import annotations

import argparse
import platform
import random
import statistics
import sys
import time
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from bench.record import RESULTS, write_record  # noqa: E402

DEMO_WAREHOUSE = f"sqlite:///{REPO / '.airflow' / 'marketflow_warehouse.db'}"


@dataclass(frozen=True)
class Judged:
    """One customer's template copy, the model's draft, and the rules the draft broke."""

    template: Any
    draft: Any
    rules: list[str]


def _newest_profiles_day(engine: Any) -> Any:
    from marketflow.warehouse.schema import customer_profiles
    from sqlalchemy import func, select

    with engine.connect() as conn:
        return conn.execute(select(func.max(customer_profiles.c.as_of_date))).scalar_one()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--warehouse", default=DEMO_WAREHOUSE)
    parser.add_argument("--campaign", default="cross_sell")
    parser.add_argument("-n", type=int, default=200)
    parser.add_argument("--side-by-side", type=int, default=20)
    args = parser.parse_args()

    import torch
    from marketflow.campaigns.config import templates_dir
    from marketflow.campaigns.pipeline import campaign, preview_run
    from marketflow.campaigns.sqlutil import as_date
    from marketflow.copy.embedded import MODEL_NAME, embedded_model
    from marketflow.copy.guardrails import check_copy
    from marketflow.copy.llm import Copywriter, LlmSettings
    from marketflow.copy.render import MessageRenderer
    from marketflow.warehouse import upgrade_to_head, warehouse_engine

    engine = warehouse_engine(args.warehouse)
    upgrade_to_head(engine)  # a warehouse from an older demo: reads need the current schema
    day = as_date(_newest_profiles_day(engine))
    config = campaign(args.campaign)
    email = config.channels.email
    llm = config.message.llm
    writer = Copywriter(LlmSettings.embedded(), shop=(email.from_name if email else "") or "our shop",
                        brief=llm.brief or config.description, limits=llm.limits(), language=config.message.language)
    templates = MessageRenderer(config, templates_dir())

    started = time.perf_counter()
    model = embedded_model()
    load_s = time.perf_counter() - started
    started = time.perf_counter()
    preview = preview_run(engine, config, day, args.n)  # no copywriter: the templates' copy
    template_s = time.perf_counter() - started
    drafts, seconds, generation_s = [], [], []
    for message in preview.messages:
        facts = preview.facts[message.customer_id]
        template = templates.template_copy(facts, message.variant)
        generated_before, started = model.generated, time.perf_counter()
        draft = writer.write(facts, template)
        seconds.append(time.perf_counter() - started)
        if model.generated > generated_before:
            generation_s.append(seconds[-1] / (model.generated - generated_before))
        violations = check_copy(draft, facts.products, **_limits(llm), banned_phrases=llm.banned_phrases,
                                language=config.message.language)
        drafts.append(Judged(template, draft, [v.rule for v in violations]))

    # the same customers drafted at once, as a render task drafts them (prompts batched)
    one_by_one_s, prompts = sum(seconds), model.generated
    model._replies.clear()
    started = time.perf_counter()
    writer.prepare(preview.facts[m.customer_id] for m in preview.messages)
    batched_s = time.perf_counter() - started
    same_texts = [writer.write(preview.facts[m.customer_id], d.template) for m, d in zip(preview.messages, drafts)] == [
        d.draft for d in drafts
    ]

    n = len(drafts)
    accepted = [d for d in drafts if not d.rules]
    reasons = Counter(rule for d in drafts for rule in d.rules)
    first_reasons = Counter(d.rules[0] for d in drafts if d.rules)
    record = {
        "campaign": args.campaign,
        "day": day.isoformat(),
        "model": MODEL_NAME,
        "messages": n,
        "accepted": len(accepted),
        "acceptance_rate": round(len(accepted) / n, 3) if n else None,
        "rejections_by_first_rule": dict(first_reasons.most_common()),
        "rules_broken": dict(reasons.most_common()),
        "model_load_s": round(load_s, 1),
        "distinct_prompts_generated": prompts,
        "seconds_per_generation_median": round(statistics.median(generation_s), 2) if generation_s else None,
        "seconds_per_message": {
            "model_mean": round(sum(seconds) / n, 2),
            "model_first_of_its_prompts_median": round(statistics.median(s for s in seconds if s > 0.05), 2),
            "template": round(template_s / n, 4),
        } if n else None,
        "drafting_all_at_once": {
            "prompts": prompts,
            "one_message_at_a_time_s": round(one_by_one_s, 1),
            "batched_s": round(batched_s, 1),
            "speedup": round(one_by_one_s / batched_s, 1) if batched_s else None,
            "same_texts": same_texts,
        },
        "model_vs_template_time": round((sum(seconds) / n) / (template_s / n), 1) if n else None,
        "threads": torch.get_num_threads(),
        "machine": f"{platform.processor() or platform.machine()}, {__import__('os').cpu_count()} cores",
        "accepted_examples": _distinct([asdict(d.draft) for d in accepted])[:5],
        "rejected_examples": _distinct([{**asdict(d.draft), "rules": d.rules} for d in drafts if d.rules])[:5],
        "drafts": [{**asdict(d.draft), "rules": d.rules} for d in drafts],
    }
    for key, value in record.items():
        if key != "drafts":
            print(f"{key:>24}: {value}")
    out = write_record("copy", record)
    _side_by_side(out.with_suffix(".md"), drafts, args.side_by_side)


def _limits(llm: Any) -> dict[str, int]:
    return {f"max_{part}_chars": limit for part, limit in llm.limits().items()}


def _distinct(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Items in order without repeats (customers with the same facts get the same draft)."""
    seen: list[dict[str, Any]] = []
    for item in items:
        if item not in seen:
            seen.append(item)
    return seen


def _side_by_side(path: Path, drafts: list[Judged], count: int) -> None:
    """Pairs in a shuffled A/B order (seeded), the key at the end, for a blind read; the model's
    draft is shown whether or not the guardrails accepted it (the key says which)."""
    rng = random.Random(7)
    lines, key = ["# Template vs model copy, blind", "", "Which reads better, A or B? The key is at the end.", ""], []
    for index, draft in enumerate(drafts[:count], start=1):
        verdict = "accepted" if not draft.rules else "rejected: " + ", ".join(draft.rules)
        pair = [("template", draft.template), (f"model ({verdict})", draft.draft)]
        rng.shuffle(pair)
        lines.append(f"## {index}")
        for letter, (_, copy) in zip("AB", pair):
            lines += [f"**{letter}.** Subject: {copy.subject}", "", f"Preheader: {copy.preheader}", "", f"> {copy.intro}", ""]
        key.append(f"{index}: A = {pair[0][0]}, B = {pair[1][0]}")
    path.write_text("\n".join(lines + ["---", "Key:", "", *[f"- {k}" for k in key], ""]), encoding="utf-8")
    print(f"wrote {path.relative_to(RESULTS.parents[1])}")


if __name__ == "__main__":
    main()
