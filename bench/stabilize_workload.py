#!/usr/bin/env python3
"""The standard workload (bench/workload.md) on stabilize's own SqliteWorkflowStore.

`wfstore bench --vs-stabilize` runs this script in the same run as its own phases,
so that each phase can be set beside the reference implementation measured on the
same machine at the same time. Only stabilize's public API is used; stabilize is
imported from its source tree (--stabilize-dir, the WFSTORE_STABILIZE_DIR setting),
with the libraries it imports from the folder beside it (`<dir>/../python`).

    /usr/bin/python3 bench/stabilize_workload.py --stabilize-dir DIR \
        [--n 2000] [--dedup 10000] [--journal-mode WAL] [--dir PARENT]

Prints `# ...` metadata lines, then one line per phase, checked as the C++ bench
checks its own:

    phase=<name> n=<ops> seconds=<s> ops_per_sec=<x> cpu_us_per_op=<us>

`cpu_us_per_op` is the process's CPU time per operation (stabilize runs on one
thread). Exits 1 when an answer is wrong, 2 when stabilize cannot be imported.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import sqlite3
import sys
import tempfile
import time
from collections.abc import Callable
from typing import Any

BASE_MS = 1_700_000_000_000
STAGES = 10
APPS = 10
ANCESTORS = 500


class WrongAnswer(Exception):
    pass


def expect(ok: bool, what: str) -> None:
    if not ok:
        raise WrongAnswer(what)


def build(api: Any, n: int) -> list[Any]:
    """The workload's N workflows, as bench/workload.md "Build" defines them."""
    workflows = []
    for k in range(n):
        stages = []
        for i in range(STAGES):
            stage = api.StageExecution.create(
                type="bench",
                name=f"Stage {i}",
                ref_id=f"stage-{i}",
                context={"stage_index": i, "timeout_s": 30, "command": f"echo {k}-{i}"},
                requisite_stage_ref_ids=set() if i == 0 else {f"stage-{i - 1}"},
            )
            stage.tasks = [
                api.TaskExecution.create(
                    name=f"task-{i}", implementing_class="bench.NoopTask", stage_start=True, stage_end=True
                )
            ]
            stages.append(stage)
        context = {
            "env": "prod" if k % 2 == 0 else "staging",
            "region": f"region-{k % 4}",
            "owner": f"user-{k % 50}",
            "priority": k % 5,
            "retries": 3,
            "timeout_s": 300,
            "dry_run": False,
            "tags": ["bench", f"batch-{k % 20}"],
            "version": "1.0.0",
            "seq": k,
        }
        workflows.append(
            api.Workflow.create(application=f"app-{k % APPS}", name=f"bench-workflow-{k}", stages=stages, context=context)
        )
    return workflows


def run(api: Any, store: Any, queue: Any, n: int, dedup: int) -> None:
    workflows = build(api, n)
    ancestors = min(ANCESTORS, n)
    running = api.WorkflowStatus.RUNNING
    succeeded = api.WorkflowStatus.SUCCEEDED

    def phase(name: str, ops: int, body: Callable[[], None]) -> None:
        cpu = time.process_time()
        start = time.perf_counter()
        body()
        seconds = time.perf_counter() - start
        cpu = time.process_time() - cpu
        print(
            f"phase={name} n={ops} seconds={seconds:.4f} ops_per_sec={ops / seconds:.1f} "
            f"cpu_us_per_op={1e6 * cpu / ops:.1f}",
            flush=True,
        )

    def store_all() -> None:
        for wf in workflows:
            store.store(wf)

    def retrieve_all() -> None:
        for wf in workflows:
            got = store.retrieve(wf.id)
            expect(
                len(got.stages) == STAGES and all(len(s.tasks) == 1 for s in got.stages),
                f"retrieve {wf.id}: wrong shape",
            )

    def stage_updates() -> None:
        for k, wf in enumerate(workflows):
            for i, stage in enumerate(wf.stages):
                stage.status = running
                stage.start_time = BASE_MS + k * 100 + i
                stage.outputs = {"result": f"ok-{k}-{i}", "last_stage": i, "items": [f"item-{i}"]}
                store.store_stage(stage, expected_phase="NOT_STARTED")

    def transactions() -> None:
        for k, wf in enumerate(workflows):
            stage = wf.stages[0]
            stage.status = succeeded
            stage.end_time = BASE_MS + k * 100 + 1000
            with store.transaction(queue) as txn:
                txn.store_stage(stage, expected_phase="RUNNING")
                txn.push_message(api.StartStage(execution_type="PIPELINE", execution_id=wf.id, stage_id=wf.stages[1].id))
        expect(queue.size() == n, f"txn: queue size {queue.size()}, expected {n}")

    def query() -> None:
        total = 0
        for a in range(APPS):
            for wf in store.retrieve_by_application(f"app-{a}"):
                expect(len(wf.stages) == STAGES, f"query: {wf.id} has {len(wf.stages)} stages")
                total += 1
        expect(total == n, f"query: {total} workflows, expected {n}")

    # The answers are checked after the clock stops, as wfstore's run does.
    ids = [workflows[k].id for k in range(ancestors)]
    last_ref = f"stage-{STAGES - 1}"
    merged_outputs: list[Any] = [None] * ancestors

    def merged() -> None:
        for k in range(ancestors):
            merged_outputs[k] = store.get_merged_ancestor_outputs(ids[k], last_ref)

    def dedup_mark() -> None:
        for j in range(dedup):
            store.mark_message_processed(f"dedup-msg-{j}", handler_type="BenchHandler", execution_id=workflows[j % n].id)

    def dedup_check() -> None:
        for j in range(dedup):
            expect(store.is_message_processed(f"dedup-msg-{j}"), f"dedup-msg-{j} is not processed")

    phase("store", n, store_all)
    phase("retrieve", n, retrieve_all)
    phase("stage_update", STAGES * n, stage_updates)
    phase("txn", n, transactions)
    phase("query", n, query)
    phase("ancestors", ancestors, merged)
    for k in range(ancestors):
        want = {
            "result": f"ok-{k}-{STAGES - 2}",
            "last_stage": STAGES - 2,
            "items": [f"item-{i}" for i in range(STAGES - 1)],
        }
        expect(merged_outputs[k] == want, f"ancestors of workflow {k}: {merged_outputs[k]!r}")
    phase("dedup_mark", dedup, dedup_mark)
    phase("dedup_check", dedup, dedup_check)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stabilize-dir", required=True, help="stabilize's source tree (holding src/stabilize)")
    parser.add_argument("--n", type=int, default=2000, help="workflows (default 2000)")
    parser.add_argument("--dedup", type=int, default=10_000, help="message ids of the dedup phases (default 10000)")
    parser.add_argument("--journal-mode", default="WAL", help="SQLite journal mode (default WAL, stabilize's fastest)")
    parser.add_argument("--dir", default=None, help="parent of the scratch directory (default: the temporary one)")
    args = parser.parse_args()
    if args.n <= 0 or args.dedup <= 0:
        parser.error("--n and --dedup must be positive")

    # stabilize's own setting, read when its first file connection opens.
    os.environ["STABILIZE_SQLITE_JOURNAL_MODE"] = args.journal_mode
    source = os.path.abspath(args.stabilize_dir)
    sys.path[:0] = [os.path.join(source, "src"), os.path.join(os.path.dirname(source), "python")]
    try:
        import stabilize
        from stabilize import SqliteQueue, SqliteWorkflowStore, StageExecution, TaskExecution, Workflow
        from stabilize.models.status import WorkflowStatus
        from stabilize.queue.messages import StartStage
    except ImportError as e:
        print(f"stabilize_workload.py: cannot import stabilize from {source}: {e}", file=sys.stderr)
        return 2
    api = argparse.Namespace(
        StageExecution=StageExecution,
        TaskExecution=TaskExecution,
        Workflow=Workflow,
        WorkflowStatus=WorkflowStatus,
        StartStage=StartStage,
    )

    workdir = tempfile.mkdtemp(prefix="stabilize-workload-", dir=args.dir)
    try:
        url = f"sqlite:///{workdir}/bench.db"
        store = SqliteWorkflowStore(url, create_tables=True)
        queue = SqliteQueue(url)
        queue._create_table()
        journal = store._get_connection().execute("PRAGMA journal_mode").fetchone()[0]
        print(
            f"# stabilize={stabilize.__version__} python={platform.python_version()} "
            f"sqlite={sqlite3.sqlite_version} journal_mode={journal} n={args.n}",
            flush=True,
        )
        try:
            run(api, store, queue, args.n, args.dedup)
        except WrongAnswer as e:
            print(f"stabilize_workload.py: wrong answer: {e}", file=sys.stderr)
            return 1
        finally:
            store.close()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
