"""The command line: serve, sync, report, explain, check-config, backfill, replay."""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from types import FrameType
from typing import Any

from streamgauge import __version__
from streamgauge.config import ConfigError, Settings, load_settings
from streamgauge.logs import setup_logging

log = logging.getLogger("streamgauge")

EXIT_CONFIG = 2
EXIT_SYNC_FAILED = 1


def embedded_demo_config() -> Path:
    """The demo configuration shipped inside the package: the default when none is given."""
    return Path(str(resources.files("streamgauge") / "demo.yaml"))


def _parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--config",
        type=Path,
        help="YAML configuration file (default: $STREAMGAUGE_CONFIG, else the built-in demo)",
    )
    common.add_argument(
        "--data-dir", type=Path, help="folder for the SQLite store (overrides data_dir)"
    )
    common.add_argument("--log-level", choices=["DEBUG", "INFO", "WARNING", "ERROR"])

    parser = argparse.ArgumentParser(
        prog="streamgauge",
        description="DORA and flow metrics from your delivery toolchain, for Prometheus.",
    )
    parser.add_argument("--version", action="version", version=f"streamgauge {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = commands.add_parser(
        "serve",
        parents=[common],
        help="sync on a schedule and serve /metrics, /healthz, /readyz and /webhooks/<source>",
    )
    serve.add_argument("--host", help="address to listen on (overrides server.host)")
    serve.add_argument("--port", type=int, help="port to listen on (overrides server.port)")

    sync = commands.add_parser("sync", parents=[common], help="sync sources once, then compute")
    sync.add_argument("--source", action="append", help="only this source (repeatable)")

    report = commands.add_parser(
        "report", parents=[common], help="current metrics per team and app as a table"
    )
    report.add_argument("--json", action="store_true", help="machine-readable output")
    report.add_argument("--window", help="only this window, e.g. 30d")

    explain = commands.add_parser(
        "explain", parents=[common], help="the records behind a metric, one row each"
    )
    explain.add_argument("metric", help="e.g. change_failure_rate, change_lead_time, flow_time")
    explain.add_argument("--team", default="all", help="only this team (default all)")
    explain.add_argument("--app", default="all", help="only this app (default all)")
    explain.add_argument("--window", help="window, e.g. 30d (default: the first configured)")
    explain.add_argument("--json", action="store_true", help="machine-readable output")

    replay = commands.add_parser(
        "replay",
        parents=[common],
        help="normalize a webhook source's kept events again, e.g. after a mapping change",
    )
    replay.add_argument("--source", required=True, help="the webhook source")
    replay.add_argument(
        "--status",
        choices=["malformed", "ignored", "normalized"],
        default="malformed",
        help="which kept events (default malformed)",
    )

    commands.add_parser(
        "check-config", parents=[common], help="validate the configuration and list every problem"
    )

    unmapped = commands.add_parser(
        "unmapped",
        parents=[common],
        help="statuses and issue types no mapping rule covers, with counts",
    )
    unmapped.add_argument("--json", action="store_true", help="machine-readable output")

    backfill = commands.add_parser(
        "backfill",
        parents=[common],
        help="past metric values as timestamped OpenMetrics for promtool tsdb create-blocks",
    )
    backfill.add_argument("--since", default="90d", help="how far back to start (default 90d)")
    backfill.add_argument("--step", default="1h", help="time between two moments (default 1h)")
    backfill.add_argument(
        "--stop-before",
        default="3h",
        help="end this long before now; Prometheus's head block holds the recent hours (default 3h)",
    )
    backfill.add_argument(
        "--label",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="label added to every sample; match your scrape's job and instance (default "
        "job=streamgauge)",
    )
    backfill.add_argument("--out", type=Path, required=True, help="OpenMetrics file to write")
    return parser


def _settings(args: argparse.Namespace) -> Settings:
    overrides: dict[str, Any] = {}
    if args.data_dir is not None:
        overrides["data_dir"] = args.data_dir
    if args.log_level is not None:
        overrides["log_level"] = args.log_level
    server: dict[str, Any] = {}
    if getattr(args, "host", None) is not None:
        server["host"] = args.host
    if getattr(args, "port", None) is not None:
        server["port"] = args.port
    if server:
        overrides["server"] = server
    path = args.config
    if path is None and not _env_config():
        path = embedded_demo_config()
    return load_settings(path, overrides=overrides)


def _env_config() -> bool:
    return bool(os.environ.get("STREAMGAUGE_CONFIG"))


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        settings = _settings(args)
    except ConfigError as exc:
        print("configuration problems:", file=sys.stderr)
        for problem in exc.problems:
            print(f"  {problem}", file=sys.stderr)
        return EXIT_CONFIG
    setup_logging(settings)
    handler = {
        "serve": cmd_serve,
        "sync": cmd_sync,
        "report": cmd_report,
        "explain": cmd_explain,
        "check-config": cmd_check_config,
        "unmapped": cmd_unmapped,
        "backfill": cmd_backfill,
        "replay": cmd_replay,
    }[args.command]
    try:
        return handler(settings, args)
    except KeyboardInterrupt:
        return 130


def cmd_check_config(settings: Settings, args: argparse.Namespace) -> int:
    sources = ", ".join(f"{s.name} ({s.type})" for s in settings.sources) or "none"
    print(f"configuration is valid; sources: {sources}; store: {_store_label(settings)}")
    return 0


def cmd_unmapped(settings: Settings, args: argparse.Namespace) -> int:
    from dataclasses import asdict

    from streamgauge.connectors.jira import unmapped_report
    from streamgauge.store import Store

    with Store.open(settings.store_url) as store:
        entries = unmapped_report(store, settings)
    if args.json:
        json.dump([asdict(e) for e in entries], sys.stdout, indent=2)
        print()
    elif not entries:
        print("every stored status and issue type is mapped")
    else:
        print(f"{'source':<12} {'what':<7} {'project':<10} {'issues':>7}  name")
        for e in entries:
            print(f"{e.source:<12} {e.what:<7} {e.project:<10} {e.issues:>7}  {e.name}")
        print("map them under the source's mapping rules (see docs/jira.md), then sync again")
    return 0


def _store_label(settings: Settings) -> str:
    url = settings.store_url
    # Never print a password that a PostgreSQL URL may carry.
    if "@" in url:
        scheme, _, rest = url.partition("://")
        return f"{scheme}://…@{rest.rpartition('@')[2]}"
    return url


def cmd_sync(settings: Settings, args: argparse.Namespace) -> int:
    from streamgauge.app import App
    from streamgauge.progress import ProgressLine

    app = App(settings)
    try:
        names = args.source or list(app.connectors)
        unknown = [n for n in names if n not in app.connectors]
        if unknown:
            known = ", ".join(app.connectors) or "none"
            print(
                f"sources: no enabled source named {', '.join(unknown)} (known: {known})",
                file=sys.stderr,
            )
            return EXIT_CONFIG
        failed = 0
        for name in names:
            with ProgressLine(name, sys.stderr) as line:
                outcome = app.sync(name, progress=line.update)
            if outcome.ok:
                w = outcome.written
                print(
                    f"{name}: {w.inserted} new, {w.updated} changed, {w.unchanged} unchanged, "
                    f"{outcome.skipped} skipped"
                )
            else:
                failed += 1
                print(f"{name}: sync failed: {outcome.error}", file=sys.stderr)
        snapshot = app.recompute()
        print(
            f"metrics computed at {snapshot.computed_at.isoformat()} "
            f"({len(snapshot.samples)} values)"
        )
        return EXIT_SYNC_FAILED if failed else 0
    finally:
        app.close()


def cmd_report(settings: Settings, args: argparse.Namespace) -> int:
    from streamgauge.app import App
    from streamgauge.report import report_rows, write_table

    app = App(settings)
    try:
        snapshot = app.recompute()
    finally:
        app.close()
    rows = report_rows(snapshot, settings, window=args.window)
    if args.json:
        json.dump(
            {"computed_at": snapshot.computed_at.isoformat(), "rows": rows}, sys.stdout, indent=2
        )
        print()
    else:
        write_table(rows, sys.stdout)
    return 0


def cmd_explain(settings: Settings, args: argparse.Namespace) -> int:
    from streamgauge import explain
    from streamgauge.metrics import compute_facts
    from streamgauge.store import Store

    with Store.open(settings.store_url) as store:
        dataset = store.load_dataset()
    now = datetime.now(UTC)
    facts = compute_facts(dataset, now=now, settings=settings)
    try:
        found = explain.explain(
            facts, args.metric, settings, team=args.team, app=args.app, window=args.window
        )
    except ValueError as exc:
        print(exc, file=sys.stderr)
        return EXIT_CONFIG
    if args.json:
        json.dump(found.to_json(), sys.stdout, indent=2)
        print()
    else:
        explain.write_table(found, sys.stdout)
    return 0


def cmd_serve(settings: Settings, args: argparse.Namespace) -> int:
    from streamgauge.app import App
    from streamgauge.exposition.http import WebApp, make_server, stop_server
    from streamgauge.scheduler import Scheduler

    app = App(settings)
    server = make_server(
        WebApp(
            app.exposition,
            app.readiness,
            webhooks=app.intakes,
            live=app.webhook_counters if app.intakes else None,
        ),
        host=settings.server.host,
        port=settings.server.port,
        threads=settings.server.threads,
    )
    scheduler = Scheduler(app)

    def stop(signum: int, frame: FrameType | None) -> None:
        log.info("signal %d: stopping", signum)
        app.stop.set()
        stop_server(server)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    scheduler.start()
    log.info(
        "serving on http://%s:%d/metrics (store %s)",
        settings.server.host,
        settings.server.port,
        _store_label(settings),
    )
    try:
        server.run()
    finally:
        scheduler.shutdown()
        app.close()
        log.info("stopped")
    return 0


def cmd_replay(settings: Settings, args: argparse.Namespace) -> int:
    from streamgauge.app import App

    app = App(settings)
    try:
        if args.source not in app.intakes:
            known = ", ".join(app.intakes) or "none"
            print(
                f"--source: no enabled webhook source named {args.source} (known: {known})",
                file=sys.stderr,
            )
            return EXIT_CONFIG
        requeued = app.store.requeue_events(args.source, args.status)
        outcome = app.sync(args.source)
        if not outcome.ok:
            print(f"{args.source}: normalizing failed: {outcome.error}", file=sys.stderr)
            return EXIT_SYNC_FAILED
        w = outcome.written
        print(
            f"{args.source}: {requeued} {args.status} events normalized again: "
            f"{w.inserted} new, {w.updated} changed, {w.unchanged} unchanged records, "
            f"{outcome.skipped} still malformed"
        )
        return 0
    finally:
        app.close()


def cmd_backfill(settings: Settings, args: argparse.Namespace) -> int:
    from streamgauge.backfill import run_backfill

    return run_backfill(settings, args)
