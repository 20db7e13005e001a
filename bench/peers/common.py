"""Shared plumbing of the peer implementations: command line, timing, the result line.

Every peer is run by bench/runner.py as its own process:

    python peers/<peer>.py --csv DAY.csv --catalog CATALOG.json --day YYYY-MM-DD --out DIR [--threads N]

and prints one JSON object on stdout: counts, the in-process work time (wall and CPU, from just before
the CSV is read to just after the last Parquet file is closed) and the import time. The runner measures
the whole process (peak RSS, CPU, wall) itself.
"""

import argparse
import json
import os
import sys
import time

PROCESS_T0 = time.perf_counter()

# The contracted column names (contracts/src/tables.rs).
C_DATE = "Fecha de producción"
C_PAINT = "Tipo de pintura producida"
C_QTY = "Cantidad producida"
C_UNIT = "Costo por litro producido"
C_COST = "Costo de la producción"
C_OP = "Operador"
COLUMNS = [C_DATE, C_PAINT, C_QTY, C_UNIT, C_COST, C_OP]
C_LINE = "Línea de origen"
C_REASONS = "Motivos"
C_DETAIL = "Detalle"

# Default rule set (services/validator/rules.example.toml).
QUARANTINE_THRESHOLD = 0.5
COST_ABS_TOL = 0.01
COST_REL_TOL = 0.001
FUTURE_TOLERANCE_MINUTES = 60


def parse_args():
    p = argparse.ArgumentParser()
    p.add_argument("--csv", required=True)
    p.add_argument("--catalog", required=True)
    p.add_argument("--day", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--threads", type=int, default=0, help="0 = the library's default")
    return p.parse_args()


def load_catalog(path):
    with open(path, encoding="utf-8") as f:
        cat = json.load(f)
    operators = sorted({o["name"].strip() for o in cat.get("operators", [])})
    paints = sorted({p["name"].strip() for p in cat.get("paint_types", [])})
    return operators, paints


class Clock:
    """Wall and CPU time of the work part of a run."""

    def __enter__(self):
        self.w0 = time.perf_counter()
        self.c0 = time.process_time()
        return self

    def __exit__(self, *exc):
        self.wall = time.perf_counter() - self.w0
        self.cpu = time.process_time() - self.c0
        return False


def peak_rss_kib():
    """Peak RSS of this process (VmHWM), in KiB: measured in the process because the parent's
    wait4(2) figure on Linux starts from the parent's own size at fork time."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def report(clock, imported_at, rows_in, rows_curated, rows_quarantined, out_dir, **extra):
    files = {}
    for name in ("curated.parquet", "quarantine.parquet", "converted.parquet"):
        path = os.path.join(out_dir, name)
        if os.path.exists(path):
            files[name] = os.path.getsize(path)
    print(json.dumps({
        "counts": {"rows_in": int(rows_in), "rows_curated": int(rows_curated), "rows_quarantined": int(rows_quarantined)},
        "work_wall_s": clock.wall,
        "work_cpu_s": clock.cpu,
        "import_s": imported_at - PROCESS_T0,
        "vm_hwm_kib": peak_rss_kib(),
        "files": files,
        **extra,
    }))
    sys.stdout.flush()
