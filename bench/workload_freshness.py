"""Workload 4: freshness — from the moment the extractor is triggered for a new production day to the
moment a dashboard's WebSocket client receives "new production available" for it.

The trigger is the product's own: `pinta up --demo-every <interval>` writes a new day's rows into the
source and then calls the extractor for that day (the same `extract_and_publish` as the 00:00
schedule and `pinta run`), printing `pinta: demo: new production day D` in between. The probe
(`freshness`, bench/pinta-bench/src/bin/freshness.rs) reads `pinta up`'s stdout through a pipe,
stamps that line, holds a WebSocket on the gateway's `/ws` and stamps the `published` notice for D;
the figure per day is the difference (one monotonic clock). In between: extractor (SQLite source →
raw CSV), transformer, validator (Parquet), the gateway's queue, the WebSocket push.

Two modes, each run a fresh `pinta up` on a fresh data directory seeded with three days:
* embedded: local directory as the bucket, in-process bus;
* moto: `pinta up --aws` against moto_server on a free loopback port (S3, SNS, one SQS queue per
  consumer, made by `pinta aws bootstrap --only up`), the source still SQLite (the source is read
  once per day; the mode changes the storage and the transport between the stages).
"""

import datetime
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time

from measure import load, percentile, stats, vm_hwm_kib
from workload_coldstart import REGION, free_port, start_moto




def _pinta(bins, env, *args):
    r = subprocess.run([os.path.join(bins, "pinta"), *args], capture_output=True, text=True, env=env)
    if r.returncode != 0:
        raise RuntimeError(f"pinta {' '.join(args)} failed ({r.returncode}):\n{r.stdout[-2000:]}\n{r.stderr[-2000:]}")
    return r.stdout


def plant_yesterday(offset_hours=-6):
    """The last complete day on the plant's clock (`pinta up`'s default UTC offset is -06:00)."""
    now = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(hours=offset_hours)
    return (now.date() - datetime.timedelta(days=1)).isoformat()


def one(bins, work, mode, days, interval_s, env, log):
    data_dir = os.path.join(work, "pinta-data")
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(data_dir)
    _pinta(bins, env, "--data-dir", data_dir, "seed", "--days", "3", "--until", plant_yesterday(), "--rows-per-day", "40")
    port = free_port()
    up_cmd = [os.path.join(bins, "pinta"), "--data-dir", data_dir, "up", "--no-seed", "--port", str(port),
              "--demo-every", f"{interval_s}s"]
    if mode == "moto":
        up_cmd.append("--aws")
    up_err = open(os.path.join(work, "pinta-up.err"), "wb")
    probe_err = open(os.path.join(work, "pinta-up.out"), "wb")
    up = subprocess.Popen(up_cmd, stdout=subprocess.PIPE, stderr=up_err, env=env)
    probe = subprocess.Popen([os.path.join(bins, "freshness"), "--ws", f"127.0.0.1:{port}", "--days", str(days),
                              "--timeout-s", str(days * interval_s * 3 + 300)],
                             stdin=up.stdout, stdout=subprocess.PIPE, stderr=probe_err)
    up.stdout.close()  # the probe holds the pipe now
    try:
        line = probe.stdout.readline()
        if not line:
            raise RuntimeError(f"freshness probe ended without a result; see {work}")
        res = json.loads(line)
        res["pinta_up_peak_rss_mib"] = (vm_hwm_kib(up.pid) or 0) / 1024 or None
    finally:
        up.send_signal(signal.SIGTERM)
        try:
            up.wait(timeout=60)
        except subprocess.TimeoutExpired:
            up.kill()
            up.wait()
        try:
            probe.wait(timeout=30)
        except subprocess.TimeoutExpired:
            probe.kill()
            probe.wait()
        up_err.close()
        probe_err.close()
    lat = sorted(d["latency_s"] for d in res["days"])
    return {
        "days_measured": len(lat),
        # Triggered while the probe stopped are in flight, not lost; the rest would be.
        "triggered_without_notice": res["triggered_without_notice"],
        "p50_s": percentile(lat, 50), "p95_s": percentile(lat, 95), "p99_s": percentile(lat, 99), "max_s": lat[-1] if lat else None,
        "min_s": lat[0] if lat else None,
        "latencies_s": [round(x, 6) for x in lat],
        "pinta_up_ready_s": res.get("up_to_date_s"), "pinta_up_peak_rss_mib": res.get("pinta_up_peak_rss_mib"),
        "ws_ended": res.get("ws_ended"),
    }



def run(cache, bins, runs, days=50, modes=("embedded", "moto"), intervals=None, log=print):
    intervals = {"embedded": 1, "moto": 2, **(intervals or {})}
    out_root = tempfile.mkdtemp(prefix="freshness-", dir=os.path.join(cache, "out"))
    result = {"days_per_run": days, "intervals_s": intervals, "modes": {}}
    base_env = {**os.environ, "RUST_LOG": "warn"}
    for mode in modes:
        moto = None
        before = load()
        rs = []
        try:
            env = dict(base_env)
            if mode == "moto":
                moto, endpoint = start_moto(os.path.join(out_root, "moto.log"))
                env.update({"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_REGION": REGION,
                            "AWS_DEFAULT_REGION": REGION, "AWS_ENDPOINT_URL": endpoint, "AWS_EC2_METADATA_DISABLED": "true"})
            for n in range(runs):
                run_env = dict(env)
                if mode == "moto":
                    text = _pinta(bins, env, "aws", "bootstrap", "--prefix", f"fresh{n}-{int(time.time())}", "--only", "up",
                                  "--visibility-timeout", "60")
                    for line in text.splitlines():
                        if line.startswith("export ") and "=" in line:
                            k, v = line[len("export "):].split("=", 1)
                            run_env[k] = v
                r = one(bins, os.path.join(out_root, f"{mode}-{n}"), mode, days, intervals[mode], run_env, log)
                rs.append(r)
                log(f"  {mode} run {n + 1}/{runs}: {r['days_measured']} days, p50 {r['p50_s'] * 1000:.0f} ms, "
                    f"p95 {r['p95_s'] * 1000:.0f} ms, p99 {r['p99_s'] * 1000:.0f} ms, max {r['max_s'] * 1000:.0f} ms"
                    + (f"; no notice: {r['triggered_without_notice']}" if r["triggered_without_notice"] else ""))
        finally:
            if moto is not None:
                moto.terminate()
                try:
                    moto.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    moto.kill()
        pooled = sorted(x for r in rs for x in r["latencies_s"])
        result["modes"][mode] = {
            "runs": rs, "load_before": before, "load_after": load(),
            "summary": {k: stats([r[k] for r in rs]) for k in ("p50_s", "p95_s", "p99_s", "max_s", "days_measured")},
            "pooled": {"days": len(pooled), "p50_s": percentile(pooled, 50), "p95_s": percentile(pooled, 95), "p99_s": percentile(pooled, 99),
                       "max_s": pooled[-1] if pooled else None},
        }
    return result
