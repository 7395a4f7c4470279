"""The job store: SQLAlchemy 2 on SQLite (WAL), schema managed by Alembic."""

from core.db.models import (
    ApiKey,
    Base,
    Checkpoint,
    DeploymentHistory,
    DeploymentStatus,
    DeploymentTarget,
    DeploymentType,
    ExportJob,
    JobStatus,
    RateWindow,
    Usage,
)
from core.db.session import Database

__all__ = ["ApiKey", "Base", "Checkpoint", "Database", "DeploymentHistory", "DeploymentStatus",
           "DeploymentTarget", "DeploymentType", "ExportJob", "JobStatus", "RateWindow", "Usage"]
