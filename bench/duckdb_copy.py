"""DuckDB as a SQLite-to-PostgreSQL copier, the way its docs suggest.

Usage (inside bench/.venv): duckdb_copy.py SOURCE.db 'host=... dbname=...' [THREADS]

ATTACHes the SQLite file and the PostgreSQL database and runs one CREATE
TABLE AS per table. The sqlite and postgres extensions come from the PyPI
packages duckdb-ext-sqlite and duckdb-ext-postgres, loaded from where pip put
them: nothing is downloaded at run time.
"""

import sys
from pathlib import Path

import duckdb
import duckdb_ext  # namespace package shipped by duckdb-ext-*; holds extensions/


def extension_directory():
    # duckdb_ext/extensions/v<version>/<platform>/<name>.duckdb_extension is
    # the layout DuckDB's own extension_directory uses.
    return Path(list(duckdb_ext.__path__)[0]) / "extensions"


def connect(threads):
    con = duckdb.connect()
    con.execute(f"SET extension_directory = '{extension_directory()}'")
    # Fail loudly rather than fetch anything from the network.
    con.execute("SET autoinstall_known_extensions = false")
    con.execute("SET autoload_known_extensions = false")
    con.execute("LOAD sqlite_scanner")
    con.execute("LOAD postgres_scanner")
    if threads:
        con.execute(f"SET threads = {int(threads)}")
    return con


def sql_literal(text):
    return "'" + text.replace("'", "''") + "'"


def main():
    source, target = sys.argv[1], sys.argv[2]
    threads = sys.argv[3] if len(sys.argv) > 3 else None
    con = connect(threads)
    # ATTACH takes no bound parameters: quote the strings as SQL literals.
    con.execute(f"ATTACH {sql_literal(source)} AS src (TYPE sqlite, READ_ONLY)")
    con.execute(f"ATTACH {sql_literal(target)} AS pg (TYPE postgres)")
    tables = [row[0] for row in con.execute(
        "SELECT table_name FROM duckdb_tables() WHERE database_name = 'src' ORDER BY table_name"
    ).fetchall()]
    for table in tables:
        con.execute(f'CREATE TABLE pg.public."{table}" AS SELECT * FROM src."{table}"')
        print(f"duckdb: copied {table}", file=sys.stderr)


if __name__ == "__main__":
    main()
