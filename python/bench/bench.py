"""The standard workload (bench/workload.md) through stabilize's WorkflowStore API,
on stabilize's SqliteWorkflowStore (default journal and WAL) and on
WfstoreWorkflowStore (sync and buffered), in one process and one run.

    PYTHONPATH=<build>/python:<stabilize>/src:<stabilize deps> \
        /usr/bin/python3 python/bench/bench.py [--n 2000] [--stores sqlite,sqlite-wal,wfstore-sync,wfstore-buffered]

Prints one line per store and phase (phase=... ops_per_sec=...) and a table of
each phase's ops/s with the ratio of each wfstore mode to SQLite WAL.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

from stabilize import SqliteQueue, SqliteWorkflowStore, StageExecution, TaskExecution, Workflow
from stabilize.models.status import WorkflowStatus
from stabilize.persistence.connection import ConnectionManager, SingletonMeta
from stabilize.queue.messages import StartStage

from wfstore.stabilize import WfstoreQueue, WfstoreWorkflowStore

# The workload's builder is shared with `wfstore bench --vs-stabilize`.
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "bench"))
import stabilize_workload  # noqa: E402

BASE_MS = 1_700_000_000_000
STAGES = 10
APPS = 10
DEDUP = 10_000


def build(n: int) -> list[Workflow]:
    """The workload's N workflows, as bench/workload.md "Build" defines them: the
    builder `wfstore bench --vs-stabilize` runs, with stabilize's classes."""
    api = SimpleNamespace(StageExecution=StageExecution, TaskExecution=TaskExecution, Workflow=Workflow)
    return stabilize_workload.build(api, n)


def run_workload(store: Any, queue: Any, n: int) -> dict[str, float]:
    """Runs every phase, checking its results; returns ops/s per phase."""
    workflows = build(n)
    ancestors = min(500, n)
    results: dict[str, float] = {}

    def phase(name: str, ops: int, body: Callable[[], None]) -> None:
        start = time.perf_counter()
        body()
        seconds = time.perf_counter() - start
        results[name] = ops / seconds
        print(f"phase={name} n={ops} seconds={seconds:.3f} ops_per_sec={ops / seconds:.0f}", flush=True)

    def store_all() -> None:
        for w in workflows:
            store.store(w)

    def retrieve_all() -> None:
        for w in workflows:
            got = store.retrieve(w.id)
            assert len(got.stages) == STAGES and all(len(s.tasks) == 1 for s in got.stages)

    def stage_updates() -> None:
        for k, w in enumerate(workflows):
            for i, s in enumerate(w.stages):
                s.status = WorkflowStatus.RUNNING
                s.start_time = BASE_MS + k * 100 + i
                s.outputs = {"result": f"ok-{k}-{i}", "last_stage": i, "items": [f"item-{i}"]}
                store.store_stage(s, expected_phase="NOT_STARTED")

    def transactions() -> None:
        for k, w in enumerate(workflows):
            s = w.stages[0]
            s.status = WorkflowStatus.SUCCEEDED
            s.end_time = BASE_MS + k * 100 + 1000
            with store.transaction(queue) as txn:
                txn.store_stage(s, expected_phase="RUNNING")
                txn.push_message(StartStage(execution_type="PIPELINE", execution_id=w.id, stage_id=w.stages[1].id))
        assert queue.size() == n

    def query() -> None:
        total = 0
        for a in range(APPS):
            for _ in store.retrieve_by_application(f"app-{a}"):
                total += 1
        assert total == n, total

    def merged() -> None:
        for k in range(ancestors):
            got = store.get_merged_ancestor_outputs(workflows[k].id, "stage-9")
            want = {"result": f"ok-{k}-8", "last_stage": 8, "items": [f"item-{i}" for i in range(9)]}
            assert got == want, got

    def dedup_mark() -> None:
        for j in range(DEDUP):
            store.mark_message_processed(f"dedup-msg-{j}", handler_type="BenchHandler", execution_id=workflows[j % n].id)

    def dedup_check() -> None:
        for j in range(DEDUP):
            assert store.is_message_processed(f"dedup-msg-{j}")

    phase("store", n, store_all)
    phase("retrieve", n, retrieve_all)
    phase("stage_update", STAGES * n, stage_updates)
    phase("txn", n, transactions)
    phase("query", n, query)
    phase("ancestors", ancestors, merged)
    phase("dedup_mark", DEDUP, dedup_mark)
    phase("dedup_check", DEDUP, dedup_check)
    return results


def open_store(kind: str, directory: str) -> tuple[Any, Any, Callable[[], None]]:
    if kind.startswith("sqlite"):
        if kind == "sqlite-wal":
            os.environ["STABILIZE_SQLITE_JOURNAL_MODE"] = "WAL"
        else:
            os.environ.pop("STABILIZE_SQLITE_JOURNAL_MODE", None)
        SingletonMeta.reset(ConnectionManager)
        url = f"sqlite:///{directory}/bench.db"
        store = SqliteWorkflowStore(url, create_tables=True)
        queue = SqliteQueue(url)
        queue._create_table()
        return store, queue, store.close
    durability = kind.split("-", 1)[1]
    store = WfstoreWorkflowStore(f"{directory}/store", durability=durability)
    return store, WfstoreQueue(store), store.close


def overhead(n: int) -> None:
    """The binding's own cost per call: an operation of wfstore.Database
    called from Python (arguments in, the result converted) less the same
    operation run from C++ in one loop, on one store in one run (the lowest
    of seven alternating rounds each). retrieve returns a Model of a
    10-stage workflow (its fields converted when read); beside it, what a
    caller pays to read a few fields (the status of the workflow and of each
    stage) and every field (to_dict(): about 940 Python objects, dicts, keys,
    strings, ints), and the stabilize adapter's retrieve (every field, then
    stabilize's dataclasses); exists and is_message_processed return a bool."""
    import wfstore

    directory = tempfile.mkdtemp(prefix="wfstore-pybench-overhead-")
    store = WfstoreWorkflowStore(f"{directory}/store", durability="buffered")
    try:
        workflows = build(n)
        for w in workflows:
            store.store(w)
        db: wfstore.Database = store._db
        ids = [w.id for w in workflows]
        for i in ids[::2]:
            db.mark_message_processed(i)

        def statuses(i: str) -> None:
            w = db.retrieve(i)
            _ = w["status"], [s["status"] for s in w["stages"]]

        operations = {
            "retrieve": ("retrieve", db.retrieve),
            "retrieve, then the statuses of the workflow and its stages": ("retrieve", statuses),
            "retrieve, then to_dict() (every field)": ("retrieve", lambda i: db.retrieve(i).to_dict()),
            "WfstoreWorkflowStore.retrieve (stabilize's objects)": ("retrieve", store.retrieve),
            "exists": ("exists", db.exists),
            "is_message_processed": ("is_message_processed", db.is_message_processed),
        }
        for label, (operation, call) in operations.items():
            py_best = cpp_best = float("inf")
            for _ in range(7):
                start = time.perf_counter()
                for i in ids:
                    call(i)
                py_best = min(py_best, time.perf_counter() - start)
                cpp_best = min(cpp_best, db._cpp_seconds(operation, ids))
            per_py = py_best / len(ids) * 1e6
            per_cpp = cpp_best / len(ids) * 1e6
            print(f"binding overhead: {label} from Python {per_py:.2f} us/call, {operation} from C++ {per_cpp:.2f} us/call "
                  f"(same store, same run): {per_py - per_cpp:.2f} us per call for the binding", flush=True)
        # The floor for making every field's object in CPython: its C JSON
        # parser building the same workflows (as dicts) from JSON text.
        texts = [json.dumps(db.retrieve(i).to_dict(), default=sorted) for i in ids]
        loads_best = float("inf")
        for _ in range(7):
            start = time.perf_counter()
            for text in texts:
                json.loads(text)
            loads_best = min(loads_best, time.perf_counter() - start)
        print(f"for scale: json.loads of the same workflows as JSON text {loads_best / len(ids) * 1e6:.2f} us/call "
              "(CPython's C parser making the objects to_dict() makes)", flush=True)
    finally:
        store.close()
        shutil.rmtree(directory, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--stores", default="sqlite,sqlite-wal,wfstore-sync,wfstore-buffered")
    parser.add_argument("--overhead-only", action="store_true", help="only the binding's cost per call")
    args = parser.parse_args()
    if args.overhead_only:
        overhead(args.n)
        return
    figures: dict[str, dict[str, float]] = {}
    for kind in args.stores.split(","):
        directory = tempfile.mkdtemp(prefix=f"wfstore-pybench-{kind}-")
        print(f"# store={kind} n={args.n} dir={directory}", flush=True)
        store, queue, close = open_store(kind, directory)
        try:
            figures[kind] = run_workload(store, queue, args.n)
        finally:
            close()
            shutil.rmtree(directory, ignore_errors=True)
    overhead(args.n)
    kinds = list(figures)
    print("\n| phase | " + " | ".join(kinds) + (" | wfstore / SQLite WAL |" if "sqlite-wal" in figures else " |"))
    print("| --- " * (len(kinds) + 1 + ("sqlite-wal" in figures)) + "|")
    for name in next(iter(figures.values())):
        row = [f"{figures[k][name]:,.0f}" for k in kinds]
        ratios = ""
        if "sqlite-wal" in figures:
            parts = [
                f"{k.split('-', 1)[1]} {figures[k][name] / figures['sqlite-wal'][name]:.1f}x"
                for k in kinds
                if k.startswith("wfstore")
            ]
            ratios = " | " + ", ".join(parts)
        print(f"| {name} | " + " | ".join(row) + ratios + " |")


if __name__ == "__main__":
    main()
