"""Captures the SELECTs a SQLAlchemy app sends to SQLite, the way an app
logs its queries: one {"sql": ..., "params": [...]} line per statement.

Usage: capture_queries.py APP.db QUERIES.jsonl

Writes the framework test app's sample data into APP.db through the ORM,
then runs the app's typical reads with a cursor-execute listener that
records each statement and its bound parameters (as the DBAPI receives
them: SQLAlchemy has already turned UUIDs, dates and booleans into what
SQLite stores). tests/workload_framework.rs replays the log against the
copy of APP.db with `godwit workload`.
"""

import datetime
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from sqlalchemy import event, func, select  # noqa: E402
from sqlalchemy.orm import Session  # noqa: E402

from app.db import sqlite_engine  # noqa: E402
from app.models import AuditEvent, Base, Follow, Order, OrderStatus, User  # noqa: E402
from app.seed import ALICE_ID, BOB_ID, write_sample_data  # noqa: E402


def main(db_path: str, log_path: str) -> int:
    path = Path(db_path)
    if path.exists():
        path.unlink()
    engine = sqlite_engine(db_path)
    Base.metadata.create_all(engine)
    with Session(engine) as session:
        write_sample_data(session)
        session.commit()

    captured = []

    @event.listens_for(engine, "before_cursor_execute")
    def record(conn, cursor, statement, parameters, context, executemany):
        if not statement.lstrip().upper().startswith("SELECT"):
            return
        params = list(parameters) if isinstance(parameters, (list, tuple)) else parameters
        if any(isinstance(p, (bytes, bytearray, memoryview)) for p in params):
            return
        captured.append({"sql": statement, "params": params})

    since = datetime.datetime(2024, 1, 1)
    with Session(engine) as session:
        session.get(User, ALICE_ID)
        session.get(User, BOB_ID)
        session.scalars(select(User).where(User.email == "bob@example.com")).all()
        session.scalars(select(User).where(User.email == "nobody@example.com")).all()
        session.scalars(select(User).where(User.is_active.is_(True)).order_by(User.email)).all()
        session.scalars(select(User).where(User.is_active == False).order_by(User.email)).all()  # noqa: E712
        session.scalars(select(User).where(User.display_name.ilike("%ali%"))).all()
        session.scalars(select(User).order_by(User.birth_date, User.email)).all()
        session.scalars(select(Order).where(Order.status == OrderStatus.paid).order_by(Order.id)).all()
        session.scalars(select(Order).where(Order.status == OrderStatus.pending).order_by(Order.id)).all()
        session.scalars(select(Order).where(Order.user_id.in_([ALICE_ID, BOB_ID])).order_by(Order.id)).all()
        session.scalars(select(Order).where(Order.placed_at >= since).order_by(Order.placed_at, Order.id)).all()
        session.execute(select(Order.status, func.count(Order.id)).group_by(Order.status).order_by(Order.status)).all()
        session.execute(
            select(User.email, func.count(Order.id)).join(Order).group_by(User.email).order_by(User.email)
        ).all()
        session.execute(select(func.sum(Order.weight_kg), func.max(Order.weight_kg))).all()
        session.scalars(select(Follow).where(Follow.follower_id == ALICE_ID)).all()
        session.scalars(select(AuditEvent).where(AuditEvent.kind == "login").order_by(AuditEvent.id)).all()
        session.scalars(select(User).where(User.balance > 100).order_by(User.email).limit(2)).all()
    engine.dispose()

    with open(log_path, "w", encoding="utf-8") as out:
        for entry in captured:
            out.write(json.dumps(entry, default=str) + "\n")
    print(f"captured {len(captured)} statements into {log_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
