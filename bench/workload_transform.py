"""Workload 1: transform + validate one day (CSV -> curated + quarantine Parquet), Pinta against its
peers on the same file, several runs each, interleaved so slow phases of the shared machine hit every
implementation alike. Also the per-stage runs (transformer alone, validator alone) whose peak RSS sizes
the Lambdas."""

import os
import shutil
import sys

import datasets
from measure import load, run_measured, stats

HERE = os.path.dirname(os.path.abspath(__file__))


def implementations(bins):
    py = sys.executable
    peer = lambda name: [py, os.path.join(HERE, "peers", name)]  # noqa: E731
    one_cpu = ["taskset", "-c", "0"]
    return [
        # (id, label, command prefix, kind, threads)
        ("pinta", "Pinta (default)", [os.path.join(bins, "pinta-bench"), "all"], "pinta", 0),
        ("pinta-1t", "Pinta (1 thread)", one_cpu + [os.path.join(bins, "pinta-bench"), "all"], "pinta", 1),
        ("pandas", "pandas Lambda (replaced system)", peer("pandas_lambda.py"), "peer", 0),
        ("pyarrow", "pyarrow.csv + parquet (conversion only)", peer("pyarrow_convert.py"), "peer", 0),
        ("pyarrow-1t", "pyarrow conversion (1 thread)", one_cpu + peer("pyarrow_convert.py"), "peer", 1),
        ("polars", "polars (conversion + rules)", peer("polars_rules.py"), "peer", 0),
        ("polars-1t", "polars (1 thread)", one_cpu + peer("polars_rules.py"), "peer", 1),
        ("duckdb", "duckdb (conversion + rules)", peer("duckdb_rules.py"), "peer", 0),
        ("duckdb-1t", "duckdb (1 thread)", one_cpu + peer("duckdb_rules.py"), "peer", 1),
    ]


def _command(impl, ds, out):
    _, _, prefix, kind, threads = impl
    if kind == "pinta":
        return prefix + [ds["csv"], ds["catalog"], ds["day"], out]
    cmd = prefix + ["--csv", ds["csv"], "--catalog", ds["catalog"], "--day", ds["day"], "--out", out]
    return cmd + (["--threads", "1"] if threads == 1 else [])


def _summary(runs, rows):
    def pick(key):
        return [r.get(key) for r in runs]

    return {
        "rows_per_s": stats([rows / r["work_wall_s"] for r in runs if r.get("work_wall_s")]),
        "work_wall_s": stats(pick("work_wall_s")),
        "work_cpu_s": stats(pick("work_cpu_s")),
        "proc_wall_s": stats(pick("proc_wall_s")),
        "proc_cpu_s": stats(pick("proc_cpu_s")),
        "peak_rss_mib": stats([r["peak_rss_kib"] / 1024 for r in runs]),
        "import_s": stats(pick("import_s")),
    }


def run(cache, bins, sizes, runs, only=None, log=print):
    results = {"sizes": {}, "stages": {}}
    impls = [i for i in implementations(bins) if not only or i[0] in only]
    for size in sizes:
        ds = datasets.day(cache, bins, size, log=log)
        log(f"transform+validate: {ds['rows']} rows ({ds['bytes'] / 1e6:.1f} MB CSV), {runs} runs x {len(impls)} implementations")
        before = load()
        per_impl = {i[0]: [] for i in impls}
        out_root = os.path.join(cache, "out", f"day-{size}")
        for n in range(runs):
            for impl in impls:
                out = os.path.join(out_root, impl[0])
                shutil.rmtree(out, ignore_errors=True)
                os.makedirs(out)
                m = run_measured(_command(impl, ds, out))
                res = m.pop("result")
                m.update({
                    "work_wall_s": res.get("work_wall_s"),
                    "work_cpu_s": res.get("work_cpu_s"),
                    "import_s": res.get("import_s"),
                    "counts": res.get("counts"),
                    "phases_s": res.get("phases_s"),
                })
                per_impl[impl[0]].append(m)
                log(f"  run {n + 1}/{runs} {impl[0]:<11} {m['work_wall_s']:.3f} s work, {m['proc_cpu_s']:.2f} s CPU, "
                    f"{m['peak_rss_kib'] / 1024:.0f} MiB peak, counts {m['counts']}")
        after = load()
        entry = {"dataset": {k: ds[k] for k in ("rows", "bytes", "day", "tiles")}, "load_before": before, "load_after": after,
                 "implementations": {}}
        for impl in impls:
            rs = per_impl[impl[0]]
            entry["implementations"][impl[0]] = {
                "label": impl[1], "threads": "1 (taskset -c 0)" if impl[4] == 1 else "default",
                "counts": rs[0]["counts"], "runs": rs, "summary": _summary(rs, ds["rows"]),
            }
        results["sizes"][str(size)] = entry

        # Per-stage peak RSS: the transformer Lambda and the validator Lambda hold different things.
        before = load()
        stage_runs = {"transformer": [], "validator": []}
        stage_dir = os.path.join(cache, "out", f"stages-{size}")
        for _ in range(runs):
            shutil.rmtree(stage_dir, ignore_errors=True)
            os.makedirs(stage_dir)
            staging = os.path.join(stage_dir, "staging.arrow")
            t = run_measured([os.path.join(bins, "pinta-bench"), "transform", ds["csv"], staging])
            v = run_measured([os.path.join(bins, "pinta-bench"), "validate", staging, ds["catalog"], ds["day"], stage_dir])
            stage_runs["transformer"].append(t)
            stage_runs["validator"].append(v)
        results["stages"][str(size)] = {
            "load_before": before, "load_after": load(),
            **{k: {"peak_rss_mib": stats([r["peak_rss_kib"] / 1024 for r in v]),
                   "work_wall_s": stats([r["result"].get("work_wall_s") for r in v]),
                   "proc_cpu_s": stats([r["proc_cpu_s"] for r in v])} for k, v in stage_runs.items()},
        }
        log(f"  stages at {size} rows: transformer {results['stages'][str(size)]['transformer']['peak_rss_mib']['median']:.0f} MiB, "
            f"validator {results['stages'][str(size)]['validator']['peak_rss_mib']['median']:.0f} MiB peak RSS")
    return results
