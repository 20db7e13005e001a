"""The benchmark data, made by `pinta` itself and cached between runs (never in the repository).

* `day(N)`: one production day of N rows with 1 % injected defects, as the extractor writes it
  (`crudos/produccion_raw_D.csv`) with its catalogue snapshot. `pinta seed` spreads a day's rows one
  per second or more over the 16 production hours, so one seeded day holds at most 57,600 rows that
  all fall inside the day. Larger days are tiled: `pinta seed` writes ceil(N / 50,000) days of at
  most 50,000 rows, `pinta run` extracts (and processes) each, and their raw CSVs are concatenated
  with the calendar date of every timestamp moved to the target day (times, values and defects kept;
  a FUTURE_DATE defect stays ten years ahead). The file is therefore still the extractor's own output,
  line for line, apart from that date.
* `year(rows_per_day)`: 365 seeded days processed by `pinta up`, for the dashboard queries.
"""

import json
import math
import os
import shutil
import subprocess

TARGET_DAY = "2025-06-30"
TILE_ROWS = 50_000
DEFECT_RATE = "0.01"
SEED = "42"


def _pinta(bins, data_dir, *args):
    cmd = [os.path.join(bins, "pinta"), "--data-dir", data_dir, *args]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode not in (0, 2):  # 2 = day held; never expected at 1 % defects, reported below
        raise RuntimeError(f"{' '.join(cmd)} failed ({r.returncode}):\n{r.stdout[-2000:]}\n{r.stderr[-2000:]}")
    return r.stdout.strip()


def _days_back(day, n):
    from datetime import date, timedelta

    d = date.fromisoformat(day)
    return [(d - timedelta(days=i)).isoformat() for i in range(n - 1, -1, -1)]


def day(cache, bins, rows, log=print):
    """Returns {"csv", "catalog", "day", "rows", "data_dir", "tiles"} for a day of `rows` rows."""
    base = os.path.join(cache, "data", f"day-{rows}")
    done = os.path.join(base, "dataset.json")
    if os.path.exists(done):
        with open(done, encoding="utf-8") as f:
            return json.load(f)
    shutil.rmtree(base, ignore_errors=True)
    data_dir = os.path.join(base, "pinta-data")
    os.makedirs(data_dir)
    tiles = math.ceil(rows / TILE_ROWS)
    per_tile = math.ceil(rows / tiles)
    log(f"  data: pinta seed {tiles} day(s) x {per_tile} rows, defect rate {DEFECT_RATE}")
    _pinta(bins, data_dir, "seed", "--days", str(tiles), "--until", TARGET_DAY, "--rows-per-day", str(per_tile),
           "--defect-rate", DEFECT_RATE, "--seed", SEED)
    days = _days_back(TARGET_DAY, tiles)
    runs = []
    for d in days:
        runs.append(_pinta(bins, data_dir, "run", "--date", d))
    catalogs = sorted(os.listdir(os.path.join(data_dir, "catalogos")))
    catalog = os.path.join(data_dir, "catalogos", catalogs[-1])
    if tiles == 1:
        csv = os.path.join(data_dir, "crudos", f"produccion_raw_{TARGET_DAY}.csv")
    else:
        csv = os.path.join(base, f"produccion_raw_{TARGET_DAY}.csv")
        with open(csv, "w", encoding="utf-8", newline="") as out:
            for i, d in enumerate(days):
                with open(os.path.join(data_dir, "crudos", f"produccion_raw_{d}.csv"), encoding="utf-8", newline="") as f:
                    header = f.readline()
                    if i == 0:
                        out.write(header)
                    for line in f:
                        if line.startswith(d):
                            line = TARGET_DAY + line[len(d):]
                        out.write(line)
    with open(csv, encoding="utf-8") as f:
        n = sum(1 for _ in f) - 1
    info = {"csv": csv, "catalog": catalog, "day": TARGET_DAY, "rows": n, "data_dir": data_dir, "tiles": tiles,
            "bytes": os.path.getsize(csv), "pinta_run": runs}
    with open(done, "w", encoding="utf-8") as f:
        json.dump(info, f, indent=1)
    return info


def source_day(cache, bins, rows, log=print):
    """A source database with one day of `rows` rows, not extracted (for the extractor at scale).
    Beyond 57,600 rows the seeded timestamps run past midnight; the extractor selects by the record's
    day, so it still reads all of them."""
    base = os.path.join(cache, "data", f"source-{rows}")
    data_dir = os.path.join(base, "pinta-data")
    done = os.path.join(base, "seeded")
    if not os.path.exists(done):
        shutil.rmtree(base, ignore_errors=True)
        os.makedirs(data_dir)
        log(f"  data: pinta seed 1 day x {rows} rows (source only)")
        _pinta(bins, data_dir, "seed", "--days", "1", "--until", TARGET_DAY, "--rows-per-day", str(rows),
               "--defect-rate", DEFECT_RATE, "--seed", SEED)
        with open(done, "w") as f:
            f.write("ok\n")
    return {"data_dir": data_dir, "day": TARGET_DAY, "rows": rows, "catalog": None, "tiles": 1}


def year(cache, bins, rows_per_day, log=print):
    """A data directory with 365 processed days (2025), made with `pinta seed` and `pinta up`."""
    base = os.path.join(cache, "data", f"year-{rows_per_day}")
    data_dir = os.path.join(base, "pinta-data")
    done = os.path.join(base, "seeded")
    if not os.path.exists(done):
        shutil.rmtree(base, ignore_errors=True)
        os.makedirs(data_dir)
        log(f"  data: pinta seed 365 days x {rows_per_day} rows to 2025-12-31")
        _pinta(bins, data_dir, "seed", "--days", "365", "--until", "2025-12-31", "--rows-per-day", str(rows_per_day),
               "--defect-rate", DEFECT_RATE, "--seed", SEED)
        with open(done, "w") as f:
            f.write("ok\n")
    return data_dir
