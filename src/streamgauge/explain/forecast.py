"""Explanation of the forecasts: the daily throughput sampled, the trials, and each percentile,
for the team asked about (``all``: every team) and every flow item type."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from streamgauge.config_forecast import MAX_DAYS, confidence_label, horizon_label
from streamgauge.explain.rows import Explanation, Query, iso
from streamgauge.metrics.forecast import TYPES, forecasts
from streamgauge.metrics.frames import frames_of
from streamgauge.metrics.stage_metrics import kept_names


def forecast(q: Query) -> Explanation:
    facts, config = q.facts, q.settings.forecast
    kept = kept_names(facts.streams, q.settings.metrics.stage_labels)
    frames = frames_of(facts.dora, facts.incident_fixes, facts.flows, facts.streams, kept)
    found = forecasts(facts.flows, frames.done, config, now=facts.now)
    history = config.history.days
    rows: list[dict[str, Any]] = []
    throughput = []
    for kind in TYPES:
        daily = found.throughput.get((q.team, kind))
        if daily is None:
            continue
        guard = not daily.any()
        for h in config.horizon_days:
            row: dict[str, Any] = {"type": kind, "forecast": "items", "horizon": horizon_label(h)}
            for c in config.confidences:
                row[confidence_label(c)] = found.items.get((q.team, kind, h, c))
            row["why"] = "no item done in the history: 0 forecast" if guard else ""
            rows.append(row)
        for backlog in config.backlogs:
            n = found.backlogs.get((q.team, kind, backlog.name))
            if n is None:
                continue
            row = {"type": kind, "forecast": "days", "backlog": backlog.name, "items_now": n}
            for c in config.confidences:
                row[confidence_label(c)] = found.days.get((q.team, kind, backlog.name, c))
            if n and guard:
                row["why"] = "no item done in the history: no date can be forecast"
            elif any(row[confidence_label(c)] is None for c in config.confidences):
                row["why"] = f"beyond {MAX_DAYS} days (the longest simulated) in those trials"
            else:
                row["why"] = ""
            rows.append(row)
        first_day = facts.now - timedelta(days=history)
        throughput.append(
            {
                "type": kind,
                "items_done": int(daily.sum()),
                "zero_days": int((daily == 0).sum()),
                "mean_per_day": float(daily.mean()),
                "daily_oldest_first": " ".join(str(int(v)) for v in daily),
                "from_at": iso(first_day),
            }
        )
    columns = ["type", "forecast", "horizon", "backlog", "items_now"]
    columns += [confidence_label(c) for c in config.confidences] + ["why"]
    return Explanation(
        "forecast",
        f"Monte Carlo over daily throughput: {config.trials} trials each draw every future day's "
        f"items from the {history} days (24 h each, ending at now, zero days included) of the "
        "team and type, with replacement (seeded); items by a horizon at confidence c is the "
        "largest count at least c of the trials reach (sorted totals x, x[T - ceil(cT)]); days "
        "until a backlog's items now are done is the smallest day by which at least c of the "
        f"trials are done (sorted days D, D[ceil(cT) - 1]), at most {MAX_DAYS} days simulated",
        None,
        columns,
        [{c: row.get(c) for c in columns} for row in rows],
        {
            "history_days": history,
            "trials": config.trials,
            "seed": config.seed,
            "horizons": " ".join(horizon_label(h) for h in config.horizon_days),
            "confidences": " ".join(confidence_label(c) for c in config.confidences),
        },
        {"throughput": throughput},
    )
