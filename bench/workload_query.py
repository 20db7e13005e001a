"""Workload 3: the dashboard's filtered day query. A year of daily curated Parquet files made by
`pinta` (seeded, then processed by `pinta up`, which then serves them); `wrk` drives
`GET /api/production/{random day}?operator=…` at a given concurrency; DuckDB answers the same question
on the same files in the same run (bench/peers/duckdb_query.py)."""

import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request

import datasets
from measure import load, stats
from workload_coldstart import free_port

HERE = os.path.dirname(os.path.abspath(__file__))
OPERATOR = "María González"

WRK_SCRIPT = """
local days = {%s}
local query = "?operator=%s"
local counter = 0
function setup(thread)
  counter = counter + 1
  thread:set("seed", counter)
end
function init(args)
  math.randomseed(seed * 7919 + os.time())
end
function request()
  return wrk.format("GET", "/api/production/" .. days[math.random(#days)] .. query)
end
"""


def _ms(text):
    m = re.match(r"([\d.]+)(us|ms|s)", text)
    if not m:
        return None
    v, unit = float(m.group(1)), m.group(2)
    return v / 1000 if unit == "us" else v if unit == "ms" else v * 1000


def parse_wrk(out):
    res = {}
    for p in ("50", "99"):
        m = re.search(rf"^\s+{p}%\s+(\S+)", out, re.M)
        res[f"p{p}_ms"] = _ms(m.group(1)) if m else None
    m = re.search(r"Requests/sec:\s+([\d.]+)", out)
    res["per_s"] = float(m.group(1)) if m else None
    m = re.search(r"(\d+) requests in", out)
    res["requests"] = int(m.group(1)) if m else None
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    res["non_2xx"] = int(m.group(1)) if m else 0
    m = re.search(r"Socket errors: (.*)", out)
    res["socket_errors"] = m.group(1).strip() if m else None
    return res


def run(cache, bins, runs, rows_per_day=2000, concurrencies=(1, 16), seconds=10, log=print):
    data_dir = datasets.year(cache, bins, rows_per_day, log=log)
    port = free_port()
    work = tempfile.mkdtemp(prefix="query-", dir=os.path.join(cache, "out"))
    out_path = os.path.join(work, "pinta-up.log")
    out = open(out_path, "wb")
    t0 = time.perf_counter()
    up = subprocess.Popen([os.path.join(bins, "pinta"), "--data-dir", data_dir, "up", "--no-seed", "--port", str(port)],
                          stdout=out, stderr=subprocess.STDOUT, env={**os.environ, "RUST_LOG": "warn"})
    result = {"rows_per_day": rows_per_day, "operator": OPERATOR, "seconds_per_run": seconds, "gateway": {}, "duckdb": {}}
    try:
        deadline = time.time() + 3600
        while True:
            with open(out_path, encoding="utf-8", errors="replace") as f:
                text = f.read()
            if "up to date" in text:
                break
            if up.poll() is not None or time.time() > deadline:
                raise RuntimeError(f"pinta up did not get up to date:\n{text[-3000:]}")
            time.sleep(0.5)
        result["pinta_up_ready_s"] = time.perf_counter() - t0
        m = re.search(r"up to date \((\d+) published, (\d+) failed", text)
        result["days_published_at_start"] = int(m.group(1)) if m else None
        files = sum(len(fs) for _, _, fs in os.walk(os.path.join(data_dir, "produccion")))
        result["curated_files"] = files
        days = sorted(name.removeprefix("produccion_").removesuffix(".parquet")
                      for _, _, fs in os.walk(os.path.join(data_dir, "produccion")) for name in fs)
        op = urllib.parse.quote(OPERATOR)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/production/{days[len(days) // 2]}?operator={op}") as r:
            body = json.loads(r.read())
        result["sample_response"] = {"rows": len(body.get("rows", [])), "kpis": body.get("kpis")}
        script = os.path.join(work, "query.lua")
        with open(script, "w", encoding="utf-8") as f:
            f.write(WRK_SCRIPT % (", ".join(f'"{d}"' for d in days), op))
        for c in concurrencies:
            g_runs, d_runs = [], []
            before = load()
            for n in range(runs):
                threads = str(min(2, c))
                w = subprocess.run(["wrk", "-t", threads, "-c", str(c), "-d", f"{int(seconds)}s", "--latency", "-s", script,
                                    f"http://127.0.0.1:{port}"], capture_output=True, text=True)
                if w.returncode != 0:
                    raise RuntimeError(f"wrk failed: {w.stdout[-2000:]} {w.stderr[-2000:]}")
                g = parse_wrk(w.stdout)
                g_runs.append(g)
                d = subprocess.run([sys.executable, os.path.join(HERE, "peers", "duckdb_query.py"), "--data-dir", data_dir,
                                    "--operator", OPERATOR, "--concurrency", str(c), "--seconds", str(seconds)],
                                   capture_output=True, text=True, check=True)
                dd = json.loads(d.stdout.strip().splitlines()[-1])
                d_runs.append(dd)
                log(f"  run {n + 1}/{runs} c={c}: gateway p50 {g['p50_ms']} ms p99 {g['p99_ms']} ms {g['per_s']}/s "
                    f"(non-2xx {g['non_2xx']}); duckdb p50 {dd['p50_ms']:.2f} ms p99 {dd['p99_ms']:.2f} ms {dd['per_s']:.0f}/s")
            after = load()
            for target, rs in (("gateway", g_runs), ("duckdb", d_runs)):
                result[target][str(c)] = {
                    "runs": rs, "load_before": before, "load_after": after,
                    "summary": {k: stats([r.get(k) for r in rs]) for k in ("p50_ms", "p99_ms", "per_s")},
                }
        try:
            with open(f"/proc/{up.pid}/status", encoding="utf-8") as f:
                hwm = next((l for l in f if l.startswith("VmHWM")), None)
            result["pinta_up_peak_rss_mib"] = int(hwm.split()[1]) / 1024 if hwm else None
        except OSError:
            result["pinta_up_peak_rss_mib"] = None
    finally:
        up.send_signal(signal.SIGTERM)
        try:
            up.wait(timeout=30)
        except subprocess.TimeoutExpired:
            up.kill()
            up.wait()
        out.close()
    return result
