"""The replaced system's transform Lambda, written the way it was built: pandas + pyarrow.

The legacy "Lambda 2 - Transformación" read `crudos/produccion_raw_YYYY-MM-DD.csv` from S3 with boto3,
cleaned and normalised it with pandas, computed the cost, applied quality checks and wrote
`produccion/YYYY-MM/produccion_YYYY-MM-DD.parquet` with `DataFrame.to_parquet` (pyarrow, snappy). This
version applies the same rules as Pinta's validator (services/validator, default rule set) with
vectorised pandas, and also writes the quarantine file, so both sides do the same work:

* cleaning: every cell read as text, whitespace trimmed, empty = missing;
* typing: dates (`%Y-%m-%d %H:%M:%S`), integer quantities, numbers; unparseable text is flagged;
* cost: quantity x unit cost where the cost cell is empty;
* rules: MISSING_*, UNPARSEABLE_*, NEGATIVE_QUANTITY, NEGATIVE_UNIT_COST, COST_MISMATCH (tolerance
  max(0.01, 0.1 %)), UNKNOWN_OPERATOR / UNKNOWN_PAINT_TYPE (catalogue), FUTURE_DATE (now + 60 min),
  DATE_OUTSIDE_DAY, DUPLICATE_ROW (later copies of identical typed rows), the 50 % hold threshold;
* output: curated Parquet (the contracted six columns and types) and quarantine Parquet (original
  text, source line, reasons, detail), snappy.

Run directly for the throughput benchmark (see common.py), or call `lambda_handler` with an S3-style
event for the cold-start benchmark (the runner does this against moto_server).
"""

import io
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402
from common import C_COST, C_DATE, C_DETAIL, C_LINE, C_OP, C_PAINT, C_QTY, C_REASONS, C_UNIT, COLUMNS  # noqa: E402

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pyarrow  # noqa: E402,F401  (the Parquet engine, imported by the Lambda layer as well)

IMPORTED_AT = common.time.perf_counter()

REASON_ORDER = [
    "MISSING_DATE", "MISSING_PAINT_TYPE", "MISSING_QUANTITY", "MISSING_UNIT_COST", "MISSING_OPERATOR",
    "UNPARSEABLE_DATE", "UNPARSEABLE_QUANTITY", "UNPARSEABLE_UNIT_COST", "UNPARSEABLE_COST", "MALFORMED_LINE",
    "NEGATIVE_QUANTITY", "NEGATIVE_UNIT_COST", "COST_MISMATCH", "UNKNOWN_OPERATOR", "UNKNOWN_PAINT_TYPE",
    "FUTURE_DATE", "DATE_OUTSIDE_DAY", "DUPLICATE_ROW",
]


def transform_day(source, operators, paints, day, now):
    """CSV (path or file object) -> (curated DataFrame, quarantine DataFrame, rows_in)."""
    raw = pd.read_csv(source, dtype=str, keep_default_na=False, encoding="utf-8")
    # Cleaning: trim every cell; the header is the legacy one.
    for c in COLUMNS:
        if c not in raw.columns:
            raw[c] = ""
        raw[c] = raw[c].str.strip()
    n = len(raw)
    line = np.arange(2, n + 2, dtype="int64")

    blank = {c: raw[c] == "" for c in COLUMNS}
    date = pd.to_datetime(raw[C_DATE], format="%Y-%m-%d %H:%M:%S", errors="coerce")
    qty_num = pd.to_numeric(raw[C_QTY], errors="coerce")
    qty_ok = qty_num.notna() & (qty_num % 1 == 0)
    qty = qty_num.where(qty_ok)
    unit = pd.to_numeric(raw[C_UNIT], errors="coerce")
    cost = pd.to_numeric(raw[C_COST], errors="coerce")
    computed = blank[C_COST] & qty.notna() & unit.notna()
    cost = cost.where(~computed, qty * unit)
    paint = raw[C_PAINT].where(~blank[C_PAINT])
    op = raw[C_OP].where(~blank[C_OP])

    expected = qty * unit
    tolerance = np.maximum(common.COST_ABS_TOL, common.COST_REL_TOL * expected.abs())
    limit = pd.Timestamp(now) + pd.Timedelta(minutes=common.FUTURE_TOLERANCE_MINUTES)
    future = date.notna() & (date > limit)
    masks = {
        "MISSING_DATE": blank[C_DATE],
        "MISSING_PAINT_TYPE": blank[C_PAINT],
        "MISSING_QUANTITY": blank[C_QTY],
        "MISSING_UNIT_COST": blank[C_UNIT],
        "MISSING_OPERATOR": blank[C_OP],
        "UNPARSEABLE_DATE": ~blank[C_DATE] & date.isna(),
        "UNPARSEABLE_QUANTITY": ~blank[C_QTY] & qty.isna(),
        "UNPARSEABLE_UNIT_COST": ~blank[C_UNIT] & unit.isna(),
        "UNPARSEABLE_COST": ~blank[C_COST] & cost.isna(),
        "NEGATIVE_QUANTITY": qty < 0,
        "NEGATIVE_UNIT_COST": unit < 0,
        "COST_MISMATCH": qty.notna() & unit.notna() & cost.notna() & ~computed & ((cost - expected).abs() > tolerance),
        "UNKNOWN_OPERATOR": op.notna() & ~op.isin(operators),
        "UNKNOWN_PAINT_TYPE": paint.notna() & ~paint.isin(paints),
        "FUTURE_DATE": future,
        "DATE_OUTSIDE_DAY": date.notna() & ~future & (date.dt.normalize() != pd.Timestamp(day)),
    }
    typed = pd.DataFrame({C_DATE: date, C_PAINT: paint, C_QTY: qty, C_UNIT: unit, C_COST: cost, C_OP: op})
    masks["DUPLICATE_ROW"] = typed.duplicated(keep="first")

    flags = pd.DataFrame({code: masks[code].to_numpy(dtype=bool) for code in REASON_ORDER if code in masks})
    failed = flags.any(axis=1).to_numpy()
    rows_failed = int(failed.sum())
    held = n >= 1 and rows_failed / n > common.QUARANTINE_THRESHOLD

    # Reason text only for the failing rows (about 1 % of them).
    codes = np.array(flags.columns)
    bad = flags.to_numpy()[failed]
    reasons = [",".join(codes[r]) for r in bad]
    details = [detail(rs.split(","), raw_row) for rs, raw_row in zip(reasons, raw[failed].itertuples(index=False))]

    keep = ~failed & (not held)
    curated = typed[keep].copy()
    curated[C_DATE] = curated[C_DATE].astype("datetime64[us]")
    curated[C_QTY] = curated[C_QTY].astype("int64")

    quarantine = raw[failed].copy()
    quarantine[C_LINE] = line[failed]
    quarantine[C_REASONS] = reasons
    quarantine[C_DETAIL] = details
    if held:
        good = raw[~failed].copy()
        good[C_LINE] = line[~failed]
        good[C_REASONS] = "DAY_HELD"
        good[C_DETAIL] = "Día retenido"
        quarantine = pd.concat([quarantine, good]).sort_values(C_LINE)
    return curated, quarantine, n


def detail(codes, row):
    text = {
        "MISSING_DATE": "Falta la fecha de producción",
        "MISSING_PAINT_TYPE": "Falta el tipo de pintura",
        "MISSING_QUANTITY": "Falta la cantidad",
        "MISSING_UNIT_COST": "Falta el costo por litro",
        "MISSING_OPERATOR": "Falta el operador",
        "NEGATIVE_QUANTITY": f"Cantidad negativa ({row[2]})",
        "NEGATIVE_UNIT_COST": f"Costo por litro negativo ({row[3]})",
        "COST_MISMATCH": f"Costo no cuadra ({row[4]} ≠ {row[2]} × {row[3]})",
        "UNKNOWN_OPERATOR": f"Operador desconocido ({row[5]})",
        "UNKNOWN_PAINT_TYPE": f"Tipo de pintura desconocido ({row[1]})",
        "FUTURE_DATE": f"Fecha en el futuro ({row[0]})",
        "DATE_OUTSIDE_DAY": f"Fecha fuera del día ({row[0]})",
        "DUPLICATE_ROW": "Fila duplicada",
    }
    return "; ".join(text.get(c, c) for c in codes)


def write_outputs(curated, quarantine, curated_target, quarantine_target):
    curated.to_parquet(curated_target, engine="pyarrow", compression="snappy", index=False)
    quarantine.to_parquet(quarantine_target, engine="pyarrow", compression="snappy", index=False)


def lambda_handler(event, context=None):
    """The Lambda entry point: an S3 ObjectCreated record for the raw CSV, S3 in and out (boto3)."""
    import json
    from datetime import datetime, timezone

    import boto3

    s3 = boto3.client("s3", endpoint_url=os.environ.get("AWS_ENDPOINT_URL"))
    record = event["Records"][0]["s3"]
    bucket, key = record["bucket"]["name"], record["object"]["key"]
    day = key.rsplit("_", 1)[-1].removesuffix(".csv")
    body = s3.get_object(Bucket=bucket, Key=os.environ["CATALOG_KEY"])["Body"].read()
    cat = json.loads(body)
    operators = {o["name"].strip() for o in cat["operators"]}
    paints = {p["name"].strip() for p in cat["paint_types"]}
    raw = s3.get_object(Bucket=bucket, Key=key)["Body"]
    curated, quarantine, n = transform_day(io.BytesIO(raw.read()), operators, paints, day, datetime.now(timezone.utc).replace(tzinfo=None))
    outs = []
    for frame, prefix, name in ((curated, "produccion", "produccion"), (quarantine, "cuarentena", "cuarentena")):
        buf = io.BytesIO()
        frame.to_parquet(buf, engine="pyarrow", compression="snappy", index=False)
        out_key = f"{prefix}/{day[:7]}/{name}_{day}.parquet"
        s3.put_object(Bucket=bucket, Key=out_key, Body=buf.getvalue())
        outs.append(out_key)
    return {"statusCode": 200, "rows_in": n, "rows_curated": len(curated), "rows_quarantined": len(quarantine), "keys": outs}


def main():
    from datetime import datetime, timezone

    args = common.parse_args()
    operators, paints = common.load_catalog(args.catalog)
    os.makedirs(args.out, exist_ok=True)
    now = datetime.now(timezone.utc).replace(tzinfo=None)
    with common.Clock() as clock:
        curated, quarantine, n = transform_day(args.csv, operators, paints, args.day, now)
        write_outputs(curated, quarantine, os.path.join(args.out, "curated.parquet"), os.path.join(args.out, "quarantine.parquet"))
    common.report(clock, IMPORTED_AT, n, len(curated), len(quarantine), args.out)


if __name__ == "__main__":
    main()
