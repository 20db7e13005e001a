"""Independent reader for the end-to-end tests: reads Parquet files with pyarrow and pandas (the readers
of the replaced system) and prints what it found as JSON on stdout.

Usage: read_parquet.py FILE...
"""
import json
import sys

import pandas as pd
import pyarrow.parquet as pq

out = {}
for path in sys.argv[1:]:
    table = pq.read_table(path)
    frame = pd.read_parquet(path)
    entry = {
        "rows": table.num_rows,
        "arrow_types": {f.name: str(f.type) for f in table.schema},
        "pandas_dtypes": {c: str(t) for c, t in frame.dtypes.items()},
        "columns": list(frame.columns),
    }
    names = set(entry["columns"])
    if "Motivos" in names:
        entry["quarantine"] = [
            [int(line), reasons] for line, reasons in zip(frame["Línea de origen"], frame["Motivos"])
        ]
    if "Cantidad producida" in names and "Motivos" not in names:
        entry["liters"] = int(frame["Cantidad producida"].sum())
        entry["cost"] = float(frame["Costo de la producción"].sum())
        entry["operator_rows"] = {str(k): int(v) for k, v in frame["Operador"].value_counts().items()}
    out[path] = entry
json.dump(out, sys.stdout, ensure_ascii=False)
