"""The command line: serve, demo, sync, report, explain, map, check-config, unmapped, jobs,
skipped, replay, backfill, healthcheck."""

from __future__ import annotations

import argparse
import errno
import json
import logging
import os
import signal
import sys
import threading
from collections.abc import Sequence
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from types import FrameType
from typing import Any

from streamgauge import __version__
from streamgauge.config import (
    ConfigError,
    Settings,
    format_duration,
    load_settings,
    parse_duration,
)
from streamgauge.config_problems import did_you_mean
from streamgauge.logs import redact, secrets_of, setup_logging

log = logging.getLogger("streamgauge")

EXIT_CONFIG = 2
EXIT_FAILED = 1  # a run that failed: a source's sync, the store, a taken port
EXIT_SYNC_FAILED = EXIT_FAILED  # the older name, for callers that still use it
EXIT_STORE = 3  # the store cannot be used: read-only, full, corrupt, locked


def embedded_demo_config() -> Path:
    """The demo configuration shipped inside the package: the default when none is given."""
    return Path(str(resources.files("streamgauge") / "demo.yaml"))


_AT_HELP = (
    "compute as at this past moment: an ISO time (2026-11-01T12:00:00Z) or a duration ago (3d)"
)


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
        help="sync on a schedule and serve /metrics, /healthz, /readyz, /webhooks/<source> and "
        "the value-stream map page (/)",
    )
    serve.add_argument("--host", help="address to listen on (overrides server.host)")
    serve.add_argument("--port", type=int, help="port to listen on (overrides server.port)")

    demo = commands.add_parser(
        "demo",
        parents=[common],
        help="serve the built-in demo: a simulated toolchain, no credentials (ignores --config)",
    )
    demo.add_argument("--host", help="address to listen on (default 127.0.0.1)")
    demo.add_argument("--port", type=int, help="port to listen on (default 9464)")

    sync = commands.add_parser("sync", parents=[common], help="sync sources once, then compute")
    sync.add_argument("--source", action="append", help="only this source (repeatable)")

    report = commands.add_parser(
        "report", parents=[common], help="current metrics per team and app as a table"
    )
    report.add_argument("--json", action="store_true", help="machine-readable output")
    report.add_argument("--window", help="only this window, e.g. 30d")
    report.add_argument("--at", metavar="TIME", help=_AT_HELP)

    explain = commands.add_parser(
        "explain", parents=[common], help="the records behind a metric, one row each"
    )
    explain.add_argument(
        "metric",
        help="an exposed family or a short name, e.g. change_failure_rate, change_lead_time, "
        "flow_time, value_stream, incidents, levels (every one: docs/metrics.md)",
    )
    explain.add_argument("--team", default="all", help="only this team (default all)")
    explain.add_argument("--app", default="all", help="only this app (default all)")
    explain.add_argument("--window", help="window, e.g. 30d (default: the first configured)")
    explain.add_argument("--at", metavar="TIME", help=_AT_HELP)
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

    commands.add_parser(
        "healthcheck",
        parents=[common],
        help="exit 0 when the configured server answers /healthz (a container health check)",
    )

    unmapped = commands.add_parser(
        "unmapped",
        parents=[common],
        help="statuses and issue types no mapping rule covers, with counts",
    )
    unmapped.add_argument("--json", action="store_true", help="machine-readable output")

    jobs = commands.add_parser(
        "jobs",
        parents=[common],
        help="Jenkins jobs and how their builds were classified: deployment or not, and why",
    )
    jobs.add_argument("--json", action="store_true", help="machine-readable output")

    skipped = commands.add_parser(
        "skipped",
        parents=[common],
        help="records syncs skipped, with where they came from and why",
    )
    skipped.add_argument("--source", help="only this source")
    skipped.add_argument("--json", action="store_true", help="machine-readable output")

    backfill = commands.add_parser(
        "backfill",
        parents=[common],
        help="past metric values as timestamped OpenMetrics for promtool tsdb create-blocks",
    )
    backfill.add_argument("--since", default="90d", help="how far back to start (default 90d)")
    backfill.add_argument(
        "--step",
        help="time between two moments (default: from the span, at most 360 moments: 6h for 90d)",
    )
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
    from streamgauge.cli_map import add_map_parser

    add_map_parser(commands, common)
    return parser


def _settings(args: argparse.Namespace, warnings: list[str] | None = None) -> Settings:
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
    if args.command == "demo" or (path is None and not _env_config()):
        path = embedded_demo_config()
    return load_settings(path, overrides=overrides, warnings=warnings)


def _env_config() -> bool:
    return bool(os.environ.get("STREAMGAUGE_CONFIG"))


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; every failure is a sentence on stderr and an exit code, not a traceback."""
    try:
        code = _run(_parser().parse_args(argv))
        # Flush here, inside the handler, so a reader that went away is seen now and not in the
        # interpreter's own flush at exit, which would print "Exception ignored".
        sys.stdout.flush()
    except BrokenPipeError:
        # The reader closed the pipe (`streamgauge report | head -1`): what it wanted it got.
        # Point stdout at devnull so the flush at exit writes nowhere (Python's documented
        # recipe for SIGPIPE), and report the unfinished write with the failed-run code.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_FAILED
    return code


def _run(args: argparse.Namespace) -> int:
    warnings: list[str] = []
    try:
        settings = _settings(args, warnings)
    except ConfigError as exc:
        _print_problems("configuration warnings:", warnings)
        _print_problems("configuration problems:", exc.problems)
        return EXIT_CONFIG
    _print_problems("configuration warnings:", warnings)
    setup_logging(settings)
    handler = {
        "serve": cmd_serve,
        "demo": cmd_serve,
        "sync": cmd_sync,
        "report": cmd_report,
        "explain": cmd_explain,
        "check-config": cmd_check_config,
        "unmapped": cmd_unmapped,
        "jobs": cmd_jobs,
        "skipped": cmd_skipped,
        "backfill": cmd_backfill,
        "healthcheck": cmd_healthcheck,
        "replay": cmd_replay,
        "map": cmd_map,
    }[args.command]
    from streamgauge.store import StoreError

    try:
        return handler(settings, args)
    except KeyboardInterrupt:
        return 130
    except StoreError as exc:
        # One sentence naming the cause and the fix; a traceback would only hide it.
        print(f"store: {exc}", file=sys.stderr)
        return EXIT_STORE
    except UsageError as exc:
        print(f"streamgauge {args.command}: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    except BrokenPipeError:
        raise
    except Exception as exc:  # the command's boundary: a sentence, the traceback only at DEBUG
        log.debug("streamgauge %s failed", args.command, exc_info=True)
        text = redact(str(exc) or type(exc).__name__, secrets_of(settings))
        if not type(exc).__module__.startswith("streamgauge."):
            text = f"{type(exc).__name__}: {text}"  # our own errors are sentences already
        print(
            f"streamgauge {args.command} failed: {text} "
            "(run with --log-level DEBUG for the details)",
            file=sys.stderr,
        )
        return EXIT_FAILED


class UsageError(Exception):
    """A command-line value that cannot be used; the message says which and what would do."""


def _print_problems(title: str, problems: Sequence[str]) -> None:
    if problems:
        print(title, file=sys.stderr)
        for problem in problems:
            print(f"  {problem}", file=sys.stderr)


def _window(settings: Settings, given: str | None) -> str | None:
    """The configured window label ``given`` names (``720h`` is ``30d``), or a UsageError."""
    if given is None:
        return None
    configured = ", ".join(settings.window_labels)
    try:
        label = format_duration(parse_duration(given))
    except ValueError:
        raise UsageError(
            f"--window {given!r} is not a duration; the configured windows are {configured}"
        ) from None
    if label not in settings.window_labels:
        raise UsageError(
            f"--window {given} is not a configured window; use one of {configured}, "
            "or add it under `windows` in the configuration"
        )
    return label


def _at(given: str | None, now: datetime) -> datetime | None:
    """The moment ``--at`` names: an ISO time (UTC when it names no offset) or a duration
    before ``now`` (``3d``); a UsageError for anything else or a moment after ``now``."""
    if given is None:
        return None
    text = given.strip()
    try:
        moment = now - parse_duration(text)
    except ValueError:
        try:
            moment = datetime.fromisoformat(text)
        except ValueError:
            raise UsageError(
                f"--at {given!r} is neither a time nor a duration; write an ISO time such as "
                "2026-11-01T12:00:00Z or a duration ago such as 3d"
            ) from None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
    moment = moment.astimezone(UTC)
    if moment > now:
        raise UsageError(
            f"--at {given!r} is in the future ({_iso(moment)} is after now, {_iso(now)}); "
            "give a past moment"
        )
    return moment


def _iso(moment: datetime) -> str:
    return moment.isoformat(timespec="seconds").replace("+00:00", "Z")


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


def cmd_jobs(settings: Settings, args: argparse.Namespace) -> int:
    from dataclasses import asdict

    from streamgauge.connectors.jenkins import jobs_report
    from streamgauge.store import Store

    with Store.open(settings.store_url) as store:
        entries = jobs_report(store, settings)
    if args.json:
        json.dump([asdict(e) for e in entries], sys.stdout, indent=2)
        print()
        return 0
    if not entries:
        print("no Jenkins job is stored: configure a `type: jenkins` source and sync it")
        return 0
    for e in entries:
        apps = f" of {', '.join(e.apps)}" if e.apps else ""
        print(f"{e.source}: {e.job}: {e.builds} builds, {e.deployments} deployments{apps}")
        for reason, count in e.reasons.items():
            print(f"    {count:>6}  {reason}")
    print("deployments come from each source's `deployments` rules (see docs/jenkins.md)")
    return 0


def cmd_skipped(settings: Settings, args: argparse.Namespace) -> int:
    from streamgauge.store import Store

    with Store.open(settings.store_url) as store:
        found = store.skipped(args.source)
    if args.json:
        rows = [
            {
                "source": s.source,
                "stream": s.skip.stream,
                "location": s.skip.location,
                "record_id": s.skip.record_id,
                "reason": s.skip.reason,
                "detail": s.skip.detail,
                "excerpt": s.skip.excerpt,
                "first_seen_at": s.first_seen_at.isoformat(),
                "last_seen_at": s.last_seen_at.isoformat(),
                "times": s.times,
            }
            for s in found
        ]
        json.dump(rows, sys.stdout, indent=2)
        print()
    elif not found:
        print("no record was skipped")
    else:
        print(f"{'source':<12} {'reason':<16} {'times':>5}  {'last seen':<20} location: detail")
        for s in found:
            seen = s.last_seen_at.strftime("%Y-%m-%d %H:%M:%S")
            print(
                f"{s.source:<12} {s.skip.reason:<16} {s.times:>5}  {seen:<20} "
                f"{s.skip.location}: {s.skip.detail}"
            )
        print("fix them at their source; a record sent again is stored by the next sync")
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
    from streamgauge.progress import SyncProgress

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
        outcomes = []
        with SyncProgress(names, sys.stderr) as bar:
            for name in names:
                bar.start(name)
                outcomes.append((name, app.sync(name, progress=bar.update)))
                bar.done()
        failed = 0
        for name, outcome in outcomes:
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
        return EXIT_FAILED if failed else 0
    finally:
        app.close()


def cmd_report(settings: Settings, args: argparse.Namespace) -> int:
    from streamgauge.app import App
    from streamgauge.metrics import compute_all
    from streamgauge.report import report_rows, write_table
    from streamgauge.store import Store

    window = _window(settings, args.window)
    moment = _at(args.at, datetime.now(UTC))
    if moment is None:
        app = App(settings)
        try:
            snapshot = app.recompute()
        finally:
            app.close()
    else:
        # a past moment is computed from the stored records and served nowhere, stored never
        with Store.open(settings.store_url) as store:
            dataset = store.load_dataset()
        snapshot = compute_all(dataset, now=moment, settings=settings)
    rows = report_rows(snapshot, settings, window=window)
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

    window = _window(settings, args.window)
    now = datetime.now(UTC)
    moment = _at(args.at, now) or now
    apps = [*settings.apps, *(a for t in settings.teams.values() for a in t.apps)]
    _group("--team", args.team, list(settings.teams))
    _group("--app", args.app, list(dict.fromkeys(apps)))
    with Store.open(settings.store_url) as store:
        dataset = store.load_dataset()
    facts = compute_facts(dataset, now=moment, settings=settings)
    try:
        found = explain.explain(
            facts, args.metric, settings, team=args.team, app=args.app, window=window
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


def _group(option: str, given: str, configured: list[str]) -> None:
    """A UsageError for a team or app that is not configured (when any is): its rows would be
    folded into `other`, so asking for it would always answer with nothing."""
    known = ["all", *configured, "other"]
    if configured and given not in known:
        raise UsageError(
            f"{option} {given!r} is not configured{did_you_mean(given, configured)}; "
            f"use one of {', '.join(known)}"
        )


def cmd_serve(settings: Settings, args: argparse.Namespace) -> int:
    from streamgauge.app import App
    from streamgauge.exposition.http import WebApp, make_server, stop_server
    from streamgauge.exposition.site import MapSite, teams_of
    from streamgauge.scheduler import Scheduler

    app = App(settings)
    try:
        server = make_server(
            WebApp(
                app.exposition,
                app.readiness,
                webhooks=app.intakes,
                live=app.webhook_counters if app.intakes else None,
                site=MapSite(
                    app.exposition, windows=settings.window_labels, teams=teams_of(settings)
                ),
            ),
            host=settings.server.host,
            port=settings.server.port,
            threads=settings.server.threads,
            limits=settings.server,
        )
    except OSError as exc:
        app.close()
        print(f"streamgauge serve: {_listen_problem(exc, settings)}", file=sys.stderr)
        return EXIT_FAILED
    scheduler = Scheduler(app)

    def stop(signum: int, frame: FrameType | None) -> None:
        if app.stop.is_set():
            return  # already stopping; the first signal's stop is bounded
        log.info("signal %d: stopping", signum)
        app.stop.set()  # every sync ends at its next page or wait between retries
        # From a thread of its own: the handler runs in the main thread between two bytecodes,
        # possibly while the server's loop holds its task lock, which the stop takes too.
        threading.Thread(target=stop_server, args=(server,), name="stop", daemon=True).start()

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
        # Bounded: a job still running then (a slow request, a long computation) is left to
        # end with the process; each store write is one transaction, so nothing is half-kept.
        scheduler.shutdown()
        app.close()
        log.info("stopped")
    return 0


def cmd_healthcheck(settings: Settings, args: argparse.Namespace) -> int:
    import urllib.request

    host = settings.server.host
    if host in ("", "0.0.0.0", "::"):  # noqa: S104 - every address: loopback is one of them
        host = "127.0.0.1"
    if ":" in host:
        host = f"[{host}]"
    url = f"http://{host}:{settings.server.port}/healthz"
    try:
        with urllib.request.urlopen(url, timeout=4) as resp:
            status = resp.status
    except OSError as exc:
        print(f"unhealthy: {url} did not answer ({exc})", file=sys.stderr)
        return EXIT_FAILED
    if status != 200:
        print(f"unhealthy: {url} answered {status}", file=sys.stderr)
        return EXIT_FAILED
    return 0


def _listen_problem(exc: OSError, settings: Settings) -> str:
    where = f"{settings.server.host}:{settings.server.port}"
    if exc.errno == errno.EADDRINUSE:
        return (
            f"port {settings.server.port} is already in use ({where}); stop the program "
            "listening there or choose another port with --port (or server.port)"
        )
    if exc.errno == errno.EACCES:
        return (
            f"not allowed to listen on port {settings.server.port} ({where}); ports below "
            "1024 need privileges: choose another with --port (or server.port)"
        )
    return (
        f"cannot listen on {where}: {exc.strerror or exc}; check --host and --port "
        "(or server.host and server.port)"
    )


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
            return EXIT_FAILED
        w = outcome.written
        print(
            f"{args.source}: {requeued} {args.status} events normalized again: "
            f"{w.inserted} new, {w.updated} changed, {w.unchanged} unchanged records, "
            f"{outcome.skipped} still malformed"
        )
        return 0
    finally:
        app.close()


def cmd_map(settings: Settings, args: argparse.Namespace) -> int:
    from streamgauge.cli_map import write_map

    return write_map(settings, args)


def cmd_backfill(settings: Settings, args: argparse.Namespace) -> int:
    from streamgauge.backfill import run_backfill

    return run_backfill(settings, args)
