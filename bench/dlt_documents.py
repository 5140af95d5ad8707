"""dlt as a documents-to-PostgreSQL loader, the way its docs suggest.

Usage (inside the bench venv): dlt_documents.py ndjson|csv DIR postgresql://...

One resource per file, records parsed with the standard library, loaded by a
`dlt.pipeline(destination="postgres")` into schema public with dlt's defaults
(nested objects flattened, lists of objects and scalars into child tables).
"""

import csv
import json
import os
import sys
import tempfile
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import dlt


def records(path, form):
    with open(path, newline="") as f:
        if form == "ndjson":
            for line in f:
                yield json.loads(line)
        else:
            yield from csv.DictReader(f)


def main():
    form, directory, url = sys.argv[1], Path(sys.argv[2]), sys.argv[3]
    # dlt insists on a password; the bench server trusts loopback and ignores it.
    parts = urlsplit(url)
    if parts.password is None and parts.username:
        url = urlunsplit(parts._replace(netloc=f"{parts.username}:unused@{parts.hostname}:{parts.port}"))
    os.environ["DESTINATION__POSTGRES__CREDENTIALS"] = url
    pipeline = dlt.pipeline(
        pipeline_name="godwit_bench",
        destination="postgres",
        dataset_name="public",
        pipelines_dir=tempfile.mkdtemp(prefix="dlt-bench-"),
    )
    for path in sorted(directory.iterdir()):
        resource = dlt.resource(records(path, form), name=path.stem)
        info = pipeline.run(resource)
        print(f"dlt: {path.stem}: {info}", file=sys.stderr)


if __name__ == "__main__":
    main()
