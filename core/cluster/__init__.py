"""The remote tier: exports and benchmark variants as Ray jobs (the Jobs API).

The cluster runs the same worker command as this machine (``python -m exporters
--spec … --out …``); its JSON lines come back through Ray's job logs into the
same job store. Ray is an optional extra (``cluster``), imported only when a
cluster is used. See :mod:`core.cluster.client`.
"""

from core.cluster.client import (
    CLUSTER_ENV,
    Cluster,
    Needs,
    connect,
    describe,
    needs_of,
    preflight,
    resolve_address,
    submission_id,
)

__all__ = ["CLUSTER_ENV", "Cluster", "Needs", "connect", "describe", "needs_of", "preflight",
           "resolve_address", "submission_id"]
