"""``python -m bench``: run the measurements and write the results page.

Full mode writes ``bench/RESULTS.md`` and ``bench/charts/``; ``--quick`` runs small
sizes for CI and writes to ``bench/out/`` (git-ignored), never over the published page.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import logging
import shlex
import signal
import sys
import time
import traceback
from pathlib import Path
from types import FrameType

from bench.context import Bench
from bench.environment import Environment
from bench.modes import FULL, QUICK, Mode
from bench.report import Section, write_report
from bench.stack import running_stack

logger = logging.getLogger("bench")

BENCH_DIR = Path(__file__).resolve().parent
# (id, module, title, target), in the order of the results page.
MEASUREMENTS = (
    ("M1", "m1_ingest", "ingest throughput", "held rate ≥ 0.5 x bare ASGI endpoint, p99 < 50 ms"),
    ("M2", "m2_end_to_end", "end-to-end latency", "p50 ≤ 10 ms and p99 ≤ 50 ms at 100 events/s"),
    ("M3", "m3_processors", "processor throughput", "≥ 0.5 x bare consume-transform-produce"),
    ("M4", "m4_sender", "sender throughput", "≥ 0.8 x plain httpx loop, 16 in flight"),
    ("M5", "m5_rate_limits", "rate limits", "goodput ≥ 0.9 x limit, 0 early retries, 0 lost"),
    ("M6", "m6_recovery", "recovery", "0 lost; first delivery ≤ 15 s after broker restart"),
    ("M7", "m7_memory", "memory growth", "RSS growth ≤ 10 % between the two checkpoints"),
    (
        "M8",
        "m8_audit",
        "audit memory and seeking",
        "peak RSS ≤ 1.10 x from 1,000,000 to 2,000,000 events; --since reads only its window",
    ),
)
# Run order: the most stable components first.
RUN_ORDER = ("M1", "M4", "M3", "M2", "M5", "M6", "M7", "M8")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small sizes, a few minutes (CI)")
    parser.add_argument(
        "--only", help="comma-separated measurement ids to run, e.g. M1,M4 (default: all)"
    )
    parser.add_argument(
        "--out",
        type=Path,
        help="folder for RESULTS.md and charts/ (default: bench/ in full mode, bench/out/ "
        "with --quick or --only)",
    )
    parser.add_argument(
        "--m7-alerts",
        type=int,
        metavar="N",
        help="alerts at M7's second memory checkpoint (default: 1000000 in full mode, which "
        "took 62 minutes on 2 cores in the last full run); the results page notes a smaller number",
    )
    return parser.parse_args(argv)


def mode_of(args: argparse.Namespace) -> Mode:
    """Return the sizes to run with. An invalid ``--m7-alerts`` raises SystemExit."""
    mode = QUICK if args.quick else FULL
    if args.m7_alerts is None:
        return mode
    if args.m7_alerts <= mode.m7_first:
        raise SystemExit(
            f"--m7-alerts {args.m7_alerts} is invalid: use more than the first checkpoint, "
            f"{mode.m7_first} alerts in {mode.name} mode"
        )
    return dataclasses.replace(mode, m7_second=args.m7_alerts)


def selected(only: str | None) -> list[str]:
    """Return the measurement ids to run, in run order; raise SystemExit on an unknown id."""
    known = [key for key, *_ in MEASUREMENTS]
    if not only:
        return list(RUN_ORDER)
    wanted = [item.strip().upper() for item in only.split(",") if item.strip()]
    unknown = [item for item in wanted if item not in known]
    if unknown:
        raise SystemExit(f"unknown measurement {', '.join(unknown)}: use ids from {known}")
    return [key for key in RUN_ORDER if key in wanted]


def _stop_on_signals() -> None:
    """Turn SIGTERM and SIGINT into exceptions, so every started process is stopped.

    A shell starts background jobs with SIGINT ignored, so the handler is set explicitly.
    """

    def stop(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt(f"stopped by signal {signum}")

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    _stop_on_signals()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    mode = mode_of(args)
    chosen = selected(args.only)
    published = not args.quick and not args.only
    out_dir = args.out or (BENCH_DIR if published else BENCH_DIR / "out")
    out_dir.mkdir(parents=True, exist_ok=True)
    command = "python -m bench" + ("".join(f" {shlex.quote(a)}" for a in (argv or sys.argv[1:])))

    sections = {key: Section(key, title, target) for key, _, title, target in MEASUREMENTS}
    modules = {key: module for key, module, *_ in MEASUREMENTS}
    started = time.monotonic()
    with running_stack() as stack:
        environment = Environment(
            kafka=stack.broker.config.version,
            partitions=stack.partitions,
            linger_ms=stack.defaults.producer_linger_ms,
        )
        bench = Bench(stack, mode, out_dir)
        for key in chosen:
            _run_one(bench, key, modules[key], sections[key])
            report = [sections[k] for k, *_ in MEASUREMENTS if k in chosen]
            write_report(
                out_dir / "RESULTS.md",
                report,
                environment,
                command,
                time.monotonic() - started,
                mode.name,
            )
    logger.info("results written to %s", out_dir / "RESULTS.md")
    return 0


def _run_one(bench: Bench, key: str, module_name: str, section: Section) -> None:
    logger.info("%s: starting (%s mode)", key, bench.mode.name)
    started = time.monotonic()
    try:
        module = importlib.import_module(f"bench.{module_name}")
        module.run(bench, section)
    except Exception as exc:
        logger.error("%s failed:\n%s", key, traceback.format_exc())
        section.verdict = f"not measured: {type(exc).__name__}: {exc}"
    section.seconds = time.monotonic() - started
    logger.info("%s: %s (%.0f s)", key, section.verdict, section.seconds)


if __name__ == "__main__":
    sys.exit(main())
