"""Engine helpers shared by the round-trip script and the Alembic env."""

import os

from sqlalchemy import Engine, create_engine

TARGET_URL_VARIABLE = "GODWIT_TARGET_URL"


def sqlalchemy_url(postgres_url: str) -> str:
    """postgresql://... as given to godwit, with SQLAlchemy's psycopg 3 driver."""
    for prefix in ("postgresql+psycopg://", "postgresql://", "postgres://"):
        if postgres_url.startswith(prefix):
            return "postgresql+psycopg://" + postgres_url[len(prefix):]
    raise ValueError(f"not a postgresql:// URL: {postgres_url}")


def target_url_from_env() -> str:
    url = os.environ.get(TARGET_URL_VARIABLE)
    if not url:
        raise RuntimeError(f"set {TARGET_URL_VARIABLE} to the PostgreSQL URL to migrate")
    return sqlalchemy_url(url)


def postgres_engine(postgres_url: str, timezone: str = "UTC") -> Engine:
    """An engine whose sessions use the given TimeZone setting."""
    return create_engine(
        sqlalchemy_url(postgres_url),
        connect_args={"options": f"-c timezone={timezone}"},
    )


def sqlite_engine(path: str) -> Engine:
    return create_engine(f"sqlite:///{path}")
