"""A stabilize workflow run by stabilize's own engine on a wfstore store.

    fetch --> build  --\
          \-> lint   ---> deploy        (lint fails: the workflow ends TERMINAL)

Run:  PYTHONPATH=<build>/python:<stabilize>/src:<stabilize deps> \
      /usr/bin/python3 python/examples/diamond.py [STORE_DIR]
then: <build>/tools/wfstore history <workflow id> --dir STORE_DIR
(the script prints both, and the history when WFSTORE_TOOL names the tool).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile

from stabilize import (
    Orchestrator,
    QueueProcessor,
    StageExecution,
    Task,
    TaskExecution,
    TaskRegistry,
    TaskResult,
    Workflow,
)

from wfstore.stabilize import WfstoreQueue, WfstoreWorkflowStore


class Fetch(Task):
    def execute(self, stage: StageExecution) -> TaskResult:
        return TaskResult.success(outputs={"revision": "4f2a9c1", "files": ["app.py"]})


class Build(Task):
    def execute(self, stage: StageExecution) -> TaskResult:
        return TaskResult.success(outputs={"artifact": f"app-{stage.context.get('revision', '?')}.tar"})


class Lint(Task):
    def execute(self, stage: StageExecution) -> TaskResult:
        return TaskResult.terminal("lint: 3 errors in app.py")


class Deploy(Task):
    def execute(self, stage: StageExecution) -> TaskResult:
        return TaskResult.success(outputs={"deployed": True})


def stage(ref: str, name: str, task: str, requisites: set[str]) -> StageExecution:
    return StageExecution(
        ref_id=ref,
        type=task,
        name=name,
        requisite_stage_ref_ids=requisites,
        tasks=[TaskExecution.create(name, task, stage_start=True, stage_end=True)],
    )


def main() -> int:
    directory = sys.argv[1] if len(sys.argv) > 1 else tempfile.mkdtemp(prefix="wfstore-example-")
    store = WfstoreWorkflowStore(directory)
    queue = WfstoreQueue(store)
    registry = TaskRegistry()
    for name, cls in (("fetch", Fetch), ("build", Build), ("lint", Lint), ("deploy", Deploy)):
        registry.register(name, cls)
    processor = QueueProcessor(queue, store=store, task_registry=registry)
    orchestrator = Orchestrator(queue)

    workflow = Workflow.create(
        application="example",
        name="build and deploy",
        stages=[
            stage("fetch", "Fetch", "fetch", set()),
            stage("build", "Build", "build", {"fetch"}),
            stage("lint", "Lint", "lint", {"fetch"}),
            stage("deploy", "Deploy", "deploy", {"build", "lint"}),
        ],
    )
    store.store(workflow)
    orchestrator.start(workflow)
    processor.process_all(timeout=30)

    result = store.retrieve(workflow.id)
    print(f"store {directory}, workflow {workflow.id}: {result.status.name}")
    for s in result.stages:
        print(f"  {s.ref_id:<7} {s.status.name:<12} outputs={s.outputs}")
    store.close()

    tool = os.environ.get("WFSTORE_TOOL")
    if tool:
        print(f"\n$ wfstore history {workflow.id} --dir {directory}", flush=True)
        subprocess.run([tool, "history", workflow.id, "--dir", directory], check=True)
    else:
        print(f"\nthen: wfstore history {workflow.id} --dir {directory}")
    return 0 if result.status.name == "TERMINAL" else 1


if __name__ == "__main__":
    sys.exit(main())
