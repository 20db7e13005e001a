"""Runs the example queries of docs/analysts.md with DuckDB over a data directory laid out as the bucket,
and checks each result against an independent pyarrow computation. Used by cli/tests/analyst_queries.rs.

Usage: analyst_queries.py DATA_DIR ANALYSTS_MD GLUE_TABLES_JSON

The Athena tables are translated minimally: each table name becomes a DuckDB view over
read_parquet() of the table's projection template (`<prefix>${mes}/`) expanded for every month folder
present, with the partition column `mes` added; the SQL text of the doc is run unchanged.
Prints a JSON summary on stdout; exits non-zero (with the differences) when a result differs.
"""
import json
import math
import os
import re
import sys

try:
    import duckdb
except ImportError:
    sys.exit("analyst_queries.py: the duckdb module is missing: run scripts/python-env (scripts/requirements-test.txt pins it)")
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

data_dir, doc_path, glue_path = sys.argv[1:4]
MONTH = re.compile(r"^\d{4}-\d{2}$")

with open(glue_path, encoding="utf-8") as f:
    tables = {t["name"]: t for t in json.load(f)["tables"]}


def month_folders(prefix):
    """`${mes}` values of the projection that have a folder (Athena reads an absent one as empty)."""
    base = os.path.join(data_dir, prefix)
    if not os.path.isdir(base):
        return []
    return sorted(
        m
        for m in os.listdir(base)
        if MONTH.match(m) and os.path.isdir(os.path.join(base, m)) and any(f.endswith(".parquet") for f in os.listdir(os.path.join(base, m)))
    )


def sql_blocks(path):
    with open(path, encoding="utf-8") as f:
        text = f.read()
    return re.findall(r"```sql\n(.*?)```", text, flags=re.S)


con = duckdb.connect()
files_read = {}
for name, t in tables.items():
    template = os.path.join(data_dir, t["prefix"]) + "${mes}/"
    parts = []
    for mes in month_folders(t["prefix"]):
        folder = template.replace("${mes}", mes)
        parts.append(f"SELECT *, '{mes}' AS mes FROM read_parquet('{folder}*.parquet')")
    if not parts:
        sys.exit(f"analyst_queries.py: no month folder under {t['prefix']}")
    con.execute(f"CREATE VIEW {name} AS " + " UNION ALL ".join(parts))
    # The view's columns are exactly the catalogue's (names and types as Athena would see them).
    described = con.execute(f"DESCRIBE {name}").fetchall()
    got = [(r[0], r[1]) for r in described if r[0] != "mes"]
    duck_to_hive = {"TIMESTAMP": "timestamp", "VARCHAR": "string", "BIGINT": "bigint", "DOUBLE": "double"}
    want = [(c["name"], c["type"]) for c in t["columns"]]
    if [(n, duck_to_hive.get(ty, ty)) for n, ty in got] != want:
        sys.exit(f"analyst_queries.py: {name}: Parquet columns {got} differ from the catalogue {want}")


def read_layer(prefix):
    """Every Parquet file of a layer with pyarrow, plus the month folder it is in."""
    out = []
    for mes in month_folders(prefix):
        folder = os.path.join(data_dir, prefix, mes)
        for fname in sorted(os.listdir(folder)):
            if fname.endswith(".parquet"):
                t = pq.read_table(os.path.join(folder, fname))
                out.append(t.append_column("mes", pa.array([mes] * t.num_rows, pa.string())))
    return pa.concat_tables(out)


curated = read_layer(tables["produccion"]["prefix"])
quarantine = read_layer(tables["cuarentena"]["prefix"])
in_2025 = lambda t: t.filter(pc.and_(pc.greater_equal(t["mes"], "2025-01"), pc.less_equal(t["mes"], "2025-12")))


def expected_liters_per_paint_month():
    g = in_2025(curated).group_by(["mes", "Tipo de pintura producida"]).aggregate([("Cantidad producida", "sum")])
    return sorted(zip(g["mes"].to_pylist(), g["Tipo de pintura producida"].to_pylist(), g["Cantidad producida_sum"].to_pylist()))


def expected_operator_days(operator):
    t = in_2025(curated)
    t = t.filter(pc.equal(t["Operador"], operator))
    days = {}
    for ts, q, cost in zip(t["Fecha de producción"].to_pylist(), t["Cantidad producida"].to_pylist(), t["Costo de la producción"].to_pylist()):
        d = days.setdefault(ts.date(), [0, 0, 0.0])
        d[0] += 1
        d[1] += q
        d[2] += cost
    return [(d, n, q, round(c, 2)) for d, (n, q, c) in sorted(days.items())]


def expected_reasons():
    counts = {}
    for motivos in in_2025(quarantine)["Motivos"].to_pylist():
        for m in motivos.split(","):
            counts[m] = counts.get(m, 0) + 1
    return sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))


blocks = sql_blocks(doc_path)
if len(blocks) != 3:
    sys.exit(f"analyst_queries.py: expected 3 ```sql blocks in {doc_path}, found {len(blocks)}")
operator = re.search(r"\"Operador\" = '([^']+)'", blocks[1])
if not operator:
    sys.exit("analyst_queries.py: the operator query names no operator")

results = [con.execute(b).fetchall() for b in blocks]
problems = []

got1 = [tuple(r) for r in results[0]]
if got1 != expected_liters_per_paint_month():
    problems.append(("liters per paint type per month", got1[:5], expected_liters_per_paint_month()[:5]))

got2 = [tuple(r) for r in results[1]]
want2 = expected_operator_days(operator.group(1))
same2 = len(got2) == len(want2) and all(
    g[0] == w[0] and g[1] == w[1] and g[2] == w[2] and math.isclose(g[3], w[3], abs_tol=0.011) for g, w in zip(got2, want2)
)
if not same2:
    problems.append(("an operator's days", got2[:5], want2[:5]))

got3 = [tuple(r) for r in results[2]]
if got3 != expected_reasons():
    problems.append(("quarantined rows by reason", got3, expected_reasons()))

if problems:
    for name, got, want in problems:
        print(f"{name}: DuckDB {got} != pyarrow {want}", file=sys.stderr)
    sys.exit(1)

json.dump(
    {
        "queries": [len(r) for r in results],
        "months": sorted(set(r[0] for r in got1)),
        "paints": sorted(set(r[1] for r in got1)),
        "operator": operator.group(1),
        "operator_days": len(got2),
        "reasons": {m: n for m, n in got3},
        "curated_rows": curated.num_rows,
        "quarantine_rows": quarantine.num_rows,
    },
    sys.stdout,
    ensure_ascii=False,
)
