"""Regenerates bench/RESULTS.md from the newest bench/results/*.json: tables of medians with min/max,
ratios to each peer, the issue's targets and where Pinta stands, the machine, commit and load. The
hand-written interpretation (why we win or lose where we do) is bench/analysis.md, appended as is."""

import glob
import json
import os

TARGETS_NOTE = "Targets are those of the benchmark issue; a figure is a median of the runs, min–max in brackets."


def fmt(v, digits=2):
    if v is None:
        return "–"
    if isinstance(v, float):
        if abs(v) >= 1000:
            return f"{v:,.0f}"
        return f"{v:.{digits}f}"
    return f"{v:,}" if isinstance(v, int) else str(v)


def mmm(s, digits=2, scale=1.0):
    if not s:
        return "–"
    return f"{fmt(s['median'] * scale, digits)} [{fmt(s['min'] * scale, digits)}–{fmt(s['max'] * scale, digits)}]"


def ratio(a, b):
    if not a or not b:
        return None
    return a / b


def newest(results_dir):
    files = sorted(glob.glob(os.path.join(results_dir, "*.json")), key=os.path.getmtime)
    return files[-1] if files else None


def med(summary, key):
    s = summary.get(key) if summary else None
    return s["median"] if s else None


def load_text(l):
    return f"{l['1m']} / {l['5m']} / {l['15m']} (1/5/15 min, at {l['at']} UTC)" if l else "–"


def transform_section(t, lines, targets):
    lines.append("## 1. Transform + validate one day (CSV → curated + quarantine Parquet)\n")
    lines.append("Same CSV for everyone (made by `pinta seed` + extraction, 1 % injected defects), same output "
                 "compression (snappy). *rows/s* and *work s* are measured inside each process, from just before the "
                 "CSV is read to just after the last Parquet file is closed (interpreter start and imports excluded; "
                 "they are in *process CPU s* and in the cold-start section). *process CPU s* is the whole process "
                 "(wait4); *peak RSS* is the process's own high-water mark (VmHWM, read in the process at its end). Ratios are Pinta (default) relative to the row's implementation: throughput "
                 "× = Pinta rows/s ÷ theirs; RSS × = their peak RSS ÷ Pinta's; CPU × = their process CPU ÷ Pinta's "
                 "(> 1 = Pinta better).\n")
    for size, entry in t.get("sizes", {}).items():
        ds = entry["dataset"]
        impls = entry["implementations"]
        ours = impls.get("pinta", {}).get("summary")
        lines.append(f"### {int(size):,} rows ({ds['bytes'] / 1e6:.1f} MB CSV, {ds['tiles']} seeded day(s))\n")
        lines.append(f"Load before: {load_text(entry['load_before'])}; after: {load_text(entry['load_after'])}.\n")
        lines.append("| implementation | threads | rows/s | work s | process CPU s | peak RSS MiB | curated / quarantined | throughput × | RSS × | CPU × |")
        lines.append("|---|---|---|---|---|---|---|---|---|---|")
        for iid, e in impls.items():
            s = e["summary"]
            c = e.get("counts") or {}
            thr = ratio(med(ours, "rows_per_s"), med(s, "rows_per_s"))
            rss = ratio(med(s, "peak_rss_mib"), med(ours, "peak_rss_mib"))
            cpu = ratio(med(s, "proc_cpu_s"), med(ours, "proc_cpu_s"))
            same = iid == "pinta"
            lines.append(
                f"| {e['label']} | {e['threads']} | {mmm(s['rows_per_s'], 0)} | {mmm(s['work_wall_s'], 3)} | "
                f"{mmm(s['proc_cpu_s'], 2)} | {mmm(s['peak_rss_mib'], 0)} | {fmt(c.get('rows_curated'))} / "
                f"{fmt(c.get('rows_quarantined'))} | {'—' if same else fmt(thr) + '×'} | {'—' if same else fmt(rss) + '×'} | "
                f"{'—' if same else fmt(cpu) + '×'} |")
        lines.append("")
        if ours and "pandas" in impls and "pyarrow" in impls:
            targets.append((f"transform+validate ≥ 10× pandas rows/s ({int(size):,} rows)",
                            f"{fmt(ratio(med(ours, 'rows_per_s'), med(impls['pandas']['summary'], 'rows_per_s')))}×",
                            (ratio(med(ours, 'rows_per_s'), med(impls['pandas']['summary'], 'rows_per_s')) or 0) >= 10))
            targets.append((f"transform+validate ≥ 2× pyarrow conversion rows/s ({int(size):,} rows)",
                            f"{fmt(ratio(med(ours, 'rows_per_s'), med(impls['pyarrow']['summary'], 'rows_per_s')))}×",
                            (ratio(med(ours, 'rows_per_s'), med(impls['pyarrow']['summary'], 'rows_per_s')) or 0) >= 2))
            if int(size) >= 1_000_000:
                r = ratio(med(ours, "peak_rss_mib"), med(impls["pandas"]["summary"], "peak_rss_mib"))
                targets.append(("peak RSS ≤ 1/5 of pandas at 1M rows",
                                f"{fmt(med(ours, 'peak_rss_mib'), 0)} MiB vs {fmt(med(impls['pandas']['summary'], 'peak_rss_mib'), 0)} MiB "
                                f"(= {fmt(r)} of it)", (r or 9) <= 0.2))
        phases = [r.get("phases_s") for r in impls.get("pinta", {}).get("runs", []) if r.get("phases_s")]
        if phases:
            keys = phases[0].keys()
            mid = sorted(phases, key=lambda p: sum(p.values()))[len(phases) // 2]
            lines.append("Pinta's phases (median run): " + ", ".join(f"{k} {v:.3f} s" for k, v in mid.items() if k in keys) + ".\n")
    stages = t.get("stages", {})
    if stages:
        lines.append("### Per-stage peak RSS (what sizes each Lambda)\n")
        lines.append("The transformer and the validator run as separate Lambdas; each stage alone, as a process:\n")
        lines.append("| rows | transformer peak RSS MiB | validator peak RSS MiB | transformer work s | validator work s | load before → after |")
        lines.append("|---|---|---|---|---|---|")
        for size, s in stages.items():
            lines.append(f"| {int(size):,} | {mmm(s['transformer']['peak_rss_mib'], 0)} | {mmm(s['validator']['peak_rss_mib'], 0)} | "
                         f"{mmm(s['transformer']['work_wall_s'], 3)} | {mmm(s['validator']['work_wall_s'], 3)} | "
                         f"{s['load_before']['1m']} → {s['load_after']['1m']} |")
        lines.append("")


def coldstart_section(c, lines, targets):
    lines.append("## 2. Cold start: process start → first event handled\n")
    lines.append(f"Each run is a fresh process speaking the real Lambda Runtime API to a local endpoint; S3 and SNS "
                 f"are moto_server (the AWS SDK calls are real HTTP). The event is a day of {c['rows']:,} rows: the "
                 "extractor reads it from SQLite and writes the CSV, the transformer reads the CSV and writes staging, "
                 "the validator writes the Parquet files, the notifier turns a `pipeline.failed.v1` into an alert; the "
                 "pandas peer imports pandas/pyarrow/boto3 and transforms the same CSV from S3 to S3. *ready* = the "
                 "first `GET /next`; *first event* = its response posted.\n")
    lines.append(f"Load before: {load_text(c.get('load_before'))}; after: {load_text(c.get('load_after'))}.\n")
    lines.append("| function | ready s | first event handled s | peak RSS MiB | CPU s | size |")
    lines.append("|---|---|---|---|---|---|")
    for name, b in c.get("binaries", {}).items():
        s = b["summary"]
        lines.append(f"| {name} (Rust, x86_64 release) | {mmm(s['ready_s'], 3)} | {mmm(s['first_event_s'], 3)} | "
                     f"{mmm(s['peak_rss_mib'], 0)} | {mmm(s['cpu_s'], 3)} | {b['size_bytes'] / 1e6:.1f} MB binary |")
    for name, p in c.get("peers", {}).items():
        s = p["summary"]
        lines.append(f"| {name} (Python, pandas + pyarrow + boto3) | {mmm(s['ready_s'], 3)} | {mmm(s['first_event_s'], 3)} | "
                     f"{mmm(s['peak_rss_mib'], 0)} | {mmm(s['cpu_s'], 3)} | {p['deployment_bytes'] / 1e6:.0f} MB of packages |")
    lines.append("")
    peer = c.get("peers", {}).get("pandas-lambda", {}).get("summary")
    ours = c.get("binaries", {}).get("pinta-transformer", {}).get("summary")
    if peer and ours:
        r = ratio(med(ours, "first_event_s"), med(peer, "first_event_s"))
        targets.append(("cold start to first event ≤ 1/20 of pandas (transformer vs pandas Lambda)",
                        f"{fmt(med(ours, 'first_event_s'), 3)} s vs {fmt(med(peer, 'first_event_s'), 3)} s (= 1/{fmt(1 / r if r else None, 1)})",
                        (r or 1) <= 0.05))


def query_section(q, lines, targets):
    lines.append("## 3. Dashboard query: filtered day under load\n")
    lines.append(f"A year of daily curated files made by `pinta` ({q.get('curated_files')} files, "
                 f"{q['rows_per_day']:,} rows a day before validation), served by `pinta up` (embedded mode). "
                 f"`wrk` requests `GET /api/production/<random day>?operator={q['operator']}` for "
                 f"{q['seconds_per_run']:g} s per run; DuckDB answers the same question (the operator's rows, litres and "
                 "cost per paint type, the day's filter options) with `read_parquet` on the same files, in-process "
                 "(no HTTP, no JSON), with the same number of concurrent clients. wrk and the server share the 2 cores. "
                 f"`pinta up` peak RSS during the run: {fmt(q.get('pinta_up_peak_rss_mib'), 0)} MiB.\n")
    lines.append("| concurrency | gateway p50 ms | gateway p99 ms | gateway req/s | DuckDB p50 ms | DuckDB p99 ms | DuckDB questions/s | load before → after |")
    lines.append("|---|---|---|---|---|---|---|---|")
    for c, g in q.get("gateway", {}).items():
        d = q["duckdb"].get(c, {})
        gs, ds = g["summary"], d.get("summary", {})
        lines.append(f"| {c} | {mmm(gs['p50_ms'], 2)} | {mmm(gs['p99_ms'], 2)} | {mmm(gs['per_s'], 0)} | {mmm(ds.get('p50_ms'), 2)} | "
                     f"{mmm(ds.get('p99_ms'), 2)} | {mmm(ds.get('per_s'), 0)} | {g['load_before']['1m']} → {g['load_after']['1m']} |")
        errors = sum(r.get("non_2xx") or 0 for r in g["runs"])
        if errors:
            lines.append(f"| | {errors} non-2xx responses | | | | | | |")
        targets.append((f"filtered day query p50 ≤ DuckDB's (concurrency {c})",
                        f"{fmt(med(gs, 'p50_ms'))} ms vs {fmt(med(ds, 'p50_ms'))} ms",
                        (med(gs, "p50_ms") or 9e9) <= (med(ds, "p50_ms") or 0)))
    lines.append("")


def freshness_section(fr, lines, targets):
    lines.append("## 4. Freshness: extractor triggered → dashboard WebSocket notified\n")
    lines.append(f"`pinta up --demo-every` appends a production day (40 rows) to the SQLite source and triggers the "
                 "extractor for it — the product's own trigger, the same call as the 00:00 schedule. A probe reads "
                 "`pinta up`'s output through a pipe and stamps the line printed just before the extractor is called, "
                 "holds a WebSocket on the gateway's `/ws` and stamps the `published` notice for that day (one clock). "
                 "In between: extraction, transformer, validator (Parquet), the gateway's queue, the push. "
                 f"{fr['days_per_run']} days per run, each run a fresh `pinta up` on a fresh data directory; "
                 "*moto* = `pinta up --aws` against moto_server on loopback (S3, SNS, SQS queues made by "
                 "`pinta aws bootstrap`), same SQLite source. Percentiles per run (nearest rank; with 50 days p99 is "
                 "the slowest day), then median [min–max] over the runs; *pooled* = all runs' days together.\n")
    lines.append("| mode | demo interval | days/run | p50 ms | p95 ms | p99 ms | max ms | pooled p50 / p95 / p99 ms | `pinta up` peak RSS MiB | load before → after |")
    lines.append("|---|---|---|---|---|---|---|---|---|---|")
    goals = {"embedded": 1.0, "moto": 3.0}
    for mode, m in fr.get("modes", {}).items():
        s, p = m["summary"], m["pooled"]
        rss = [r.get("pinta_up_peak_rss_mib") for r in m["runs"] if r.get("pinta_up_peak_rss_mib")]
        lines.append(f"| {mode} | {fr['intervals_s'].get(mode)} s | {mmm(s['days_measured'], 0)} | {mmm(s['p50_s'], 0, 1000)} | "
                     f"{mmm(s['p95_s'], 0, 1000)} | {mmm(s['p99_s'], 0, 1000)} | {mmm(s['max_s'], 0, 1000)} | "
                     f"{fmt((p['p50_s'] or 0) * 1000, 0)} / {fmt((p['p95_s'] or 0) * 1000, 0)} / {fmt((p['p99_s'] or 0) * 1000, 0)} "
                     f"({p['days']} days) | {fmt(max(rss), 0) if rss else '–'} | {m['load_before']['1m']} → {m['load_after']['1m']} |")
        lost = [d for r in m["runs"] for d in r.get("triggered_without_notice", [])]
        if lost:
            lines.append(f"| | triggered without a notice when the probe stopped (in flight): {', '.join(lost)} | | | | | | | | |")
        if mode in goals and s.get("p99_s"):
            targets.append((f"freshness p99 ≤ {goals[mode]:g} s ({mode})", f"{fmt(med(s, 'p99_s') * 1000, 0)} ms "
                            f"[{fmt(s['p99_s']['min'] * 1000, 0)}–{fmt(s['p99_s']['max'] * 1000, 0)}]",
                            med(s, "p99_s") <= goals[mode]))
    lines.append("")


def fanout_section(fo, lines, targets):
    lines.append("## 5. WebSocket fan-out: one published day → 10,000 dashboards\n")
    lines.append(f"A gateway process (`fanout-gateway`: the dashboard gateway's `start()` over the in-process bus, as "
                 f"`pinta up` wires it, without the pipeline) and a client process (`fanout-client`, tokio + "
                 f"tokio-tungstenite) with {fo['clients']:,} WebSocket connections on loopback, both on the same 2 cores. "
                 f"Per run {fo['events_per_run']} `production.published.v1` events are published on the gateway's bus "
                 f"{fo['spacing_s']:g} s apart; a delivery's latency = the instant the client read the notice − the instant "
                 "just before publishing (CLOCK_REALTIME in both processes). p50/p95/p99/max are over every delivery of "
                 "the run; *all notified* = the delay until the last client had the event (median over the run's events). "
                 "RSS per connection = (gateway VmRSS with every client connected − VmRSS before the first) ÷ clients. "
                 f"*1 % slow readers*: {int(fo['clients'] * fo['slow_share']):,} clients read their snapshot and then "
                 "nothing (4 KiB receive buffer); the latencies are those of the others. Median [min–max] over the runs.\n")
    lines.append("| scenario | connected | delivered / expected | p50 ms | p95 ms | p99 ms | max ms | all notified ms | RSS / connection KiB | connect all s |")
    lines.append("|---|---|---|---|---|---|---|---|---|---|")
    for name, sc in fo.get("scenarios", {}).items():
        s = sc["summary"]
        conn = [r["connected"] for r in sc["runs"]]
        label = {"all_read": "all clients read", "slow_readers": "1 % slow readers"}.get(name, name)
        lines.append(f"| {label} | {fmt(min(conn))}–{fmt(max(conn))} | {mmm(s['delivered'], 0)} / {mmm(s['expected'], 0)} | "
                     f"{mmm(s['p50_ms'], 1)} | {mmm(s['p95_ms'], 1)} | {mmm(s['p99_ms'], 1)} | {mmm(s['max_ms'], 1)} | "
                     f"{mmm(s['all_notified_ms'], 1)} | {mmm(s['rss_per_connection_kib'], 1)} | {mmm(s['connect_s'], 1)} |")
    lines.append("")
    slow = fo.get("scenarios", {}).get("slow_readers")
    if slow:
        for i, r in enumerate(slow["runs"]):
            lines.append(f"- Slow readers, run {i + 1}: {r['slow_connected']} connected; dropped by the gateway: "
                         f"{r['slow_dropped_by_gateway']}; connections that ended: {r['slow_ended']}; notices they could "
                         f"still read afterwards: {r['slow_notices_drained']} (of {r['slow_connected'] * r['events']} sent); "
                         f"gateway-side sockets with bytes queued in the kernel: {r['send_q_nonzero']} "
                         f"(at most {r['send_q_max_bytes']} B); readers whose connection ended: {r['readers_ended']}.")
        lines.append("")
    dp = fo.get("drop_point")
    if dp:
        lines.append("*When is a client that stops reading dropped?* One reading and one non-reading client (4 KiB receive "
                     "buffer); days published 10 every 2 ms until the gateway drops a client: "
                     + "; ".join(f"run {i + 1}: {fmt(d['notices_published'])} notices published, {d['dropped']} dropped "
                                 f"(the non-reader's connection ended: {'yes' if d['slow_ended'] else 'no'}; the reader's: "
                                 f"{'yes' if d['reader_ended'] else 'no'}, it read {fmt(d['reader_received'])})"
                                 for i, d in enumerate(dp["runs"])) + ".\n")
    main = fo.get("scenarios", {}).get("all_read")
    if main:
        s = main["summary"]
        p99, rss = med(s, "p99_ms"), med(s, "rss_per_connection_kib")
        complete = all(r["delivered"] == r["expected"] for r in main["runs"])
        targets.append((f"{fo['clients']:,} WebSocket clients notified within 250 ms p99",
                        f"p99 {fmt(p99, 1)} ms [{fmt(s['p99_ms']['min'], 1)}–{fmt(s['p99_ms']['max'], 1)}], all notified "
                        f"{fmt(med(s, 'all_notified_ms'), 1)} ms; {'every' if complete else '**not every**'} delivery arrived",
                        complete and (p99 or 9e9) <= 250))
        targets.append(("< 20 KB gateway RSS per WebSocket connection",
                        f"{fmt(rss, 1)} KiB [{fmt(s['rss_per_connection_kib']['min'], 1)}–{fmt(s['rss_per_connection_kib']['max'], 1)}] "
                        f"(= {fmt((rss or 0) * 1.024, 1)} KB)", (rss or 9e9) * 1.024 < 20))


def write(bench_dir):
    path = newest(os.path.join(bench_dir, "results"))
    lines = ["# Benchmark results", ""]
    if not path:
        lines.append("No results yet: run `bench/run`.")
        with open(os.path.join(bench_dir, "RESULTS.md"), "w", encoding="utf-8") as f:
            f.write("\n".join(lines) + "\n")
        return
    with open(path, encoding="utf-8") as f:
        doc = json.load(f)
    m = doc["machine"]
    v = doc["versions"]
    lines += [
        "Generated by `bench/run` (bench/report.py) from "
        f"[`results/{os.path.basename(path)}`](results/{os.path.basename(path)}); do not edit by hand — the "
        "interpretation at the end is `bench/analysis.md`.",
        "",
        f"- **When**: {doc['started_at']} → {doc.get('finished_at', '?')}"
        + (f"; workloads not re-run then are from the run of {doc['merged_from']['started_at']} → "
           f"{doc['merged_from']['finished_at']} (same commit: {doc['merged_from']['git_commit'] == doc['git_commit']}); "
           "each section gives its own load figures" if doc.get("merged_from") else ""),
        f"- **Commit**: `{doc['git_commit']}`{' (with uncommitted changes)' if doc.get('git_dirty') else ''}"
        + (f" — {doc['source_note']}" if doc.get("source_note") else ""),
        f"- **Machine**: {m['cpu_model']}, {m['cpus']} CPUs, {m['memory_gib']} GiB RAM, Linux {m['kernel']} ({m['arch']}); "
        "shared with other work (compilers were running during the run) — see the load figures",
        f"- **Load average** at start: {load_text(doc.get('load_at_start'))}; at end: {load_text(doc.get('load_at_end'))}",
        f"- **Versions**: {v.get('rustc')}; Python {m['python']}; pandas {v.get('pandas')}, pyarrow {v.get('pyarrow')}, "
        f"polars {v.get('polars')}, duckdb {v.get('duckdb')}, numpy {v.get('numpy')}, boto3 {v.get('boto3')}, "
        f"moto {v.get('moto')}; {v.get('wrk')}",
        f"- **Runs per figure**: {doc['settings']['runs']}. {TARGETS_NOTE}",
        "",
    ]
    body, targets = [], []
    w = doc.get("workloads", {})
    if "transform" in w:
        transform_section(w["transform"], body, targets)
    if "coldstart" in w:
        coldstart_section(w["coldstart"], body, targets)
    if "extractor_scale" in w:
        e = w["extractor_scale"]
        b = e.get("binaries", {}).get("pinta-extractor")
        if b:
            s = b["summary"]
            body.append(f"### The extractor on a {e['rows']:,}-row source day\n")
            body.append("Same set-up as above, the extractor alone, on one seeded source day of that size (its peak RSS "
                        f"sizes its Lambda). Load before: {load_text(e.get('load_before'))}; after: {load_text(e.get('load_after'))}.\n")
            body.append("| function | first event handled s | peak RSS MiB | CPU s |")
            body.append("|---|---|---|---|")
            body.append(f"| pinta-extractor | {mmm(s['first_event_s'], 3)} | {mmm(s['peak_rss_mib'], 0)} | {mmm(s['cpu_s'], 3)} |")
            body.append("")
    if "query" in w:
        query_section(w["query"], body, targets)
    if "freshness" in w:
        freshness_section(w["freshness"], body, targets)
    if "fanout" in w:
        fanout_section(w["fanout"], body, targets)
    lines.append("## Where we stand against the targets\n")
    lines.append("| target | measured | met? |")
    lines.append("|---|---|---|")
    for name, measured, ok in targets:
        lines.append(f"| {name} | {measured} | {'yes' if ok else '**no**'} |")
    if "freshness" not in w:
        lines.append("| freshness p99 ≤ 1 s embedded, ≤ 3 s against moto | not measured in this run | – |")
    if "fanout" not in w:
        lines.append("| 10,000 WebSocket clients notified within 250 ms p99, < 20 KB RSS per connection | not measured in this run | – |")
    lines.append("")
    lines += body
    analysis = os.path.join(bench_dir, "analysis.md")
    if os.path.exists(analysis):
        with open(analysis, encoding="utf-8") as f:
            lines.append(f.read().rstrip())
    with open(os.path.join(bench_dir, "RESULTS.md"), "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")
