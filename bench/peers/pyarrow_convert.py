"""Conversion only: `pyarrow.csv.read_csv` then `pyarrow.parquet.write_table` (snappy). No cleaning, no
rules, no quarantine — the lower bound for reading the day's CSV and writing Parquet with Arrow's C++
readers. `--threads 1` turns Arrow's thread pools down to one thread.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402

import pyarrow as pa  # noqa: E402
import pyarrow.csv as pacsv  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402

IMPORTED_AT = common.time.perf_counter()


def main():
    args = common.parse_args()
    if args.threads == 1:
        pa.set_cpu_count(1)
        pa.set_io_thread_count(1)
    os.makedirs(args.out, exist_ok=True)
    with common.Clock() as clock:
        table = pacsv.read_csv(args.csv, read_options=pacsv.ReadOptions(use_threads=args.threads != 1))
        pq.write_table(table, os.path.join(args.out, "converted.parquet"), compression="snappy")
    common.report(clock, IMPORTED_AT, table.num_rows, table.num_rows, 0, args.out)


if __name__ == "__main__":
    main()
