"""Round trip of a real SQLAlchemy + Alembic app through `godwit copy --data-only`.

usage: run_roundtrip.py SQLITE_PATH PG_URL GODWIT_BIN

  1. the app writes its data on SQLite (a fresh file) and keeps a snapshot
     of what it reads back through the ORM;
  2. Alembic creates the schema on PostgreSQL (PG_URL, an empty database);
  3. godwit copies the data: GODWIT_BIN copy SQLITE_PATH --to PG_URL --data-only;
  4. the app on PostgreSQL reads back exactly the snapshot;
  5. the app keeps working there: new rows get fresh ids, JSON, array, UUID
     and enum lookups work, constraints hold;
  6. `alembic current` still says the database is at head.

Exits 0 when every step passed, 1 at the first failure (with the reason).
"""

import datetime
import json
import os
import subprocess
import sys
import traceback
import uuid
from decimal import Decimal
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from sqlalchemy import DateTime, Engine, Text, func, inspect, select, text, type_coerce  # noqa: E402
from sqlalchemy.dialects.postgresql import ARRAY, JSONB  # noqa: E402
from sqlalchemy.exc import IntegrityError  # noqa: E402
from sqlalchemy.orm import Session  # noqa: E402

from app.db import TARGET_URL_VARIABLE, postgres_engine, sqlite_engine  # noqa: E402
from app.models import AuditEvent, Base, Follow, Order, OrderStatus, User  # noqa: E402
from app.seed import ALICE_ID, BOB_ID, write_sample_data  # noqa: E402

MODELS = [User, Order, Follow, AuditEvent]
ALEMBIC_INI = HERE / "alembic.ini"
HEAD_REVISION = "0001"
# The app reads PostgreSQL with a TimeZone other than UTC, so timestamptz
# values are compared as instants, not as text.
READ_TIMEZONE = "Asia/Kolkata"
UTC = datetime.timezone.utc

# {table name: {primary key tuple: {attribute: value}}}
Snapshot = dict[str, dict[tuple, dict[str, Any]]]


class StepFailed(Exception):
    pass


def check(condition: bool, message: str) -> None:
    if not condition:
        raise StepFailed(message)


# ---------------------------------------------------------------- snapshot


def attribute_names(model) -> list[str]:
    return [attr.key for attr in inspect(model).column_attrs]


def primary_key(row) -> tuple:
    return tuple(inspect(row).identity)


def take_snapshot(engine: Engine) -> Snapshot:
    """Every row of every table, read through the ORM into plain values."""
    snapshot: Snapshot = {}
    with Session(engine) as session:
        for model in MODELS:
            order = inspect(model).primary_key
            rows = session.scalars(select(model).order_by(*order)).all()
            names = attribute_names(model)
            snapshot[model.__tablename__] = {
                primary_key(row): {name: getattr(row, name) for name in names} for row in rows
            }
    return snapshot


def timezone_aware_attributes(model) -> set[str]:
    names = set()
    for attr in inspect(model).column_attrs:
        column_type = attr.columns[0].type
        if isinstance(column_type, DateTime) and column_type.timezone:
            names.add(attr.key)
    return names


def expected_on_postgres(snapshot: Snapshot) -> Snapshot:
    """SQLAlchemy keeps DateTime(timezone=True) on SQLite as naive UTC text,
    so the app reads naive values there; on PostgreSQL it reads aware ones."""
    expected: Snapshot = {}
    for model in MODELS:
        aware = timezone_aware_attributes(model)
        rows = {}
        for key, values in snapshot[model.__tablename__].items():
            row = dict(values)
            for name in aware:
                if row[name] is not None:
                    row[name] = row[name].replace(tzinfo=UTC)
            rows[key] = row
        expected[model.__tablename__] = rows
    return expected


def same_value(expected: Any, actual: Any) -> bool:
    """Equal and of the same type; JSON documents compared as canonical JSON
    text so that 1 and 1.0, or true and 1, count as different."""
    if isinstance(expected, (dict, list)) or isinstance(actual, (dict, list)):
        return canonical_json(expected) == canonical_json(actual)
    return type(expected) is type(actual) and expected == actual


def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False)


def compare_snapshots(expected: Snapshot, actual: Snapshot) -> None:
    for table, expected_rows in expected.items():
        actual_rows = actual[table]
        check(
            list(actual_rows) == list(expected_rows),
            f"{table}: primary keys differ\n  expected {list(expected_rows)}\n  got      {list(actual_rows)}",
        )
        for key, expected_row in expected_rows.items():
            for name, expected_value in expected_row.items():
                actual_value = actual_rows[key][name]
                check(
                    same_value(expected_value, actual_value),
                    f"{table} {key} .{name}: expected {expected_value!r}, got {actual_value!r}",
                )


def sql_null_json(engine: Engine) -> dict[str, set]:
    """Which rows hold SQL NULL (not JSON null) in a JSON column."""
    with Session(engine) as session:
        profiles = session.scalars(select(User.email).where(User.profile.is_(None)))
        payloads = session.scalars(select(AuditEvent.kind).where(AuditEvent.payload.is_(None)))
        return {"users.profile": set(profiles), "audit_events.payload": set(payloads)}


def count_rows(snapshot: Snapshot) -> str:
    return ", ".join(f"{table} {len(rows)}" for table, rows in snapshot.items())


# ------------------------------------------------------------------- steps


def step_write_on_sqlite(sqlite_path: Path) -> tuple[Snapshot, dict[str, set]]:
    if sqlite_path.exists():
        sqlite_path.unlink()
    engine = sqlite_engine(str(sqlite_path))
    Base.metadata.create_all(engine)
    with Session(engine) as session:
        write_sample_data(session)
    snapshot = take_snapshot(engine)
    nulls = sql_null_json(engine)
    engine.dispose()
    print(f"    wrote {sqlite_path}: {count_rows(snapshot)} rows")
    return snapshot, nulls


def run_alembic(pg_url: str, *args: str) -> str:
    env = dict(os.environ, **{TARGET_URL_VARIABLE: pg_url})
    command = [sys.executable, "-m", "alembic", "-c", str(ALEMBIC_INI), *args]
    result = subprocess.run(command, env=env, capture_output=True, text=True)
    output = result.stdout + result.stderr
    check(result.returncode == 0, f"alembic {' '.join(args)} exited {result.returncode}:\n{output}")
    return result.stdout


def step_migrate_postgres(pg_url: str) -> None:
    run_alembic(pg_url, "upgrade", "head")
    engine = postgres_engine(pg_url)
    with engine.connect() as connection:
        tables = set(inspect(connection).get_table_names())
    engine.dispose()
    wanted = {model.__tablename__ for model in MODELS} | {"alembic_version"}
    check(tables == wanted, f"after alembic upgrade the tables are {sorted(tables)}, expected {sorted(wanted)}")
    print(f"    alembic upgrade head made: {', '.join(sorted(tables))}")


def step_godwit_copy(godwit_bin: str, sqlite_path: Path, pg_url: str) -> None:
    command = [godwit_bin, "copy", str(sqlite_path), "--to", pg_url, "--data-only"]
    print(f"    $ {' '.join(command)}")
    result = subprocess.run(command, capture_output=True, text=True)
    for name, output in (("stdout", result.stdout), ("stderr", result.stderr)):
        for line in output.rstrip().splitlines():
            print(f"    godwit {name}| {line}")
    check(result.returncode == 0, f"godwit copy exited {result.returncode}, expected 0")


def step_read_back(pg_url: str, snapshot: Snapshot, sqlite_nulls: dict[str, set]) -> None:
    engine = postgres_engine(pg_url, timezone=READ_TIMEZONE)
    actual = take_snapshot(engine)
    compare_snapshots(expected_on_postgres(snapshot), actual)
    postgres_nulls = sql_null_json(engine)
    check(
        postgres_nulls == sqlite_nulls,
        f"SQL NULL vs JSON null not kept apart: rows with SQL NULL on SQLite {sqlite_nulls}, "
        f"on PostgreSQL {postgres_nulls}",
    )
    engine.dispose()
    fields = sum(len(row) for rows in snapshot.values() for row in rows.values())
    print(f"    {count_rows(actual)} rows, {fields} fields equal to the snapshot")


def insert_one(session: Session, row, what: str) -> None:
    session.add(row)
    try:
        session.commit()
    except IntegrityError as error:
        session.rollback()
        raise StepFailed(f"inserting {what} failed: {error.orig}") from error


def check_new_ids(session: Session, snapshot: Snapshot) -> None:
    max_order = max(key[0] for key in snapshot["orders"])
    max_event = max(key[0] for key in snapshot["audit_events"])
    order = Order(user_id=ALICE_ID, tags=["new"], placed_at=datetime.datetime(2026, 1, 1),
                  status=OrderStatus.pending, weight_kg=1.0)
    insert_one(session, order, f"a new order (is the serial sequence past the copied max id {max_order}?)")
    check(order.id > max_order, f"new order got id {order.id}, not past the copied max {max_order} (serial sequence)")
    event = AuditEvent(user_id=BOB_ID, kind="after-copy", payload={"new": True})
    insert_one(session, event, f"a new audit event (is the identity sequence past the copied max id {max_event}?)")
    check(event.id > max_event,
          f"new audit event got id {event.id}, not past the copied max {max_event} (identity sequence)")
    user = User(email="new@example.com", balance=Decimal("1.00"),
                created_at=datetime.datetime.now(UTC), profile={"plan": "pro"})
    insert_one(session, user, "a new user")
    print(f"    new order id {order.id} > {max_order}, new audit event id {event.id} > {max_event}, new user ok")


def check_lookups(session: Session) -> None:
    alice = session.get(User, ALICE_ID)
    check(alice is not None and alice.email == "alice@example.com", f"session.get(User, {ALICE_ID}) found {alice!r}")
    bob = session.get(User, BOB_ID)
    check(bob is not None and bob.referred_by is alice, "bob.referred_by is not alice")
    check({o.status for o in alice.orders} >= {OrderStatus.paid}, "alice.orders lost the paid order")

    by_text = set(session.scalars(select(User.email).where(User.profile["plan"].as_string() == "pro")))
    check(by_text == {"alice@example.com", "new@example.com"}, f"profile->>'plan' = 'pro' found {by_text}")
    profile = type_coerce(User.profile, JSONB)
    by_containment = set(session.scalars(select(User.email).where(profile.contains({"prefs": {"theme": "dark"}}))))
    check(by_containment == {"alice@example.com"}, f"profile @> {{prefs: {{theme: dark}}}} found {by_containment}")
    nested = session.scalar(select(User.profile["prefs"]["langs"][1].as_string()).where(User.id == ALICE_ID))
    check(nested == "fr", f"profile['prefs']['langs'][1] is {nested!r}")

    tags = type_coerce(Order.tags, ARRAY(Text()))
    gifts = session.scalar(select(func.count()).where(tags.contains(["gift"])))
    check(gifts == 2, f"orders with tag 'gift' (tags @> ARRAY['gift']): {gifts}, expected 2")
    tricky = session.scalar(select(func.count()).where(tags.any_() == 'quote"inside'))
    check(tricky == 1, f"orders with tag 'quote\"inside': {tricky}, expected 1")
    paid = session.scalar(select(func.count()).select_from(Order).where(Order.status == OrderStatus.paid))
    check(paid == 2, f"orders with status paid: {paid}, expected 2")
    print("    session.get by UUID, relationships, JSON ->> and @>, array @> and ANY, enum filter: ok")


def check_constraints(session: Session) -> None:
    session.add(User(email="alice@example.com", balance=Decimal("0"), created_at=datetime.datetime.now(UTC)))
    try:
        session.commit()
    except IntegrityError:
        session.rollback()
    else:
        raise StepFailed("a second user with alice's email was accepted: the unique constraint is gone")
    session.add(Order(user_id=uuid.uuid4(), placed_at=datetime.datetime(2026, 1, 1), status=OrderStatus.paid))
    try:
        session.commit()
    except IntegrityError:
        session.rollback()
    else:
        raise StepFailed("an order for an unknown user was accepted: the foreign key is gone")
    print("    unique email and orders.user_id foreign key still enforced")


def step_app_keeps_working(pg_url: str, snapshot: Snapshot) -> None:
    engine = postgres_engine(pg_url, timezone=READ_TIMEZONE)
    with Session(engine) as session:
        check_new_ids(session, snapshot)
        check_lookups(session)
        check_constraints(session)
    engine.dispose()


def step_alembic_at_head(pg_url: str) -> None:
    output = run_alembic(pg_url, "current").strip()
    check(output == f"{HEAD_REVISION} (head)", f"alembic current says {output!r}, expected '{HEAD_REVISION} (head)'")
    engine = postgres_engine(pg_url)
    with engine.connect() as connection:
        versions = connection.execute(text("SELECT version_num FROM alembic_version")).scalars().all()
    engine.dispose()
    check(versions == [HEAD_REVISION], f"alembic_version holds {versions}, expected ['{HEAD_REVISION}']")
    print(f"    alembic current: {output}")


class Progress:
    """Prints each step as it starts and remembers which one is running."""

    TOTAL = 6

    def __init__(self) -> None:
        self.number = 0
        self.title = ""

    def start(self, title: str) -> None:
        self.number += 1
        self.title = title
        print(f"[{self.number}/{self.TOTAL}] {title}", flush=True)

    def failed(self, reason: str) -> None:
        print(f"FAILED at step {self.number}/{self.TOTAL} ({self.title}): {reason}", flush=True)


def run_steps(progress: Progress, sqlite_path: Path, pg_url: str, godwit_bin: str) -> None:
    progress.start("the app writes its data on SQLite")
    snapshot, sqlite_nulls = step_write_on_sqlite(sqlite_path)
    progress.start("alembic upgrade head on PostgreSQL")
    step_migrate_postgres(pg_url)
    progress.start("godwit copy --data-only")
    step_godwit_copy(godwit_bin, sqlite_path, pg_url)
    progress.start("the app reads back the same data on PostgreSQL")
    step_read_back(pg_url, snapshot, sqlite_nulls)
    progress.start("the app keeps working on PostgreSQL")
    step_app_keeps_working(pg_url, snapshot)
    progress.start("alembic current is at head")
    step_alembic_at_head(pg_url)


def main(argv: list[str]) -> int:
    if len(argv) != 4:
        print("usage: run_roundtrip.py SQLITE_PATH PG_URL GODWIT_BIN", file=sys.stderr)
        return 2
    progress = Progress()
    try:
        run_steps(progress, Path(argv[1]), argv[2], argv[3])
    except StepFailed as failure:
        progress.failed(str(failure))
        return 1
    except Exception:
        traceback.print_exc()
        progress.failed("unexpected error (traceback above)")
        return 1
    print(f"round trip ok: all {Progress.TOTAL} steps passed")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
