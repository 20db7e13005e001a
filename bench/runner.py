"""Pinta's benchmark runner (started by `bench/run`). Runs the workloads against the peers in one run,
writes `bench/results/<date>-<machine>.json` and regenerates `bench/RESULTS.md` from the newest
result file. Benchmarks are not tests: nothing here asserts a timing.

Usage: bench/run [--workloads transform,coldstart,query,freshness,fanout,extractor-scale] [--sizes 10000,100000,1000000] [--runs 3]
                 [--only pinta,pandas,…] [--freshness-days 50] [--fanout-clients 10000] [--report-only]
"""

import argparse
import json
import os
import socket
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, HERE)

import measure  # noqa: E402
import report  # noqa: E402


def log(msg):
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def versions():
    import importlib.metadata as md

    out = {}
    for name in ("pandas", "pyarrow", "polars", "duckdb", "numpy", "boto3", "moto"):
        try:
            out[name] = md.version(name)
        except md.PackageNotFoundError:
            out[name] = None
    out["rustc"] = measure.command_output(["rustc", "--version"])
    out["wrk"] = (measure.command_output(["sh", "-c", "wrk -v 2>&1 | head -1"]) or "").strip() or None
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--workloads", default="transform,coldstart,query,freshness,fanout")
    ap.add_argument("--sizes", default="10000,100000,1000000")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--only", default="", help="transform workload: only these implementation ids")
    ap.add_argument("--query-rows-per-day", type=int, default=2000)
    ap.add_argument("--query-seconds", type=float, default=10)
    ap.add_argument("--freshness-days", type=int, default=50, help="freshness: days measured per run and mode")
    ap.add_argument("--freshness-modes", default="embedded,moto")
    ap.add_argument("--fanout-clients", type=int, default=10_000)
    ap.add_argument("--report-only", action="store_true", help="regenerate RESULTS.md from the newest result file")
    ap.add_argument("--merge", default="", help="start from the workloads of this earlier result file (the ones run now replace theirs)")
    args = ap.parse_args()

    if args.report_only:
        report.write(HERE)
        return
    if args.runs < 3:
        log("note: fewer than 3 runs per figure; the issue asks for medians of several runs")
    cache = os.environ["PINTA_BENCH_CACHE"]
    bins = os.environ["PINTA_BENCH_BINS"]
    os.makedirs(os.path.join(cache, "out"), exist_ok=True)
    # PINTA_BENCH_COMMIT names the commit when the tree is an export without git metadata.
    commit = os.environ.get("PINTA_BENCH_COMMIT") or measure.command_output(["git", "rev-parse", "HEAD"], cwd=REPO)
    dirty = bool(measure.command_output(["git", "status", "--porcelain", "--untracked-files=no"], cwd=REPO))
    doc = {
        "started_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "git_commit": commit,
        "git_dirty": dirty,
        "source_note": os.environ.get("PINTA_BENCH_SOURCE_NOTE"),
        "machine": measure.machine(),
        "versions": versions(),
        "load_at_start": measure.load(),
        "settings": {"runs": args.runs, "sizes": args.sizes, "workloads": args.workloads},
        "workloads": {},
    }
    if args.merge:
        with open(args.merge, encoding="utf-8") as f:
            earlier = json.load(f)
        doc["workloads"].update(earlier.get("workloads", {}))
        doc["merged_from"] = {"started_at": earlier.get("started_at"), "finished_at": earlier.get("finished_at"),
                              "git_commit": earlier.get("git_commit"), "workloads": sorted(earlier.get("workloads", {})),
                              # That file may itself have been merged: keep the chain.
                              "merged_from": earlier.get("merged_from")}
    wanted = [w.strip() for w in args.workloads.split(",") if w.strip()]
    name = f"{time.strftime('%Y-%m-%d', time.gmtime())}-{socket.gethostname().split('.')[0] or 'machine'}.json"
    path = os.path.join(HERE, "results", name)

    def save():
        doc["finished_at"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        doc["load_at_end"] = measure.load()
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w", encoding="utf-8") as f:
            json.dump(doc, f, indent=1, ensure_ascii=False)
        report.write(HERE)

    for w in wanted:
        log(f"workload {w} (load {measure.load()})")
        if w == "transform":
            import workload_transform

            sizes = [int(s) for s in args.sizes.split(",") if s]
            only = [s for s in args.only.split(",") if s]
            doc["workloads"]["transform"] = workload_transform.run(cache, bins, sizes, args.runs, only or None, log=log)
        elif w == "coldstart":
            import workload_coldstart

            doc["workloads"]["coldstart"] = workload_coldstart.run(cache, bins, args.runs, log=log)
        elif w == "extractor-scale":
            import workload_coldstart

            doc["workloads"]["extractor_scale"] = workload_coldstart.run(cache, bins, args.runs, rows=1_000_000, log=log,
                                                                         extractor_only=True)
        elif w == "query":
            import workload_query

            doc["workloads"]["query"] = workload_query.run(cache, bins, args.runs, rows_per_day=args.query_rows_per_day,
                                                           seconds=args.query_seconds, log=log)
        elif w == "freshness":
            import workload_freshness

            modes = tuple(m for m in args.freshness_modes.split(",") if m)
            doc["workloads"]["freshness"] = workload_freshness.run(cache, bins, args.runs, days=args.freshness_days,
                                                                   modes=modes, log=log)
        elif w == "fanout":
            import workload_fanout

            doc["workloads"]["fanout"] = workload_fanout.run(cache, bins, args.runs, clients=args.fanout_clients, log=log)
        else:
            raise SystemExit(f"unknown workload {w!r}")
        save()
    save()
    log(f"wrote {os.path.relpath(path, REPO)} and bench/RESULTS.md")


if __name__ == "__main__":
    main()
