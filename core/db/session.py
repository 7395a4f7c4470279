"""Open the database: SQLite in WAL mode, migrated to the newest schema on open.

A database that cannot be created or written (a read-only or missing folder, a
file where the folder should be) is refused with :class:`BadInput` naming the
path, never a driver traceback.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from core.errors import BadInput

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
HEAD_REVISION = "0004"  # the newest file in migrations/versions (a test keeps them in step)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    # the timeout first: switching to WAL needs a lock that another process may be holding
    # (a CLI migrating the new database while the app opens it)
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as connection:
        try:
            return connection.execute(text("SELECT version_num FROM alembic_version")).scalar()
        except OperationalError:
            return None


def migrate(engine: Engine, lock_path: Path) -> None:
    """Bring the schema to Alembic's head revision (creates it on a new database).

    Alembic itself is imported only when the database is not at the head already,
    which keeps every CLI command's start-up short.
    """
    if current_revision(engine) == HEAD_REVISION:
        return
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with _exclusive(lock_path):  # the app and a CLI may open a new database at once
        if current_revision(engine) == HEAD_REVISION:
            return
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            command.upgrade(config, "head")


@contextmanager
def _exclusive(path: Path) -> Iterator[None]:
    """An inter-process lock on a file, released when the file is closed."""
    with path.open("a+b") as fh:
        if sys.platform == "win32":
            import msvcrt

            msvcrt.locking(fh.fileno(), msvcrt.LK_LOCK, 1)
        else:
            import fcntl

            fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        yield


class Database:
    """One SQLite file; sessions come from :meth:`session`."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("ab"):  # created, or opened for writing: SQLite would say less
                pass
        except OSError as err:
            raise unwritable(self.path, err) from None
        self.engine = create_engine(f"sqlite:///{self.path}")
        event.listen(self.engine, "connect", _sqlite_pragmas)
        try:
            migrate(self.engine, self.path.with_name(self.path.name + ".migrate-lock"))
        except (OperationalError, OSError) as err:
            raise unwritable(self.path, err) from None
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)

    @contextmanager
    def session(self) -> Iterator[Session]:
        with self._sessions() as session, session.begin():
            yield session

    @contextmanager
    def write_session(self) -> Iterator[Session]:
        """A session that holds SQLite's write lock from its first statement (BEGIN IMMEDIATE).

        For read-then-write work such as allocating the next version number: another
        process cannot write between the read and the insert, so there is no race to
        lose (other writers wait up to the busy timeout).
        """
        with self._sessions() as session, session.begin():
            session.connection().exec_driver_sql("BEGIN IMMEDIATE")
            yield session

    def close(self) -> None:
        self.engine.dispose()


def unwritable(path: Path, err: BaseException) -> BadInput:
    why = getattr(err, "strerror", None) or str(getattr(err, "orig", None) or err)
    return BadInput(f"cannot write the Slipway database {path}: {why}. Make the folder writable, or set "
                    "SLIPWAY_HOME to a folder you can write", details={"path": str(path)})
