"""The job store: SQLAlchemy 2 on SQLite (WAL), schema managed by Alembic."""

from core.db.models import Base, Checkpoint, ExportJob, JobStatus
from core.db.session import Database

__all__ = ["Base", "Checkpoint", "Database", "ExportJob", "JobStatus"]
