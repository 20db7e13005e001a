"""Polars (Python): the same conversion plus the same rule filters as Pinta's validator (default rule
set), expressed as expressions: every cell read as text and trimmed, typed with non-strict casts, one
boolean column per reason, the reason text joined for the failing rows only, curated and quarantine
Parquet written with snappy.
`--threads 1` sets POLARS_MAX_THREADS=1 (must happen before the import, so it is read from argv here).
"""

import os
import sys

if "--threads" in sys.argv and sys.argv[sys.argv.index("--threads") + 1] == "1":
    os.environ["POLARS_MAX_THREADS"] = "1"

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402
from common import C_COST, C_DATE, C_DETAIL, C_LINE, C_OP, C_PAINT, C_QTY, C_REASONS, C_UNIT, COLUMNS  # noqa: E402

import polars as pl  # noqa: E402

IMPORTED_AT = common.time.perf_counter()


def main():
    from datetime import date as Date, datetime, timedelta, timezone

    args = common.parse_args()
    operators, paints = common.load_catalog(args.catalog)
    os.makedirs(args.out, exist_ok=True)
    day = Date.fromisoformat(args.day)
    limit = datetime.now(timezone.utc).replace(tzinfo=None) + timedelta(minutes=common.FUTURE_TOLERANCE_MINUTES)
    with common.Clock() as clock:
        raw = pl.read_csv(args.csv, infer_schema=False)
        raw = raw.with_columns([pl.col(c).fill_null("").str.strip_chars() for c in COLUMNS]).with_row_index(C_LINE, offset=2)
        blank = {c: pl.col(c) == "" for c in COLUMNS}
        date = pl.col(C_DATE).str.strptime(pl.Datetime("us"), "%Y-%m-%d %H:%M:%S", strict=False)
        qty = pl.col(C_QTY).cast(pl.Int64, strict=False)
        unit = pl.col(C_UNIT).cast(pl.Float64, strict=False)
        cost_text = pl.col(C_COST).cast(pl.Float64, strict=False)
        typed = raw.with_columns(
            _date=date, _qty=qty, _unit=unit,
            _paint=pl.when(blank[C_PAINT]).then(None).otherwise(pl.col(C_PAINT)),
            _op=pl.when(blank[C_OP]).then(None).otherwise(pl.col(C_OP)),
        ).with_columns(
            _computed=blank[C_COST] & pl.col("_qty").is_not_null() & pl.col("_unit").is_not_null(),
        ).with_columns(
            _cost=pl.when(pl.col("_computed")).then(pl.col("_qty") * pl.col("_unit")).otherwise(cost_text),
        )
        expected = pl.col("_qty") * pl.col("_unit")
        tol = pl.max_horizontal(pl.lit(common.COST_ABS_TOL), common.COST_REL_TOL * expected.abs())
        future = pl.col("_date").is_not_null() & (pl.col("_date") > limit)
        rules = [
            ("MISSING_DATE", blank[C_DATE]),
            ("MISSING_PAINT_TYPE", blank[C_PAINT]),
            ("MISSING_QUANTITY", blank[C_QTY]),
            ("MISSING_UNIT_COST", blank[C_UNIT]),
            ("MISSING_OPERATOR", blank[C_OP]),
            ("UNPARSEABLE_DATE", ~blank[C_DATE] & pl.col("_date").is_null()),
            ("UNPARSEABLE_QUANTITY", ~blank[C_QTY] & pl.col("_qty").is_null()),
            ("UNPARSEABLE_UNIT_COST", ~blank[C_UNIT] & pl.col("_unit").is_null()),
            ("UNPARSEABLE_COST", ~blank[C_COST] & pl.col("_cost").is_null()),
            ("NEGATIVE_QUANTITY", pl.col("_qty") < 0),
            ("NEGATIVE_UNIT_COST", pl.col("_unit") < 0),
            ("COST_MISMATCH", pl.col("_qty").is_not_null() & pl.col("_unit").is_not_null()
             & pl.col("_cost").is_not_null() & ~pl.col("_computed") & ((pl.col("_cost") - expected).abs() > tol)),
            ("UNKNOWN_OPERATOR", pl.col("_op").is_not_null() & ~pl.col("_op").is_in(operators)),
            ("UNKNOWN_PAINT_TYPE", pl.col("_paint").is_not_null() & ~pl.col("_paint").is_in(paints)),
            ("FUTURE_DATE", future),
            ("DATE_OUTSIDE_DAY", pl.col("_date").is_not_null() & ~future & (pl.col("_date").dt.date() != day)),
            ("DUPLICATE_ROW", ~pl.struct(["_date", "_paint", "_qty", "_unit", "_cost", "_op"]).is_first_distinct()),
        ]
        # One boolean column per rule; the reason text is built for the failing rows only.
        codes = [code for code, _ in rules]
        judged = typed.with_columns([m.fill_null(False).alias(code) for code, m in rules]).with_columns(
            _failed=pl.any_horizontal(codes)
        )
        failed = judged.filter(pl.col("_failed")).with_columns(
            pl.concat_list([pl.when(pl.col(code)).then(pl.lit(code)).otherwise(None) for code in codes])
            .list.drop_nulls().list.join(",").alias(C_REASONS)
        )
        held = judged.height >= 1 and failed.height / judged.height > common.QUARANTINE_THRESHOLD
        if held:
            failed = judged.with_columns(
                pl.concat_list([pl.when(pl.col(code)).then(pl.lit(code)).otherwise(None) for code in codes])
                .list.drop_nulls().list.join(",").alias(C_REASONS)
            )
        curated = judged.filter(~pl.col("_failed") & (not held)).select(
            pl.col("_date").alias(C_DATE), pl.col("_paint").alias(C_PAINT), pl.col("_qty").alias(C_QTY),
            pl.col("_unit").alias(C_UNIT), pl.col("_cost").alias(C_COST), pl.col("_op").alias(C_OP),
        )
        quarantine = failed.select(
            *COLUMNS, pl.col(C_LINE).cast(pl.Int64),
            pl.when(pl.col(C_REASONS) == "").then(pl.lit("DAY_HELD")).otherwise(pl.col(C_REASONS)).alias(C_REASONS),
            pl.col(C_REASONS).alias(C_DETAIL),
        )
        curated.write_parquet(os.path.join(args.out, "curated.parquet"), compression="snappy")
        quarantine.write_parquet(os.path.join(args.out, "quarantine.parquet"), compression="snappy")
    common.report(clock, IMPORTED_AT, judged.height, curated.height, quarantine.height, args.out)


if __name__ == "__main__":
    main()
