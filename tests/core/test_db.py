from __future__ import annotations

from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import text

from core.db import Base, Database


def test_migrations_match_the_models(tmp_path: Path) -> None:
    db = Database(tmp_path / "s.db")
    with db.engine.connect() as connection:
        context = MigrationContext.configure(connection)
        assert compare_metadata(context, Base.metadata) == []


def test_wal_mode_and_idempotent_migration(tmp_path: Path) -> None:
    db = Database(tmp_path / "s.db")
    Database(tmp_path / "s.db")  # opening again migrates nothing and breaks nothing
    with db.engine.connect() as connection:
        assert connection.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        tables = {r[0] for r in connection.execute(text("SELECT name FROM sqlite_master"))}
    assert {"checkpoints", "export_jobs", "alembic_version"} <= tables


def test_head_revision_constant_is_the_newest_migration() -> None:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    from core.db.session import HEAD_REVISION, MIGRATIONS

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    assert ScriptDirectory.from_config(config).get_current_head() == HEAD_REVISION


def test_processes_creating_one_database_at_once(tmp_path: Path) -> None:
    """The app and a CLI may both find no database and migrate at the same moment."""
    import subprocess
    import sys
    import time

    db, start = str(tmp_path / "x.db"), time.time() + 3  # imports first, then all at once
    code = ("import time; from pathlib import Path; from core.db import Database\n"
            f"time.sleep(max(0.0, {start} - time.time())); Database(Path({db!r}))")
    procs = [subprocess.Popen([sys.executable, "-c", code], stderr=subprocess.PIPE, text=True)
             for _ in range(6)]
    errors = [p.communicate(timeout=60)[1] for p in procs]
    assert [p.returncode for p in procs] == [0] * 6, errors
