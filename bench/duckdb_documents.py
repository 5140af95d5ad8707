"""DuckDB as a documents-to-PostgreSQL loader, the way its docs suggest.

Usage (inside the bench venv): duckdb_documents.py ndjson|json|csv DIR 'host=... dbname=...'

One `CREATE TABLE pg.public.<file stem> AS SELECT * FROM read_json_auto(...)`
(or `read_csv(...)`) per file, with two settings DuckDB's defaults need on
this data, each printed when used:

- `sample_size = -1`: with the default sample, a column whose values pass
  2^63 late in the file was typed BIGINT and the load failed there;
- STRUCT columns cast to JSON text: the postgres extension cannot write
  unnamed composite types;
- for JSON, the column `seq` read as HUGEINT (`columns = {...}`): even
  inferring over every row, DuckDB types its integers past 2^63 as BIGINT and
  fails on them ("Failed to cast value to numerical"), so a user names it; the
  postgres extension then writes HUGEINT as double precision.

bench/results/documents-duckdb-defaults-fail.log is the run with DuckDB's
defaults, kept for the record.
"""

import sys
from pathlib import Path

from duckdb_copy import connect, sql_literal

# The generator's column whose integers pass 2^63 (bench/gen_documents.py).
HUGEINT_COLUMNS = ["seq"]


def main():
    form, directory, target = sys.argv[1], Path(sys.argv[2]), sys.argv[3]
    con = connect(None)
    con.execute(f"ATTACH {sql_literal(target)} AS pg (TYPE postgres)")
    # read_json_auto tells JSON Lines from one array by itself.
    reader = "read_json_auto" if form in ("ndjson", "json") else "read_csv"
    for path in sorted(directory.iterdir()):
        table = path.stem
        relation = f"{reader}({sql_literal(str(path))}, sample_size = -1)"
        print(f"duckdb: {table}: types inferred over every row (sample_size = -1)", file=sys.stderr)
        described = con.execute(f"DESCRIBE SELECT * FROM {relation}").fetchall()
        if form in ("ndjson", "json") and any(str(row[0]) in HUGEINT_COLUMNS for row in described):
            columns = ", ".join(
                f"{sql_literal(str(row[0]))}: {sql_literal('HUGEINT' if str(row[0]) in HUGEINT_COLUMNS else str(row[1]))}"
                for row in described)
            relation = f"{reader}({sql_literal(str(path))}, sample_size = -1, columns = {{{columns}}})"
            print(f"duckdb: {table}: {', '.join(HUGEINT_COLUMNS)} read as HUGEINT", file=sys.stderr)
        structs = [row[0] for row in described if str(row[1]).startswith("STRUCT")]
        select = "*"
        if structs:
            print(f"duckdb: {table}: {', '.join(structs)} written as JSON text (STRUCT cannot be written)",
                  file=sys.stderr)
            select = "* REPLACE (" + ", ".join(f'to_json("{c}")::VARCHAR AS "{c}"' for c in structs) + ")"
        con.execute(f'CREATE TABLE pg.public."{table}" AS SELECT {select} FROM {relation}')
        print(f"duckdb: loaded {table}", file=sys.stderr)


if __name__ == "__main__":
    main()
