#!/usr/bin/env python3
"""Deterministic document datasets for `make bench`: an app's event log as
JSON Lines (nested objects and arrays) and the same records, flat, as CSV.

Usage: gen_documents.py --mb SIZE [--forms ndjson,json,csv] OUT_DIR

Writes OUT_DIR/ndjson/{users,events}.ndjson, the same records as one JSON
array a file in OUT_DIR/json/{users,events}.json, and OUT_DIR/csv/events.csv,
the events files each about SIZE MB (only the forms asked for; by default
ndjson and csv); every event references a user by `user_id`. Values are
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
    parser.add_argument("--forms", default="ndjson,csv")
    parser.add_argument("out", type=Path)
    args = parser.parse_args()
    forms = args.forms.split(",")
    for form in forms:
        (args.out / form).mkdir(parents=True, exist_ok=True)
    limit = int(args.mb * 1_000_000)
    rng = random.Random(42)
    user_lines = [json.dumps({"id": u, "name": f"user{u}", "email": f"user{u}@example.com"})
                  for u in range(1, USERS + 1)]
    if "ndjson" in forms:
        (args.out / "ndjson" / "users.ndjson").write_text("".join(line + "\n" for line in user_lines))
    if "json" in forms:
        (args.out / "json" / "users.json").write_text("[\n" + ",\n".join(user_lines) + "\n]\n")
    outputs = {}
    if "ndjson" in forms:
        outputs["ndjson"] = (open(args.out / "ndjson" / "events.ndjson", "w"), ndjson_line)
    if "json" in forms:
        # One array, one record a line, as exports write it.
        outputs["json"] = (open(args.out / "json" / "events.json", "w"),
                           lambda e: ",\n" + ndjson_line(e)[:-1])
    if "csv" in forms:
        outputs["csv"] = (open(args.out / "csv" / "events.csv", "w"), csv_line)
        outputs["csv"][0].write(",".join(CSV_COLUMNS) + "\n")
    written = {form: 0 for form in outputs}
    rows = 0
    i = 1
    while any(n < limit for n in written.values()):
        e = event(i, rng)
        for form, (out, line_of) in outputs.items():
            if written[form] < limit:
                line = line_of(e)
                if form == "json" and written[form] == 0:
                    line = "[\n" + line[2:]
                out.write(line)
                written[form] += len(line)
        i += 1
        rows += 1
    for form, (out, _) in outputs.items():
        if form == "json":
            out.write("\n]\n")
        out.close()
    print(f"wrote {rows} events to {args.out}")


if __name__ == "__main__":
    main()
