"""DuckDB (Python, in-process SQL): the same conversion plus the same rule filters as Pinta's validator
(default rule set) in one SQL pipeline: `read_csv` with every column as text, TRY_CAST / try_strptime
typing, one CASE per reason joined with concat_ws, a window for duplicates, and `COPY … TO` Parquet
(snappy) for the curated and quarantine files. `--threads 1` runs `SET threads = 1`.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402

import duckdb  # noqa: E402

IMPORTED_AT = common.time.perf_counter()


def q(name):
    return '"' + name.replace('"', '""') + '"'


def lit(s):
    return "'" + s.replace("'", "''") + "'"


def main():
    from datetime import datetime, timedelta, timezone

    args = common.parse_args()
    operators, paints = common.load_catalog(args.catalog)
    os.makedirs(args.out, exist_ok=True)
    limit = datetime.now(timezone.utc).replace(tzinfo=None) + timedelta(minutes=common.FUTURE_TOLERANCE_MINUTES)
    D, P, Q, U, C, O = (q(c) for c in common.COLUMNS)
    ops = ", ".join(lit(o) for o in operators)
    pts = ", ".join(lit(p) for p in paints)
    with common.Clock() as clock:
        con = duckdb.connect()
        if args.threads == 1:
            con.execute("SET threads = 1")
        con.execute(f"""
        CREATE TEMP TABLE raw AS
        SELECT row_number() OVER () + 1 AS line,
               trim(coalesce({D}, '')) AS d, trim(coalesce({P}, '')) AS p, trim(coalesce({Q}, '')) AS q,
               trim(coalesce({U}, '')) AS u, trim(coalesce({C}, '')) AS c, trim(coalesce({O}, '')) AS o
        FROM read_csv({lit(args.csv)}, header = true, all_varchar = true)
        """)
        con.execute(f"""
        CREATE TEMP TABLE judged AS
        WITH typed AS (
            SELECT *, try_strptime(d, '%Y-%m-%d %H:%M:%S') AS td, TRY_CAST(q AS BIGINT) AS tq,
                   TRY_CAST(u AS DOUBLE) AS tu, nullif(p, '') AS tp, nullif(o, '') AS top,
                   (c = '' AND TRY_CAST(q AS BIGINT) IS NOT NULL AND TRY_CAST(u AS DOUBLE) IS NOT NULL) AS computed
            FROM raw
        ), costed AS (
            SELECT *, CASE WHEN computed THEN tq * tu ELSE TRY_CAST(c AS DOUBLE) END AS tc FROM typed
        ), flagged AS (
            SELECT *, td IS NOT NULL AND td > TIMESTAMP {lit(limit.strftime('%Y-%m-%d %H:%M:%S'))} AS future,
                   row_number() OVER (PARTITION BY td, tp, tq, tu, tc, top ORDER BY line) > 1 AS dup
            FROM costed
        )
        SELECT line, d, p, q, u, c, o, td, tp, tq, tu, tc, top, concat_ws(',',
            CASE WHEN d = '' THEN 'MISSING_DATE' END,
            CASE WHEN p = '' THEN 'MISSING_PAINT_TYPE' END,
            CASE WHEN q = '' THEN 'MISSING_QUANTITY' END,
            CASE WHEN u = '' THEN 'MISSING_UNIT_COST' END,
            CASE WHEN o = '' THEN 'MISSING_OPERATOR' END,
            CASE WHEN d <> '' AND td IS NULL THEN 'UNPARSEABLE_DATE' END,
            CASE WHEN q <> '' AND tq IS NULL THEN 'UNPARSEABLE_QUANTITY' END,
            CASE WHEN u <> '' AND tu IS NULL THEN 'UNPARSEABLE_UNIT_COST' END,
            CASE WHEN c <> '' AND tc IS NULL THEN 'UNPARSEABLE_COST' END,
            CASE WHEN tq < 0 THEN 'NEGATIVE_QUANTITY' END,
            CASE WHEN tu < 0 THEN 'NEGATIVE_UNIT_COST' END,
            CASE WHEN tq IS NOT NULL AND tu IS NOT NULL AND tc IS NOT NULL AND NOT computed
                  AND abs(tc - tq * tu) > greatest({common.COST_ABS_TOL}, {common.COST_REL_TOL} * abs(tq * tu))
                 THEN 'COST_MISMATCH' END,
            CASE WHEN top IS NOT NULL AND top NOT IN ({ops}) THEN 'UNKNOWN_OPERATOR' END,
            CASE WHEN tp IS NOT NULL AND tp NOT IN ({pts}) THEN 'UNKNOWN_PAINT_TYPE' END,
            CASE WHEN future THEN 'FUTURE_DATE' END,
            CASE WHEN td IS NOT NULL AND NOT future AND CAST(td AS DATE) <> DATE {lit(args.day)} THEN 'DATE_OUTSIDE_DAY' END,
            CASE WHEN dup THEN 'DUPLICATE_ROW' END
        ) AS reasons
        FROM flagged
        """)
        rows_in, rows_failed = con.execute("SELECT count(*), count(*) FILTER (reasons <> '') FROM judged").fetchone()
        held = rows_in >= 1 and rows_failed / rows_in > common.QUARANTINE_THRESHOLD
        keep = "false" if held else "reasons = ''"
        curated = os.path.join(args.out, "curated.parquet")
        quarantine = os.path.join(args.out, "quarantine.parquet")
        con.execute(f"""
        COPY (SELECT CAST(td AS TIMESTAMP) AS {D}, tp AS {P}, tq AS {Q}, tu AS {U}, tc AS {C}, top AS {O}
              FROM judged WHERE {keep} ORDER BY line)
        TO {lit(curated)} (FORMAT parquet, COMPRESSION snappy)
        """)
        con.execute(f"""
        COPY (SELECT d AS {D}, p AS {P}, q AS {Q}, u AS {U}, c AS {C}, o AS {O}, line AS {q(common.C_LINE)},
                     CASE WHEN reasons = '' THEN 'DAY_HELD' ELSE reasons END AS {q(common.C_REASONS)},
                     reasons AS {q(common.C_DETAIL)}
              FROM judged WHERE NOT ({keep}) ORDER BY line)
        TO {lit(quarantine)} (FORMAT parquet, COMPRESSION snappy)
        """)
        rows_quarantined = rows_in if held else rows_failed
        con.close()
    common.report(clock, IMPORTED_AT, rows_in, rows_in - rows_quarantined, rows_quarantined, args.out)


if __name__ == "__main__":
    main()
