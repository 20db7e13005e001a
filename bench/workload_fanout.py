"""Workload 5: WebSocket fan-out. One gateway process (`fanout-gateway`: the dashboard gateway wired
as `pinta up` wires it, over the in-process bus, without the pipeline) and one client process
(`fanout-client`, tokio + tokio-tungstenite) holding 10,000 WebSocket connections on loopback. The
benchmark publishes `production.published.v1` on the gateway's bus a few times, one second apart, and
measures for every client the delay from the instant of publishing to the instant the notice was read
(CLOCK_REALTIME in both processes: same machine, same clock). Gateway RSS per connection =
(VmRSS with every client connected and subscribed − VmRSS before the first connection) / clients.

Two scenarios per run, each on a fresh gateway: every client reads; 1 % of the clients never read
after their snapshot (minimal receive buffer). For the latter: how many of them the gateway dropped,
how many notices they could still drain afterwards, the bytes queued for them in the kernel (`ss`),
and the latency of the others."""

import json
import os
import resource
import shutil
import subprocess
import tempfile
import time
import urllib.request

from measure import load, percentile, stats
from workload_coldstart import free_port


def _raise_nofile():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def _status(pid, key):
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None




def _json_line(stream, what, timeout=120):
    t0 = time.time()
    while time.time() - t0 < timeout:
        line = stream.readline()
        if not line:
            raise RuntimeError(f"{what}: stream ended")
        line = line.strip()
        if line.startswith(b"{"):
            return json.loads(line)
    raise RuntimeError(f"{what}: no answer within {timeout} s")


def _send_q(port):
    """Bytes queued in the kernel on the gateway's side of each established connection (`ss`)."""
    out = subprocess.run(["ss", "-Htn", "state", "established", f"( sport = :{port} )"], capture_output=True, text=True)
    queued = []
    for line in out.stdout.splitlines():
        parts = line.split()
        if len(parts) >= 2 and parts[1].isdigit():
            queued.append(int(parts[1]))
    return queued


def _metrics(port):
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as r:
            text = r.read().decode()
    except OSError:
        return {}
    out = {}
    for line in text.splitlines():
        if line.startswith("pinta_gateway_ws_"):
            name, _, value = line.rpartition(" ")
            out[name] = float(value)
    return out


def _stop(*procs):
    """Closes each started process's stdin (its signal to finish) and waits; kills one that hangs."""
    for p in procs:
        if p is None:
            continue
        try:
            p.stdin.close()
        except OSError:
            pass
        try:
            p.wait(timeout=30)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def one(bins, work, clients, slow, events, spacing_s, sources, log):
    port = free_port()
    store = tempfile.mkdtemp(prefix="store-", dir=work)
    gw_log = open(os.path.join(work, f"gateway-{port}.log"), "wb")
    cl_log = open(os.path.join(work, f"client-{port}.log"), "wb")
    gw = subprocess.Popen([os.path.join(bins, "fanout-gateway"), "--port", str(port), "--dir", store],
                          stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=gw_log, preexec_fn=_raise_nofile,
                          env={**os.environ, "RUST_LOG": "warn"})
    cl = None
    try:
        _json_line(gw.stdout, "fanout-gateway start")
        time.sleep(0.5)
        rss_idle = _status(gw.pid, "VmRSS")
        cl = subprocess.Popen([os.path.join(bins, "fanout-client"), "--addr", f"127.0.0.1:{port}", "--clients", str(clients),
                               "--slow", str(slow), "--events", str(events), "--sources", ",".join(sources),
                               "--timeout-s", "300"],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=cl_log, preexec_fn=_raise_nofile)
        ready = _json_line(cl.stdout, "fanout-client connect", timeout=600)
        time.sleep(1.0)
        rss_connected = _status(gw.pid, "VmRSS")

        def gw_cmd(cmd):
            gw.stdin.write(cmd.encode() + b"\n")
            gw.stdin.flush()
            return _json_line(gw.stdout, f"fanout-gateway {cmd}")

        before = gw_cmd("stats")
        published = []
        for _ in range(events):
            published.append(gw_cmd("publish"))
            time.sleep(spacing_s)
        time.sleep(2.0)
        after = gw_cmd("stats")
        send_q = _send_q(port)
        metrics = _metrics(port)
        rss_after = _status(gw.pid, "VmRSS")
        hwm = _status(gw.pid, "VmHWM")
        cl.stdin.write(b"done\n")
        cl.stdin.flush()
        res = _json_line(cl.stdout, "fanout-client result", timeout=300)
        cl.wait(timeout=60)
    finally:
        _stop(cl, gw)
        gw_log.close()
        cl_log.close()
        shutil.rmtree(store, ignore_errors=True)

    latencies, per_event = [], []
    for p in published:
        t = int(p["t_ns"])
        got = sorted((r - t) / 1e6 for r in res["received_ns"].get(p["published"], []))
        latencies += got
        per_event.append({"date": p["published"], "delivered": len(got), "p50_ms": percentile(got, 50), "p99_ms": percentile(got, 99),
                          "max_ms": got[-1] if got else None})
    latencies.sort()
    readers = res["readers"]
    connected = ready["ready"]
    nonzero_q = [q for q in send_q if q > 0]
    return {
        "clients": clients, "slow": slow, "events": events, "connected": connected, "connect_failed": ready["failed"],
        "connect_s": ready["connect_s"], "readers": readers,
        "delivered": len(latencies), "expected": readers * events,
        "p50_ms": percentile(latencies, 50), "p95_ms": percentile(latencies, 95), "p99_ms": percentile(latencies, 99),
        "max_ms": latencies[-1] if latencies else None,
        # The delay until the last client had the notice, per event (median over the events).
        "all_notified_ms": sorted(e["max_ms"] for e in per_event if e["max_ms"] is not None)[len(per_event) // 2]
        if per_event else None,
        "per_event": per_event,
        "rss_idle_kib": rss_idle, "rss_connected_kib": rss_connected, "rss_after_kib": rss_after, "vm_hwm_kib": hwm,
        "rss_per_connection_kib": (rss_connected - rss_idle) / connected if connected and rss_idle and rss_connected else None,
        "hub_before": before, "hub_after": after, "metrics": metrics,
        "readers_ended": res["readers_ended"],
        "slow_connected": res["slow"], "slow_dropped_by_gateway": (after.get("dropped", 0) - before.get("dropped", 0)),
        "slow_ended": res["slow_ended"], "slow_notices_drained": res["slow_notices_drained"],
        "send_q_nonzero": len(nonzero_q), "send_q_max_bytes": max(nonzero_q) if nonzero_q else 0,
        "client_errors": res["errors"],
    }


def drop_point(bins, work, sources, max_notices=100_000):
    """One reading and one non-reading client; notices published (10 every 2 ms) until the gateway
    drops a client. Says how many notices a client that stopped reading absorbs before it is dropped."""
    port = free_port()
    store = tempfile.mkdtemp(prefix="store-", dir=work)
    with open(os.path.join(work, f"gateway-{port}.log"), "wb") as gw_log, \
            open(os.path.join(work, f"client-{port}.log"), "wb") as cl_log:
        gw = subprocess.Popen([os.path.join(bins, "fanout-gateway"), "--port", str(port), "--dir", store],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=gw_log, env={**os.environ, "RUST_LOG": "warn"})
        cl = None
        try:
            _json_line(gw.stdout, "fanout-gateway start")
            cl = subprocess.Popen([os.path.join(bins, "fanout-client"), "--addr", f"127.0.0.1:{port}", "--clients", "2",
                                   "--slow", "1", "--events", str(max_notices + 1), "--sources", ",".join(sources),
                                   "--timeout-s", "600"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=cl_log)
            _json_line(cl.stdout, "fanout-client connect")
            gw.stdin.write(f"flood {max_notices}\n".encode())
            gw.stdin.flush()
            flood = _json_line(gw.stdout, "fanout-gateway flood", timeout=900)
            cl.stdin.write(b"done\n")
            cl.stdin.flush()
            res = _json_line(cl.stdout, "fanout-client result", timeout=300)
        finally:
            _stop(cl, gw)
            shutil.rmtree(store, ignore_errors=True)
    got = sum(len(v) for v in res["received_ns"].values())
    return {"notices_published": flood["flood"], "dropped": flood["dropped"], "slow_ended": res["slow_ended"],
            "slow_notices_drained": res["slow_notices_drained"], "reader_received": got, "reader_ended": res["readers_ended"]}


def run(cache, bins, runs, clients=10_000, slow_share=0.01, events=5, spacing_s=1.0, log=print):
    work = tempfile.mkdtemp(prefix="fanout-", dir=os.path.join(cache, "out"))
    slow = int(round(clients * slow_share))
    result = {"clients": clients, "events_per_run": events, "spacing_s": spacing_s, "slow_share": slow_share,
              "scenarios": {}, "load_before": load()}
    scenarios = (("all_read", 0), ("slow_readers", slow))
    runs_by = {name: [] for name, _ in scenarios}
    k = 0
    for n in range(runs):
        for name, s in scenarios:
            # Fresh loopback source addresses for every gateway: the previous run's ports sit in TIME_WAIT.
            sources = [f"127.0.{1 + k // 60}.{2 + (k % 60) * 4 + i}" for i in range(4)]
            k += 1
            r = one(bins, work, clients, s, events, spacing_s, sources, log)
            r["load_after"] = load()
            runs_by[name].append(r)
            log(f"  run {n + 1}/{runs} {name}: {r['connected']:,} connected in {r['connect_s']:.1f} s; delivered "
                f"{r['delivered']:,}/{r['expected']:,}; p50 {r['p50_ms']:.1f} ms p99 {r['p99_ms']:.1f} ms max {r['max_ms']:.1f} ms; "
                f"RSS/conn {r['rss_per_connection_kib']:.1f} KiB; slow: {r['slow_connected']} connected, "
                f"{r['slow_dropped_by_gateway']} dropped, {r['slow_notices_drained']} notices drained")
    for name, rs in runs_by.items():
        result["scenarios"][name] = {
            "runs": rs,
            "summary": {key: stats([r.get(key) for r in rs]) for key in
                        ("p50_ms", "p95_ms", "p99_ms", "max_ms", "all_notified_ms", "rss_per_connection_kib", "connect_s",
                         "delivered", "expected", "slow_dropped_by_gateway", "slow_notices_drained", "send_q_max_bytes")},
        }
    # How much a client that stops reading absorbs before the gateway drops it (one measurement per run).
    drops = []
    for n in range(runs):
        sources = [f"127.0.{1 + k // 60}.{2 + (k % 60) * 4}"]
        k += 1
        d = drop_point(bins, work, sources)
        drops.append(d)
        log(f"  run {n + 1}/{runs} drop point: {d['notices_published']:,} notices published, {d['dropped']} client(s) dropped "
            f"(slow ended: {d['slow_ended']}, reader ended: {d['reader_ended']}, reader got {d['reader_received']:,})")
    result["drop_point"] = {"runs": drops, "summary": {"notices_published": stats([d["notices_published"] for d in drops])}}
    result["load_after"] = load()
    return result
