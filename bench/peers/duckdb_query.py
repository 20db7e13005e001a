"""DuckDB answering the dashboard's filtered day question on the same curated Parquet files the gateway
serves: for a random day of the year, the rows of one operator, litres and cost per paint type of those
rows, and the day's filter options (distinct operators and paint types, maximum quantity) — what
`GET /api/production/{date}?operator=…` returns. `--concurrency` threads each run questions back to
back (one DuckDB cursor per thread) for `--seconds`; prints per-question latency percentiles.
"""

import argparse
import json
import os
import random
import threading
import time

import duckdb

ap = argparse.ArgumentParser()
ap.add_argument("--data-dir", required=True)
ap.add_argument("--operator", required=True)
ap.add_argument("--concurrency", type=int, default=1)
ap.add_argument("--seconds", type=float, default=10)
args = ap.parse_args()

files = []
root = os.path.join(args.data_dir, "produccion")
for month in sorted(os.listdir(root)):
    for name in sorted(os.listdir(os.path.join(root, month))):
        files.append(os.path.join(root, month, name))

ROWS = 'SELECT * FROM read_parquet(?) WHERE "Operador" = ?'
BY_PAINT = ('SELECT "Tipo de pintura producida", sum("Cantidad producida"), sum("Costo de la producción"), count(*) '
            'FROM read_parquet(?) WHERE "Operador" = ? GROUP BY 1 ORDER BY 2 DESC')
OPTIONS = ('SELECT list(DISTINCT "Operador" ORDER BY "Operador"), list(DISTINCT "Tipo de pintura producida" '
           'ORDER BY "Tipo de pintura producida"), max("Cantidad producida") FROM read_parquet(?)')

con = duckdb.connect()
latencies = []
lock = threading.Lock()
stop_at = time.perf_counter() + args.seconds
errors = 0


def worker(seed):
    global errors
    cur = con.cursor()
    rng = random.Random(seed)
    mine = []
    while time.perf_counter() < stop_at:
        f = rng.choice(files)
        t0 = time.perf_counter()
        try:
            rows = cur.execute(ROWS, [f, args.operator]).fetchall()
            groups = cur.execute(BY_PAINT, [f, args.operator]).fetchall()
            options = cur.execute(OPTIONS, [f]).fetchall()
            assert rows is not None and groups is not None and options
        except Exception:
            with lock:
                errors += 1
            continue
        mine.append(time.perf_counter() - t0)
    with lock:
        latencies.extend(mine)


threads = [threading.Thread(target=worker, args=(i,)) for i in range(args.concurrency)]
t0 = time.perf_counter()
for t in threads:
    t.start()
for t in threads:
    t.join()
elapsed = time.perf_counter() - t0
latencies.sort()


def pct(p):
    return latencies[min(len(latencies) - 1, int(p / 100 * len(latencies)))] if latencies else None


print(json.dumps({"requests": len(latencies), "errors": errors, "per_s": len(latencies) / elapsed,
                  "p50_ms": pct(50) * 1000 if latencies else None, "p99_ms": pct(99) * 1000 if latencies else None,
                  "files": len(files)}))
