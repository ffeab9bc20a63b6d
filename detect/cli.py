"""Entry functions of `leash train` and `leash eval` (wired by leash/cli.py)."""

from __future__ import annotations

import argparse
import logging
import sys
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict
from multiprocessing import get_context
from pathlib import Path

import orjson

from ingest.settings import Settings

__all__ = ["add_eval_arguments", "run_eval", "run_train", "run_worlds", "world_pool"]

logger = logging.getLogger(__name__)

HELD_OUT_SEEDS = (101, 102, 103)  # reported seeds; the detectors were tuned on seeds 1-5
DATASETS = Path(__file__).resolve().parents[2] / "shared" / "datasets"


def run_train(settings: Settings) -> int:
    """`leash train`: train on the stored history of an embedded or server store and save."""
    from detect.anomaly.forest import NotEnoughHistory
    from detect.anomaly.training import train_and_save
    from detect.settings import DetectSettings
    from ingest.migrate import apply_migrations
    from ingest.store import open_store

    store = open_store(settings.resolved_store_url)
    try:
        apply_migrations(store)
        model = train_and_save(store, settings, DetectSettings())
    except NotEnoughHistory as exc:
        sys.stderr.write(f"not trained: {exc}\n")
        return 1
    finally:
        store.close()
    meta = model.metadata
    sys.stdout.write(
        f"trained {model.version}: {meta['rows']} windows of {meta['principals']} "
        f"principals in {meta['train_seconds']} s; thresholds {meta['thresholds']}\n"
    )
    return 0


def add_eval_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of `leash eval`."""
    parser.add_argument(
        "--seeds",
        type=int,
        nargs="+",
        default=list(HELD_OUT_SEEDS),
        help="generator seeds to score (default: the held-out 101 102 103)",
    )
    parser.add_argument("--days", type=int, default=7, help="days of traffic per seed (7)")
    parser.add_argument(
        "--train-days", type=int, default=5, help="leading days used as training history (5)"
    )
    parser.add_argument("--scale", type=float, default=1.0, help="agents/humans multiplier (1.0)")
    parser.add_argument(
        "--datasets",
        type=Path,
        default=DATASETS if DATASETS.is_dir() else None,
        help="folder of the real labelled sets (shared/datasets); 'none' to skip",
    )
    parser.add_argument("--json", type=Path, help="also write the full results as JSON here")
    parser.add_argument(
        "--worlds",
        type=int,
        nargs="+",
        metavar="SEED",
        help="instead: replay worlds of the independent generator (detect/eval/world) for these "
        "seeds, cold start, and print each seed, the mean and the worst seed (~3-7 min a seed)",
    )
    parser.add_argument(
        "--procs", type=int, default=2, help="worlds replayed in parallel (--worlds; 2)"
    )


def run_eval(args: argparse.Namespace) -> int:
    """`leash eval`: generated scenarios (Leash vs. baselines) and the real datasets, as tables."""
    from detect.eval.baselines import eval_rules
    from detect.eval.datasets import evaluate_datasets
    from detect.eval.generator import generate
    from detect.eval.report import render, to_json
    from detect.eval.runner import RunScore, evaluate_scenario
    from detect.settings import DetectSettings

    if args.worlds:
        return run_worlds(args.worlds, procs=args.procs, json_path=args.json)
    runs: dict[str, list[RunScore]] = {}
    info = []
    for seed in args.seeds:
        scenario = generate(seed, days=args.days, train_days=args.train_days, scale=args.scale)
        scores, meta = evaluate_scenario(scenario, progress=lambda text: logger.info("%s", text))
        info.append(meta)
        for score in scores:
            runs.setdefault(score.name, []).append(score)
    datasets = []
    if args.datasets is not None and str(args.datasets) != "none" and args.datasets.is_dir():
        logger.info("scoring the real datasets in %s", args.datasets)
        datasets = evaluate_datasets(
            args.datasets, eval_rules()[0], engine_options=DetectSettings().engine_options()
        )
    sys.stdout.write(render(runs, info, datasets))
    if args.json is not None:
        args.json.write_bytes(
            orjson.dumps(to_json(runs, info, datasets), option=orjson.OPT_INDENT_2)
        )
    return 0


def world_pool(procs: int) -> ProcessPoolExecutor:
    """Processes for world replays: spawned, one world each. Forked children of a process that
    imported chDB draw the same name for their embedded store's working directory, so the
    second of two concurrent replays failed to start it and hung."""
    return ProcessPoolExecutor(
        max_workers=max(1, procs), mp_context=get_context("spawn"), max_tasks_per_child=1
    )


def run_worlds(seeds: list[int], *, procs: int, json_path: Path | None = None) -> int:
    """`leash eval --worlds`: replay and score independent worlds, with a progress bar."""
    from concurrent.futures import as_completed

    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from detect.eval.replay import WorldScore, render_worlds, score_seed

    scores: list[WorldScore] = []
    columns = (TextColumn("worlds"), BarColumn(), TextColumn("{task.completed}/{task.total}"))
    with (
        Progress(*columns, TimeElapsedColumn(), transient=True) as progress,
        world_pool(procs) as pool,
    ):
        task = progress.add_task("worlds", total=len(seeds))
        for done in as_completed([pool.submit(score_seed, seed) for seed in seeds]):
            scores.append(done.result())
            progress.advance(task)
    sys.stdout.write(render_worlds(scores))
    if json_path is not None:  # every world's score, its false alerts and its incidents' hits
        rows = [asdict(score) for score in sorted(scores, key=lambda score: score.seed)]
        json_path.write_bytes(orjson.dumps(rows, option=orjson.OPT_INDENT_2))
    return 0
