"""Process measurement shared by the workloads: run a child, collect its CPU from wait4(2), its peak
RSS (its own VmHWM), its wall time and its JSON result line; machine description and load;
median/min/max, nearest-rank percentiles."""

import json
import os
import platform
import statistics
import subprocess
import tempfile
import time


def run_measured(cmd, env=None, cwd=None, timeout=1800):
    """Runs `cmd` to completion. Returns a dict with the child's JSON result (last stdout line),
    wall seconds, user+system CPU seconds and peak RSS (KiB) of the process, from wait4(2)."""
    with tempfile.TemporaryFile() as err:
        t0 = time.perf_counter()
        p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=err, env=env, cwd=cwd)
        out = p.stdout.read()
        _, status, ru = os.wait4(p.pid, 0)
        wall = time.perf_counter() - t0
        p.returncode = os.waitstatus_to_exitcode(status)
        err.seek(0)
        stderr = err.read().decode("utf-8", "replace")
    if p.returncode != 0:
        raise RuntimeError(f"{' '.join(map(str, cmd))} exited with {p.returncode}:\n{stderr[-3000:]}")
    lines = [l for l in out.decode("utf-8", "replace").splitlines() if l.strip()]
    result = json.loads(lines[-1]) if lines else {}
    return {
        "result": result,
        "proc_wall_s": wall,
        "proc_cpu_s": ru.ru_utime + ru.ru_stime,
        # The child's own VmHWM when it reports one: wait4's ru_maxrss on Linux is at least the parent's
        # RSS at fork time (it survives exec), so it overstates small processes started from Python.
        "peak_rss_kib": result.get("vm_hwm_kib") or ru.ru_maxrss,
        "wait4_maxrss_kib": ru.ru_maxrss,
    }


def vm_hwm_kib(pid):
    """Peak RSS (VmHWM) of a live process, in KiB."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def stats(values):
    values = [v for v in values if v is not None]
    if not values:
        return None
    return {"median": statistics.median(values), "min": min(values), "max": max(values), "n": len(values)}


def percentile(sorted_values, p):
    """Nearest-rank percentile `p` (0–100) of an ascending list; None when empty."""
    if not sorted_values:
        return None
    k = max(0, min(len(sorted_values) - 1, -(-p * len(sorted_values) // 100) - 1))
    return sorted_values[int(k)]


def load():
    one, five, fifteen = os.getloadavg()
    return {"1m": round(one, 2), "5m": round(five, 2), "15m": round(fifteen, 2), "at": time.strftime("%H:%M:%S", time.gmtime())}


def _read(path):
    try:
        with open(path, encoding="utf-8") as f:
            return f.read()
    except OSError:
        return ""


def machine():
    cpuinfo = _read("/proc/cpuinfo")
    model = next((l.split(":", 1)[1].strip() for l in cpuinfo.splitlines() if l.startswith("model name")), platform.processor())
    mem_kib = next((int(l.split()[1]) for l in _read("/proc/meminfo").splitlines() if l.startswith("MemTotal")), 0)
    return {
        "hostname": platform.node(),
        "cpu_model": model,
        "cpus": os.cpu_count(),
        "memory_gib": round(mem_kib / 1024 / 1024, 1),
        "kernel": platform.release(),
        "arch": platform.machine(),
        "python": platform.python_version(),
    }


def command_output(cmd, cwd=None):
    try:
        return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None
