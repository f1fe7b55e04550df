"""Explanation of governance evidence: each production deployment of the window, what it
shipped, and the changes and commits that make it unreviewed, unlinked or a direct push."""

from __future__ import annotations

from streamgauge.explain.rows import Explanation, Query, iso, ratio
from streamgauge.metrics.governance import KINDS, deployment_evidence


def governance(q: Query) -> Explanation:
    facts, window = q.facts, q.window
    rows = []
    for e in deployment_evidence(facts.dora, facts.links, facts.now):
        if not window.contains(e.finished_at) or not q.wanted(e.group):
            continue
        rows.append(
            {
                "deployment": e.deployment_id,
                "app": e.group[1],
                "finished_at": iso(e.finished_at),
                "shipped": ", ".join(e.shipped),
                **{kind: ", ".join(refs) for kind, refs in e.offenders},
            }
        )
    total = len(rows)
    summary: dict[str, object] = {"deployments": total}
    for kind in KINDS:
        n = sum(1 for r in rows if r[kind])
        summary[f"{kind}_deployments"] = n
        summary[f"{kind}_ratio"] = ratio(n, total)
    return Explanation(
        metric="governance",
        definition=(
            "successful production deployments finished in the window, each with the changes "
            "and direct pushes it first shipped; unreviewed: changes merged without an approving "
            "review, unlinked: changes naming no stored work item, direct_push: commits of no "
            "change; each ratio is the deployments with at least one over all deployments"
        ),
        window=window.label,
        columns=["deployment", "app", "finished_at", "shipped", *KINDS],
        rows=rows,
        summary=summary,
    )


def targets(q: Query) -> Explanation:
    """The configured targets of the team and app asked about, as ``streamgauge_target`` has them."""
    rows = []
    placed = [(team, "", conf.targets) for team, conf in q.settings.teams.items()]
    placed += [
        (q.settings.team_of_app(app) or "", app, conf.targets)
        for app, conf in q.settings.apps.items()
    ]
    for team, app, found in placed:
        if q.team not in ("all", team) or (q.app != "all" and app not in ("", q.app)):
            continue
        for t in found:
            rows.append(
                {
                    "team": team,
                    "app": app,
                    "metric": t.metric,
                    "stage": t.stage or "",
                    "percentile": t.quantile or "",
                    "bound": t.bound,
                    "value": t.value,
                }
            )
    return Explanation(
        metric="targets",
        definition=(
            "the configured targets (teams.*.targets, apps.*.targets): the value in the family's "
            "unit (seconds for times) that the family should stay at most (max) or at least (min)"
        ),
        window=None,
        columns=["team", "app", "metric", "stage", "percentile", "bound", "value"],
        rows=rows,
        summary={"targets": len(rows)},
    )
