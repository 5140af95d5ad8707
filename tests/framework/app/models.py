"""The app's models, written the way SQLAlchemy 2.x apps usually are.

The same models run on SQLite (schema from Base.metadata.create_all) and on
PostgreSQL (schema from the Alembic migration). Where the two databases have
different native types, the column uses with_variant, as real apps do.
"""

import datetime
import decimal
import enum
import uuid
from typing import Any, Optional

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    DateTime,
    Enum,
    Float,
    ForeignKey,
    Identity,
    Integer,
    LargeBinary,
    Numeric,
    String,
    Text,
    Uuid,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

# JSON text on SQLite, jsonb on PostgreSQL.
JsonDocument = JSON().with_variant(JSONB(), "postgresql")

# A JSON list on SQLite, a text[] on PostgreSQL.
TagList = JSON().with_variant(ARRAY(Text()), "postgresql")

# SQLite only auto-increments an INTEGER PRIMARY KEY, so apps that want
# BIGINT on PostgreSQL use this variant.
BigId = BigInteger().with_variant(Integer(), "sqlite")


class Base(DeclarativeBase):
    pass


class OrderStatus(enum.Enum):
    pending = "pending"
    paid = "paid"
    shipped = "shipped"


class User(Base):
    __tablename__ = "users"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    display_name: Mapped[Optional[str]] = mapped_column(String(100))
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    profile: Mapped[Optional[Any]] = mapped_column(JsonDocument)
    balance: Mapped[decimal.Decimal] = mapped_column(Numeric(12, 2))
    created_at: Mapped[datetime.datetime] = mapped_column(DateTime(timezone=True))
    birth_date: Mapped[Optional[datetime.date]] = mapped_column(Date)
    avatar: Mapped[Optional[bytes]] = mapped_column(LargeBinary)
    referred_by_id: Mapped[Optional[uuid.UUID]] = mapped_column(ForeignKey("users.id"))

    referred_by: Mapped[Optional["User"]] = relationship(remote_side=[id])
    orders: Mapped[list["Order"]] = relationship(back_populates="user")


class Order(Base):
    __tablename__ = "orders"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"))
    tags: Mapped[Optional[list[str]]] = mapped_column(TagList)
    placed_at: Mapped[datetime.datetime] = mapped_column(DateTime)
    status: Mapped[OrderStatus] = mapped_column(Enum(OrderStatus, name="order_status"))
    weight_kg: Mapped[Optional[float]] = mapped_column(Float)

    user: Mapped[User] = relationship(back_populates="orders")


class Follow(Base):
    """An association table with a composite primary key of two UUIDs."""

    __tablename__ = "follows"

    follower_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"), primary_key=True)
    followee_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"), primary_key=True)
    since: Mapped[datetime.datetime] = mapped_column(DateTime(timezone=True))


class AuditEvent(Base):
    """A BIGINT identity key on PostgreSQL; plain json (not jsonb) payload."""

    __tablename__ = "audit_events"

    id: Mapped[int] = mapped_column(BigId, Identity(), primary_key=True)
    user_id: Mapped[Optional[uuid.UUID]] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    kind: Mapped[str] = mapped_column(String(40))
    payload: Mapped[Optional[Any]] = mapped_column(JSON)
