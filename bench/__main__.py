"""`python -m bench [BENCHMARK ...]`: run benchmarks and print the report; `--write` puts it
in docs/benchmarks.md, `--output PATH` elsewhere. Every section says the commit it measured."""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
import time
from collections.abc import Callable, Coroutine, Sequence
from pathlib import Path
from typing import Any, TypeVar

from bench import (
    alerts,
    boards,
    dashboard,
    fanout,
    feed,
    filters,
    metrics,
    resume,
    schedulers,
    statements,
)
from bench.environment import Environment
from bench.report import Verdict, document
from bench.servers import REDIS_URL, machine_cpu_seconds, raise_open_file_limit

ROOT = Path(__file__).resolve().parent.parent
DOCUMENT = ROOT / "docs" / "benchmarks.md"
BENCHMARKS = (
    "fanout",
    "dashboard",
    "statements",
    "boards",
    "alerts",
    "schedulers",
    "metrics",
    "feed",
    "filters",
    "resume",
)
T = TypeVar("T")


def _sizes(text: str) -> tuple[int, ...]:
    try:
        sizes = tuple(int(part.replace("_", "")) for part in text.split(",") if part)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected numbers like 100,1000, not {text!r}") from None
    if not sizes or min(sizes) < 1:
        raise argparse.ArgumentTypeError("sizes must be positive")
    return sizes


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m bench",
        description="Run incidentgraph's benchmarks (all of them when none is named) and print "
        f"the report; --write puts it in {DOCUMENT.relative_to(ROOT)}, --output elsewhere.",
    )
    p.add_argument(
        "benchmarks",
        nargs="*",
        metavar="BENCHMARK",
        help=f"any of {', '.join(BENCHMARKS)} (default: all)",
    )
    p.add_argument("--output", type=Path, help="write the markdown report to this file")
    p.add_argument(
        "--write",
        action="store_true",
        help=f"write the report to {DOCUMENT.relative_to(ROOT)} (a full run's figures)",
    )
    p.add_argument(
        "--quick",
        action="store_true",
        help="every benchmark at a small size, in a few minutes: a smoke run, not figures "
        f"(refused with --write: {DOCUMENT.relative_to(ROOT)} holds full runs only)",
    )
    fan = p.add_argument_group("fanout")
    fan.add_argument(
        "--sizes", type=_sizes, default=fanout.SIZES, help="subscriber counts, e.g. 100,1000"
    )
    fan.add_argument(
        "--rounds", type=int, default=5, help="measured mutations per size (default 5)"
    )
    fan.add_argument(
        "--clients",
        type=int,
        default=2,
        help="subscriber client processes, fanout and boards (default 2)",
    )
    fan.add_argument(
        "--no-compression",
        action="store_true",
        help="clients do not offer permessage-deflate (fanout and boards)",
    )
    dash = p.add_argument_group("dashboard")
    dash.add_argument("--incidents", type=int, default=200, help="incidents to seed (default 200)")
    dash.add_argument(
        "--seconds", type=float, default=5.0, help="seconds per measured load (default 5)"
    )
    dash.add_argument("--repeats", type=int, default=3, help="loads per query (default 3)")
    dash.add_argument(
        "--connections", type=int, default=8, help="keep-alive connections (default 8)"
    )
    dash.add_argument("--no-sqlite", action="store_true", help="PostgreSQL only")
    live = p.add_argument_group("boards")
    live.add_argument(
        "--subscribers",
        type=int,
        default=boards.SUBSCRIBERS,
        help=f"boardUpdated subscribers (default {boards.SUBSCRIBERS:,})",
    )
    live.add_argument(
        "--changes",
        type=int,
        default=boards.CHANGES,
        help=f"incident changes in the burst (default {boards.CHANGES})",
    )
    live.add_argument(
        "--writers", type=int, default=4, help="concurrent writers of the burst (default 4)"
    )
    intake = p.add_argument_group("alerts")
    intake.add_argument(
        "--alert-seconds", type=float, default=10.0, help="seconds of load (default 10)"
    )
    intake.add_argument(
        "--alert-batch", type=int, default=100, help="alerts per webhook payload (default 100)"
    )
    intake.add_argument(
        "--alert-connections", type=int, default=8, help="keep-alive connections (default 8)"
    )
    year = p.add_argument_group("metrics")
    year.add_argument(
        "--metric-incidents",
        type=int,
        default=metrics.INCIDENTS,
        help=f"incidents seeded over a year (default {metrics.INCIDENTS:,})",
    )
    events = p.add_argument_group("feed")
    events.add_argument(
        "--readers", type=int, default=feed.READERS, help=f"SSE readers (default {feed.READERS:,})"
    )
    events.add_argument(
        "--export-rows",
        type=int,
        default=feed.EXPORT_ROWS,
        help=f"incidents exported (default {feed.EXPORT_ROWS:,})",
    )
    query = p.add_argument_group("filters")
    query.add_argument(
        "--filter-incidents",
        type=int,
        default=filters.INCIDENTS,
        help=f"incidents the filters are explained on (default {filters.INCIDENTS:,})",
    )
    storm = p.add_argument_group("resume")
    storm.add_argument(
        "--idle-sizes",
        type=_sizes,
        default=resume.IDLE_SIZES,
        help="idle subscriber counts whose memory is measured, e.g. 1000,10000",
    )
    storm.add_argument(
        "--storm-subscribers",
        type=int,
        default=resume.STORM_SUBSCRIBERS,
        help=f"clients resuming after the restart (default {resume.STORM_SUBSCRIBERS:,})",
    )
    return p


async def _cancellable(main: Coroutine[Any, Any, T]) -> T:
    """Run `main`, turning SIGTERM into cancellation so every cleanup still runs."""
    task = asyncio.ensure_future(main)
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, task.cancel)
    try:
        return await task
    finally:
        loop.remove_signal_handler(signal.SIGTERM)


def _background_cores(seconds: float = 2.0) -> float:
    before = machine_cpu_seconds()
    time.sleep(seconds)
    return (machine_cpu_seconds() - before) / seconds


async def _run(chosen: Sequence[str], args: argparse.Namespace) -> tuple[list[str], list[Verdict]]:
    sections: list[str] = []
    verdicts: list[Verdict] = []
    steps: dict[str, Callable[[], Coroutine[Any, Any, tuple[str, Verdict]]]] = {
        "fanout": lambda: _fanout(args),
        "dashboard": lambda: _dashboard(args),
        "statements": _statements,
        "boards": lambda: _boards(args),
        "alerts": lambda: _alerts(args),
        "schedulers": _schedulers,
        "metrics": lambda: _metrics(args),
        "feed": lambda: _feed(args),
        "filters": lambda: _filters(args),
        "resume": lambda: _resume(args),
    }
    for name in BENCHMARKS:
        if name in chosen:
            started = time.monotonic()
            print(f"== {name}", file=sys.stderr, flush=True)
            section, verdict = await steps[name]()
            print(
                f"== {name} done in {time.monotonic() - started:.0f} s", file=sys.stderr, flush=True
            )
            sections.append(section)
            verdicts.append(verdict)
    return sections, verdicts


async def _fanout(args: argparse.Namespace) -> tuple[str, Verdict]:
    options = fanout.Options(
        sizes=args.sizes,
        rounds=args.rounds,
        clients=args.clients,
        compression=None if args.no_compression else "deflate",
    )
    result = await fanout.run(options)
    return fanout.render(result), fanout.verdict(result)


async def _dashboard(args: argparse.Namespace) -> tuple[str, Verdict]:
    options = dashboard.Options(
        incidents=args.incidents,
        seconds=args.seconds,
        repeats=args.repeats,
        connections=args.connections,
        sqlite=not args.no_sqlite,
    )
    result = await dashboard.run(options)
    return dashboard.render(result), dashboard.verdict(result)


async def _boards(args: argparse.Namespace) -> tuple[str, Verdict]:
    options = boards.Options(
        subscribers=args.subscribers,
        changes=args.changes,
        writers=args.writers,
        clients=args.clients,
        compression=None if args.no_compression else "deflate",
    )
    result = await boards.run(options)
    return boards.render(result), boards.verdict(result)


async def _alerts(args: argparse.Namespace) -> tuple[str, Verdict]:
    options = alerts.Options(
        seconds=args.alert_seconds, batch=args.alert_batch, connections=args.alert_connections
    )
    result = await alerts.run(options)
    return alerts.render(result), alerts.verdict(result)


async def _schedulers() -> tuple[str, Verdict]:
    result = await schedulers.run()
    return schedulers.render(result), schedulers.verdict(result)


async def _metrics(args: argparse.Namespace) -> tuple[str, Verdict]:
    result = await metrics.run(args.metric_incidents)
    return metrics.render(result), metrics.verdict(result)


async def _feed(args: argparse.Namespace) -> tuple[str, Verdict]:
    result = await feed.run(feed.Options(readers=args.readers, export_rows=args.export_rows))
    return feed.render(result), feed.verdict(result)


async def _filters(args: argparse.Namespace) -> tuple[str, Verdict]:
    result = await filters.run(args.filter_incidents)
    return filters.render(result), filters.verdict(result)


async def _resume(args: argparse.Namespace) -> tuple[str, Verdict]:
    options = resume.Options(
        idle_sizes=args.idle_sizes, storm=args.storm_subscribers, clients=args.clients
    )
    result = await resume.run(options)
    return resume.render(result), resume.verdict(result)


async def _statements() -> tuple[str, Verdict]:
    result = await statements.run()
    return statements.render(result), statements.verdict(result)


# --quick: the sizes of a smoke run, each argument's default replaced when left as it was.
QUICK = {
    "sizes": (100,),
    "rounds": 2,
    "seconds": 1.0,
    "repeats": 1,
    "incidents": 50,
    "subscribers": 100,
    "changes": 20,
    "alert_seconds": 2.0,
    "metric_incidents": 2_000,
    "readers": 100,
    "export_rows": 10_000,
    "filter_incidents": 2_000,
    "idle_sizes": (200,),
    "storm_subscribers": 500,
}


def _shrink(args: argparse.Namespace) -> None:
    defaults = parser().parse_args([])
    for name, small in QUICK.items():
        if getattr(args, name) == getattr(defaults, name):
            setattr(args, name, small)


def stamped(section: str, environment: Environment) -> str:
    """The section with the commit and date it measured under its heading."""
    heading, _, rest = section.partition("\n")
    stamp = f"Measured at commit {environment.commit} on {environment.date}."
    return f"{heading}\n\n{stamp}\n{rest}"


def main(argv: Sequence[str] | None = None) -> int:
    p = parser()
    args = p.parse_args(argv)
    unknown = [name for name in args.benchmarks if name not in BENCHMARKS]
    if unknown:
        p.error(f"unknown benchmark {unknown[0]!r} (choose from {', '.join(BENCHMARKS)})")
    counts = (args.rounds, args.clients, args.repeats, args.connections, args.incidents)
    if min(*counts, args.subscribers, args.changes, args.writers) < 1:
        p.error(
            "--rounds, --clients, --repeats, --connections, --incidents, --subscribers, "
            "--changes and --writers must be positive"
        )
    if min(args.alert_batch, args.alert_connections) < 1 or args.alert_seconds <= 0:
        p.error("--alert-seconds, --alert-batch and --alert-connections must be positive")
    chosen = list(dict.fromkeys(args.benchmarks)) or list(BENCHMARKS)
    if args.quick:
        _shrink(args)
    if args.quick and args.write:
        p.error(f"--quick figures are not written to {DOCUMENT.relative_to(ROOT)}")
    full_run = not args.benchmarks and not args.quick
    output: Path | None = args.output or (DOCUMENT if args.write else None)
    raise_open_file_limit()
    background = _background_cores()
    environment = Environment.capture(ROOT, REDIS_URL)
    try:
        import uvloop
    except ImportError:
        runner = asyncio.run
    else:
        runner = uvloop.run
    try:
        sections, verdicts = runner(_cancellable(_run(chosen, args)))
    except (asyncio.CancelledError, KeyboardInterrupt):
        print("interrupted: servers, clients and databases were stopped", file=sys.stderr)
        return 130
    command = "make bench" if full_run else "python -m bench " + " ".join(sys.argv[1:])
    sections = [stamped(section, environment) for section in sections]
    text = document(environment, background, sections, verdicts, command)
    if output is None:
        print(text)
    else:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(text)
        print(f"wrote {output}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
