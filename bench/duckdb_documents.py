"""DuckDB as a documents-to-PostgreSQL loader, the way its docs suggest.

Usage (inside the bench venv): duckdb_documents.py ndjson|csv DIR 'host=... dbname=...'

One `CREATE TABLE pg.public.<file stem> AS SELECT * FROM read_json_auto(...)`
(or `read_csv(...)`) per file. DuckDB's postgres extension cannot write
STRUCT columns; when that fails, the load is retried with every STRUCT column
cast to JSON, the nearest DuckDB gets, and the fallback is printed.
"""

import sys
from pathlib import Path

from duckdb_copy import connect, sql_literal


def main():
    form, directory, target = sys.argv[1], Path(sys.argv[2]), sys.argv[3]
    con = connect(None)
    con.execute(f"ATTACH {sql_literal(target)} AS pg (TYPE postgres)")
    reader = "read_json_auto" if form == "ndjson" else "read_csv"
    for path in sorted(directory.iterdir()):
        table = path.stem
        relation = f"{reader}({sql_literal(str(path))})"
        try:
            con.execute(f'CREATE TABLE pg.public."{table}" AS SELECT * FROM {relation}')
        except Exception as error:  # noqa: BLE001 - any failure is reported, then the fallback runs
            print(f"duckdb: {table}: {error}", file=sys.stderr)
            described = con.execute(f"DESCRIBE SELECT * FROM {relation}").fetchall()
            structs = [row[0] for row in described if str(row[1]).startswith("STRUCT")]
            if not structs:
                raise
            replace = ", ".join(f'to_json("{c}")::VARCHAR AS "{c}"' for c in structs)
            print(f"duckdb: {table}: retrying with {', '.join(structs)} as JSON text", file=sys.stderr)
            con.execute(f'DROP TABLE IF EXISTS pg.public."{table}"')
            con.execute(f'CREATE TABLE pg.public."{table}" AS SELECT * REPLACE ({replace}) FROM {relation}')
        print(f"duckdb: loaded {table}", file=sys.stderr)


if __name__ == "__main__":
    main()
