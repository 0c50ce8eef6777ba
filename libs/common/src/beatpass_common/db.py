"""SQLAlchemy 2 engine and session helpers, and Alembic migrations run from a service package."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

from alembic import command
from alembic.config import Config
from sqlalchemy import CursorResult, DateTime, Engine, Executable, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.types import TypeDecorator


class UTCDateTime(TypeDecorator):
    """A timestamp column that always gives back an aware UTC datetime.

    Stored as ``TIMESTAMP WITH TIME ZONE`` (PostgreSQL) or text (SQLite, which drops the offset
    and hands back naive values: every value stored is UTC, so UTC is put back on reading).
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect) -> datetime | None:
        return None if value is None else as_utc(value)

    def process_result_value(self, value: datetime | None, dialect) -> datetime | None:
        return None if value is None else as_utc(value)


def as_utc(value: datetime) -> datetime:
    """``value`` in UTC; a naive one is taken to be UTC already."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def make_engine(url: str, *, pool_size: int = 10, max_overflow: int = 10) -> Engine:
    """An engine for ``url``; on PostgreSQL a pool of ``pool_size`` + ``max_overflow`` connections
    (query parameters such as ``sslmode`` and ``sslrootcert`` go to libpq as they are)."""
    parsed = make_url(url)
    if not parsed.drivername.startswith("sqlite"):
        return create_engine(url, pool_pre_ping=True, pool_size=pool_size, max_overflow=max_overflow)
    if parsed.database and parsed.database != ":memory:":
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})

    @event.listens_for(engine, "connect")
    def _sqlite_connect(dbapi_conn, _record):
        dbapi_conn.isolation_level = None  # we issue BEGIN ourselves, below
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.close()

    @event.listens_for(engine, "begin")
    def _sqlite_begin(conn):
        # Take the write lock at BEGIN so concurrent writers queue instead of failing mid-way
        # (what SELECT ... FOR UPDATE gives on PostgreSQL).
        conn.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


def affected(session: Session, statement: Executable) -> int:
    """The number of rows an UPDATE, DELETE or INSERT ... ON CONFLICT ``statement`` changed."""
    # DML executes to a CursorResult; Session.execute is typed with its base class, Result.
    result = cast(CursorResult[Any], session.execute(statement))
    return result.rowcount


def session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


@contextlib.contextmanager
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """A session whose work commits on success and rolls back on any exception."""
    with factory() as session, session.begin():
        yield session


def migrate(url: str, migrations_dir: Path, revision: str = "head") -> None:
    """Upgrade the database at ``url`` using the Alembic scripts in ``migrations_dir``.

    Several processes may start at once (replicas, gunicorn workers): on PostgreSQL they take
    turns under an advisory lock; SQLite serialises writers by itself.
    """
    cfg = Config()
    cfg.set_main_option("script_location", str(migrations_dir))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    engine = make_engine(url)  # also creates the SQLite file's folder
    try:
        if engine.dialect.name != "postgresql":
            command.upgrade(cfg, revision)
            return
        with engine.connect() as conn:
            conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": _MIGRATION_LOCK})
            try:
                command.upgrade(cfg, revision)
            finally:
                conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": _MIGRATION_LOCK})
    finally:
        engine.dispose()


_MIGRATION_LOCK = 0x6265617470617373  # "beatpass"


def open_database(
    url: str, migrations_dir: Path, *, migrate_first: bool = True, pool_size: int = 10, max_overflow: int = 10
) -> sessionmaker[Session]:
    """A service's database, migrated to head first unless ``migrate_first`` is false (a release's
    migration Job did it, and the pod's init container waited for it: beatpass_common.schema)."""
    if migrate_first:
        migrate(url, migrations_dir)
    return session_factory(make_engine(url, pool_size=pool_size, max_overflow=max_overflow))


def schema_at_head(url: str, migrations_dir: Path) -> tuple[str | None, str | None]:
    """(the database's Alembic revision or None, the head revision of ``migrations_dir`` or None: it has none)."""
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    cfg = Config()
    cfg.set_main_option("script_location", str(migrations_dir))
    head = ScriptDirectory.from_config(cfg).get_current_head()
    engine = make_engine(url, pool_size=1, max_overflow=0)
    try:
        with engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision(), head
    finally:
        engine.dispose()


def reachable(factory: sessionmaker[Session]):
    """A readiness check: the database answers a trivial query."""

    def check() -> bool:
        with factory() as session:
            return session.execute(text("SELECT 1")).scalar() == 1

    return check
