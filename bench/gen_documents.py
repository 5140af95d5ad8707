#!/usr/bin/env python3
"""Deterministic document datasets for `make bench`: an app's event log as
JSON Lines (nested objects and arrays) and the same records, flat, as CSV.

Usage: gen_documents.py --mb SIZE OUT_DIR

Writes OUT_DIR/ndjson/{users,events}.ndjson and OUT_DIR/csv/events.csv, the
events files each about SIZE MB; every event references a user by `user_id`. Values are
chosen to show what a tool keeps exactly:

- `seq` is a 64-bit integer near 2^63 (a double rounds it);
- `amount` is a decimal written with 4 fraction digits, trailing zeros kept
  ("12.3400"), and `ratio` one with 20 significant digits;
- `at` is RFC 3339 with microseconds and Z (a timestamptz);
- `code` is a zero-padded string ("00042"): text, not a number;
- `device` is a nested object and `tags` an array of strings.
"""

import argparse
import json
import random
from datetime import datetime, timedelta, timezone
from pathlib import Path

USERS = 20_000
EPOCH = datetime(2026, 1, 1, tzinfo=timezone.utc)
OSES = ["linux", "macos", "windows", "ios", "android"]
TAGS = ["alpha", "beta", "gamma", "delta", "epsilon", "zeta"]
KINDS = ["click", "view", "purchase", "signup", "logout"]


def event(i, rng):
    at = EPOCH + timedelta(microseconds=i * 1_234_567)
    return {
        "id": i,
        "user_id": rng.randrange(1, USERS + 1),
        "kind": KINDS[i % len(KINDS)],
        "at": at.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "seq": 9_223_372_036_854_000_000 + i,
        "amount": f"{rng.randrange(0, 10_000_000) / 10_000:.4f}",
        "ratio": f"0.{rng.randrange(10**19, 10**20)}",
        "code": f"{i % 100_000:05d}",
        "ok": i % 3 != 0,
        "note": None if i % 7 == 0 else f"event {i} from a generated app with some text to carry",
        "device": {"os": OSES[i % len(OSES)], "version": f"{i % 9}.{i % 13}.{i % 17}"},
        "tags": [TAGS[(i + k) % len(TAGS)] for k in range(i % 4)],
    }


def ndjson_line(e):
    # amount and ratio are JSON numbers written with exactly these digits.
    text = json.dumps(e, separators=(",", ":"))
    text = text.replace(f'"amount":"{e["amount"]}"', f'"amount":{e["amount"]}')
    return text.replace(f'"ratio":"{e["ratio"]}"', f'"ratio":{e["ratio"]}') + "\n"


CSV_COLUMNS = ["id", "user_id", "kind", "at", "seq", "amount", "ratio", "code", "ok", "note"]


def csv_line(e):
    def field(v):
        if v is None:
            return ""
        if isinstance(v, bool):
            return "true" if v else "false"
        text = str(v)
        if any(c in text for c in ',"\n'):
            return '"' + text.replace('"', '""') + '"'
        return text

    return ",".join(field(e[c]) for c in CSV_COLUMNS) + "\n"


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--mb", type=float, default=1024)
    parser.add_argument("out", type=Path)
    args = parser.parse_args()
    (args.out / "ndjson").mkdir(parents=True, exist_ok=True)
    (args.out / "csv").mkdir(parents=True, exist_ok=True)
    limit = int(args.mb * 1_000_000)
    rng = random.Random(42)
    with open(args.out / "ndjson" / "users.ndjson", "w") as users:
        for u in range(1, USERS + 1):
            users.write(json.dumps({"id": u, "name": f"user{u}", "email": f"user{u}@example.com"}) + "\n")
    rows = 0
    with open(args.out / "ndjson" / "events.ndjson", "w") as nd, open(args.out / "csv" / "events.csv", "w") as csv:
        csv.write(",".join(CSV_COLUMNS) + "\n")
        written_nd = written_csv = 0
        i = 1
        while written_nd < limit or written_csv < limit:
            e = event(i, rng)
            if written_nd < limit:
                line = ndjson_line(e)
                nd.write(line)
                written_nd += len(line)
            if written_csv < limit:
                line = csv_line(e)
                csv.write(line)
                written_csv += len(line)
            i += 1
            rows += 1
    print(f"wrote {rows} events to {args.out}")


if __name__ == "__main__":
    main()
