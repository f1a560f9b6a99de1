"""stabilize's tests/conftest.py with a wfstore backend.

The suite runner copies stabilize's tests/ into a temporary directory, renames
its conftest.py to _stabilize_conftest.py (unchanged) and puts this file in its
place. Everything of stabilize's conftest is re-exported (its helpers, tasks
and autouse fixtures); with WFSTORE_SUITE_BACKEND=wfstore (the default) the
backend-parameterised fixtures (repository, queue, file_repository,
file_queue) are replaced by WfstoreWorkflowStore and WfstoreQueue, each test on
a fresh store in its own temporary directory. With WFSTORE_SUITE_BACKEND=sqlite
stabilize's own fixtures run unchanged.
"""

import os
from collections.abc import Generator
from pathlib import Path

import pytest

from tests._stabilize_conftest import *  # noqa: F401,F403
from tests._stabilize_conftest import (  # noqa: F401
    CounterTask,
    FailTask,
    SuccessTask,
    setup_stabilize,
)

BACKEND = os.environ.get("WFSTORE_SUITE_BACKEND", "wfstore")
DURABILITY = os.environ.get("WFSTORE_SUITE_DURABILITY", "buffered")

if BACKEND == "wfstore":
    from wfstore.stabilize import WfstoreQueue, WfstoreWorkflowStore

    @pytest.fixture(params=["wfstore"])
    def backend(request: pytest.FixtureRequest) -> str:
        return str(request.param)

    @pytest.fixture
    def repository(backend: str, tmp_path: Path) -> Generator[WfstoreWorkflowStore, None, None]:
        repo = WfstoreWorkflowStore(str(tmp_path / "wfstore"), durability=DURABILITY)
        yield repo
        repo.close()

    @pytest.fixture
    def queue(backend: str, repository: WfstoreWorkflowStore) -> Generator[WfstoreQueue, None, None]:
        q = WfstoreQueue(repository)
        yield q
        try:
            q.clear()
        except Exception:
            pass  # the test closed the store

    @pytest.fixture
    def file_repository(file_db_path: Path, backend: str) -> Generator[WfstoreWorkflowStore, None, None]:
        repo = WfstoreWorkflowStore(str(file_db_path) + ".wfstore", durability=DURABILITY)
        yield repo
        repo.close()

    @pytest.fixture
    def file_queue(file_repository: WfstoreWorkflowStore, backend: str) -> Generator[WfstoreQueue, None, None]:
        q = WfstoreQueue(file_repository)
        yield q
        try:
            q.clear()
        except Exception:
            pass
