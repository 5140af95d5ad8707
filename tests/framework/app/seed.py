"""Sample data with the edge values a real app produces, written through the ORM."""

import datetime
import uuid
from decimal import Decimal

from sqlalchemy import null
from sqlalchemy.orm import Session

from .models import AuditEvent, Follow, Order, OrderStatus, User

UTC = datetime.timezone.utc

ALICE_ID = uuid.UUID("0f6c3a2e-8b1d-4c5e-9a7f-123456789abc")
BOB_ID = uuid.UUID("ffffffff-0000-4000-8000-000000000001")


def make_users() -> list[User]:
    alice = User(
        id=ALICE_ID,
        email="alice@example.com",
        display_name="Alice Liddell",
        is_active=True,
        profile={
            "plan": "pro",
            "prefs": {"theme": "dark", "langs": ["en", "fr"], "beta": True},
            "score": 4.5,
            "visits": 12,
            "nothing": None,
            "greeting": "héllo ✓",
        },
        balance=Decimal("1234.50"),
        created_at=datetime.datetime(2024, 2, 29, 23, 59, 59, 999999, tzinfo=UTC),
        birth_date=datetime.date(1990, 1, 31),
        avatar=bytes(range(256)),
    )
    bob = User(
        id=BOB_ID,
        email="bob@example.com",
        display_name="Zoë 🚀 漢字 שלום",
        is_active=False,
        profile={"plan": "free"},
        balance=Decimal("0.29"),
        created_at=datetime.datetime(1970, 1, 1, 0, 0, 0, 1, tzinfo=UTC),
        birth_date=None,
        avatar=b"",
        referred_by=alice,
    )
    carol = User(
        email="carol@example.com",
        display_name="",
        is_active=True,
        profile=None,  # SQLAlchemy's JSON stores Python None as JSON 'null'
        balance=Decimal("-0.01"),
        created_at=datetime.datetime(2038, 1, 19, 3, 14, 8, 500000, tzinfo=UTC),
        birth_date=datetime.date(2000, 2, 29),
        referred_by=alice,
    )
    dave = User(
        email="dave@example.com",
        display_name=None,
        is_active=True,
        profile=[],
        balance=Decimal("9999999999.99"),
        created_at=datetime.datetime(2023, 6, 15, 12, 0, 0, tzinfo=UTC),
    )
    erin = User(
        email="Erin.O'Brien+tag@example.com",
        display_name='O\'Brien "quoted" back\\slash\ttab\nnewline',
        is_active=False,
        profile=42,
        balance=Decimal("0.00"),
        created_at=datetime.datetime(2024, 12, 31, 23, 59, 59, 123456, tzinfo=UTC),
        referred_by=bob,
    )
    return [alice, bob, carol, dave, erin]


def make_orders(users: list[User]) -> list[Order]:
    alice, bob, carol, dave, erin = users
    when = datetime.datetime
    return [
        Order(user=alice, tags=["gift", "express"], placed_at=when(2024, 3, 1, 9, 30, 0, 123456),
              status=OrderStatus.paid, weight_kg=0.1),
        Order(user=alice, tags=[], placed_at=when(2024, 3, 2, 10, 0), status=OrderStatus.pending,
              weight_kg=None),
        Order(user=bob, tags=None, placed_at=when(1999, 12, 31, 23, 59, 59, 999999),
              status=OrderStatus.shipped, weight_kg=2.5),
        Order(user=carol,
              tags=["comma,inside", 'quote"inside', "{braces}", "back\\slash", "ünïcödé", "NULL", "", " spaced "],
              placed_at=when(2024, 7, 4, 0, 0, 0, 1), status=OrderStatus.paid, weight_kg=1e-7),
        Order(user=erin, tags=["gift"], placed_at=when(2025, 1, 1), status=OrderStatus.pending,
              weight_kg=1234567.875),
    ]


def make_follows() -> list[Follow]:
    since = datetime.datetime(2024, 5, 5, 5, 5, 5, 55555, tzinfo=UTC)
    return [
        Follow(follower_id=BOB_ID, followee_id=ALICE_ID, since=since),
        Follow(follower_id=ALICE_ID, followee_id=BOB_ID, since=since + datetime.timedelta(days=1)),
    ]


def make_audit_events(users: list[User]) -> list[AuditEvent]:
    alice, bob = users[0], users[1]
    return [
        AuditEvent(user_id=alice.id, kind="deleted-later", payload={"x": 1}),
        AuditEvent(user_id=alice.id, kind="login", payload={"ip": "127.0.0.1", "ok": True}),
        AuditEvent(user_id=bob.id, kind="counter", payload=3),
        AuditEvent(user_id=None, kind="note", payload="just a string"),
        AuditEvent(user_id=None, kind="nothing", payload=null()),  # SQL NULL
    ]


def write_sample_data(session: Session) -> None:
    """Writes the sample data, then deletes a row or two so that key values
    have gaps (the next id must come after the max, not after the count),
    and adds a self-reference that points to a later row."""
    users = make_users()
    session.add_all(users)
    session.flush()  # users get their ids before the rows that point at them
    orders = make_orders(users)
    session.add_all(orders)
    session.add_all(make_follows())
    events = make_audit_events(users)
    session.add_all(events)
    session.flush()
    session.delete(orders[1])
    session.delete(events[0])
    session.commit()
    # A referral recorded later points forward: dave's row comes before
    # erin's in SQLite, yet dave now refers to erin.
    dave, erin = users[3], users[4]
    dave.referred_by = erin
    session.commit()
