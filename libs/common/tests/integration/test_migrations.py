"""Every service's Alembic migrations on PostgreSQL and SQLite, matching its models exactly."""

from __future__ import annotations

import importlib

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from beatpass_common.db import make_engine, migrate

pytestmark = pytest.mark.integration
SERVICES = ["upload", "fingerprint", "catalog"]


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/test.db"
    return request.getfixturevalue("postgres_url")


@pytest.mark.parametrize("service", SERVICES)
def test_migrations_create_the_models_schema_and_are_rerunnable(service, database_url):
    package = importlib.import_module(f"beatpass_{service}.service")
    models = importlib.import_module(f"beatpass_{service}.models")
    migrate(database_url, package.MIGRATIONS)
    migrate(database_url, package.MIGRATIONS)  # a second run is a no-op
    engine = make_engine(database_url)
    assert set(models.Base.metadata.tables) <= set(inspect(engine).get_table_names())
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), models.Base.metadata)
    engine.dispose()
    assert diff == [], f"models and migrations of {service} differ: {diff}"
