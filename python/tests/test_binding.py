"""Tests of the wfstore Python binding itself (ctest python_binding).

Model objects here are plain SimpleNamespace objects with the model's
attribute names: the binding reads any object so shaped (stabilize's included).
Environment: WFSTORE_TOOL (the wfstore CLI, for the crash test's reopen from
C++), WFSTORE_LEAK_CALLS (calls of the leak test, default 100000).
"""

from __future__ import annotations

import copy
import json
import math
import os
import pickle
import pprint
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from types import SimpleNamespace

import pytest

import wfstore

# ---- model factories ----


def task(tid: str = "t1", **kw):
    d = dict(
        id=tid,
        name="run",
        implementing_class="x.Run",
        status="NOT_STARTED",
        start_time=None,
        end_time=None,
        stage_start=True,
        stage_end=True,
        loop_start=False,
        loop_end=False,
        task_exception_details={},
        version=0,
    )
    d.update(kw)
    return SimpleNamespace(**d)


def stage(sid: str = "s1", ref: str = "a", wid: str = "w1", **kw):
    d = dict(
        id=sid,
        execution_id=wid,
        ref_id=ref,
        type="test",
        name=f"stage {ref}",
        status="NOT_STARTED",
        context={"k": [1, 2.5, "x", None, True, {"n": -3}]},
        outputs={},
        tasks=[task(f"{sid}-t1")],
        requisite_stage_ref_ids=set(),
        parent_stage_id=None,
        synthetic_stage_owner=None,
        start_time=None,
        end_time=None,
        start_time_expiry=None,
        scheduled_time=None,
        version=0,
        join_type="AND",
        join_threshold=0,
        split_type="AND",
        split_conditions={},
        mi_config=None,
        deferred_choice_group=None,
        milestone_ref_id=None,
        milestone_status=None,
        mutex_key=None,
        cancel_region=None,
    )
    d.update(kw)
    return SimpleNamespace(**d)


def workflow(wid: str = "w1", stages=None, **kw):
    d = dict(
        id=wid,
        type="PIPELINE",
        application="app",
        name="wf",
        status="NOT_STARTED",
        stages=stages if stages is not None else [stage(wid=wid)],
        context={},
        trigger=SimpleNamespace(type="manual", user="u", parameters={}, artifacts=[], payload={}),
        start_time=None,
        end_time=None,
        start_time_expiry=None,
        is_canceled=False,
        canceled_by=None,
        cancellation_reason=None,
        paused=None,
        pipeline_config_id="cfg",
        is_limit_concurrent=False,
        max_concurrent_executions=0,
        keep_waiting_pipelines=False,
        origin="test",
    )
    d.update(kw)
    return SimpleNamespace(**d)


def diamond(wid: str = "w1"):
    return workflow(
        wid,
        stages=[
            stage(f"{wid}-a", "a", wid, outputs={"x": 1, "l": [1]}),
            stage(f"{wid}-b", "b", wid, requisite_stage_ref_ids={"a"}, outputs={"y": 2, "l": [2]}),
            stage(f"{wid}-c", "c", wid, requisite_stage_ref_ids={"a"}, outputs={"z": 3}),
            stage(f"{wid}-d", "d", wid, requisite_stage_ref_ids={"b", "c"}),
        ],
    )


@pytest.fixture
def db(tmp_path):
    d = wfstore.Database(str(tmp_path / "store"), durability="buffered")
    yield d
    d.close()


def applied(db) -> int:
    return db.stats()["applied_lsn"]


# ---- import ----


def test_import_does_not_import_stabilize():
    code = "import sys, wfstore; print('stabilize' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


# ---- every method ----


def test_workflow_round_trip(db):
    w = diamond()
    w.context = {"big": 2**63, "neg": -(2**63), "f": 1.5, "s": "é", "nested": {"a": [[]]}}
    w.paused = SimpleNamespace(paused_by="p", pause_time=5, resume_time=None, paused_ms=0)
    w.stages[0].mi_config = SimpleNamespace(
        count=2,
        count_from_context="",
        sync_on_complete=True,
        allow_dynamic=False,
        collection_from_context="items",
        join_threshold=1,
        cancel_remaining=True,
    )
    w.stages[1].split_conditions = {"d": "x > 1"}
    w.stages[2].synthetic_stage_owner = "STAGE_AFTER"
    w.stages[2].parent_stage_id = "w1-a"
    db.store(w)
    got = db.retrieve("w1")
    assert got["id"] == "w1" and got["type"] == "PIPELINE" and got["status"] == "NOT_STARTED"
    assert got["context"] == w.context
    assert got["paused"] == {"paused_by": "p", "pause_time": 5, "resume_time": None, "paused_ms": 0}
    assert got["trigger"] == {"type": "manual", "user": "u", "parameters": {}, "artifacts": [], "payload": {}}
    assert [s["ref_id"] for s in got["stages"]] == ["a", "b", "c", "d"]
    assert got["stages"][3]["requisite_stage_ref_ids"] == {"b", "c"}
    assert got["stages"][0]["mi_config"]["collection_from_context"] == "items"
    assert got["stages"][1]["split_conditions"] == {"d": "x > 1"}
    assert got["stages"][2]["synthetic_stage_owner"] == "STAGE_AFTER"
    assert got["stages"][0]["context"] == {"k": [1, 2.5, "x", None, True, {"n": -3}]}
    assert got["stages"][0]["tasks"][0]["id"] == "w1-a-t1"
    summary = db.retrieve_execution_summary("w1")
    assert summary["stages"] == [] and summary["name"] == "wf"
    assert db.exists("w1") and not db.exists("nope")
    assert db.count_by_application("app") == 1


def test_results_are_read_only_models_whose_fields_convert_when_read(tmp_path):
    db = wfstore.Database(str(tmp_path / "store"), durability="buffered")
    db.store(diamond())
    got = db.retrieve("w1")
    assert isinstance(got, wfstore.Model) and isinstance(got, Mapping)
    # The keys of the plain form, in its order, and equal to it both ways.
    plain = got.to_dict()
    assert type(plain) is dict and list(got) == list(plain) == list(got.keys())
    assert len(got) == len(plain) and got == plain and plain == got and not got != plain
    assert dict(got.items()) == plain and list(got.values()) == list(plain.values())
    # Stages and tasks are Models; to_dict() is plain all the way down.
    s0 = got["stages"][0]
    assert isinstance(s0, wfstore.Model) and isinstance(s0["tasks"][0], wfstore.Model)
    assert type(plain["stages"][0]) is dict and type(plain["stages"][0]["tasks"][0]) is dict
    assert s0 == plain["stages"][0] and s0["tasks"][0]["id"] == "w1-a-t1"
    # JSON values are plain objects, made anew at each read.
    s0["context"]["k"].append("changed")
    assert s0["context"] == {"k": [1, 2.5, "x", None, True, {"n": -3}]}
    # A key that is not the interned literal is found too.
    assert got["".join(["sta", "tus"])] == "NOT_STARTED"
    # Read-only, missing keys as a dict's, unhashable, copies are itself.
    with pytest.raises(TypeError):
        got["status"] = "RUNNING"
    with pytest.raises(KeyError):
        got["nope"]
    with pytest.raises(KeyError):
        got[1]
    assert got.get("nope") is None and got.get("nope", 5) == 5 and got.get("id") == "w1"
    assert "status" in got and "nope" not in got and 1 not in got
    with pytest.raises(TypeError):
        hash(got)
    assert copy.copy(got) is got and copy.deepcopy(got) is got
    assert got != {"id": "w1"} and got != 5 and got != s0
    assert repr(got).startswith("Workflow({'id': 'w1', ")
    # A dict's behaviours: views, reversed, the key in a KeyError, pprint.
    assert got.keys() & {"id", "x"} == {"id"} and got.items() == plain.items()
    assert list(got.values())[0] == "w1" and list(reversed(got)) == list(reversed(plain))
    with pytest.raises(KeyError) as missing:
        got["nope"]
    assert missing.value.args == ("nope",)
    assert pprint.pformat({"w": got}).startswith("{'w': Workflow({'id': 'w1',")
    # Pickled as its plain form; to_dict() is JSON but for the requisite sets.
    assert pickle.loads(pickle.dumps(got)) == plain and type(pickle.loads(pickle.dumps(s0))) is dict
    assert json.loads(json.dumps(plain, default=sorted))["stages"][3]["requisite_stage_ref_ids"] == ["b", "c"]
    # The nested Models are made once: each read is a new list of the same ones.
    assert got["stages"] is not got["stages"] and got["stages"][2] is got["stages"][2]
    got["stages"].clear()
    assert len(got["stages"]) == 4
    # Not a model argument (no attributes, as a dict): refused, nothing appended.
    before = applied(db)
    with pytest.raises(wfstore.InvalidArgumentError, match="missing attribute"):
        db.store_stage(s0)
    assert applied(db) == before
    # Every call that returns models returns Models, which keep their result
    # alive, not the store.
    execution, stages = db.get_upstream_stages("w1", "d")
    summary = db.retrieve_execution_summary("w1")
    in_execution, index = db.retrieve_stage("w1-b")
    db.close()
    del execution
    assert [s["ref_id"] for s in stages] == ["b", "c"] and stages[0]["tasks"][0]["id"] == "w1-b-t1"
    assert summary["stages"] == [] and isinstance(summary, wfstore.Model)
    assert in_execution["stages"][index]["requisite_stage_ref_ids"] == {"a"}
    assert got["stages"][3]["requisite_stage_ref_ids"] == {"b", "c"}


def test_store_stage_bumps_versions_and_checks_them(db):
    db.store(workflow())
    s = stage()
    s.status = "RUNNING"
    db.store_stage(s)
    assert s.version == 1 and s.tasks[0].version == 1
    stale = stage()
    with pytest.raises(wfstore.ConcurrencyError):
        db.store_stage(stale)
    assert stale.version == 0
    with pytest.raises(wfstore.ConcurrencyError):
        db.store_stage(s, "NOT_STARTED")
    db.store_stage(s, "RUNNING")
    assert s.version == 2
    # A new stage (insert), then its removal.
    db.store_stage(stage("s2", "b"))
    assert len(db.retrieve("w1")["stages"]) == 2
    db.remove_stage("w1", "s2")
    assert len(db.retrieve("w1")["stages"]) == 1


def test_stage_queries(db):
    db.store(diamond())
    execution, index = db.retrieve_stage("w1-d")
    assert execution["stages"][index]["ref_id"] == "d"
    ex, up = db.get_upstream_stages("w1", "d")
    assert sorted(s["ref_id"] for s in up) == ["b", "c"]
    ex, down = db.get_downstream_stages("w1", "a")
    assert sorted(s["ref_id"] for s in down) == ["b", "c"]
    ex, syn = db.get_synthetic_stages("w1", "w1-a")
    assert syn == []
    merged = db.get_merged_ancestor_outputs("w1", "d")
    assert merged["x"] == 1 and merged["y"] == 2 and merged["z"] == 3 and merged["l"] == [1, 2]


def test_status_pause_resume_cancel_delete(db):
    db.store(workflow())
    w = workflow(status="RUNNING", start_time=10)
    db.update_status(w)
    assert db.retrieve("w1")["status"] == "RUNNING"
    db.pause("w1", "me")
    assert db.retrieve("w1")["status"] == "PAUSED"
    db.resume("w1")
    assert db.retrieve("w1")["status"] == "RUNNING"
    db.cancel("w1", "me", "why")
    got = db.retrieve("w1")
    assert got["is_canceled"] and got["canceled_by"] == "me" and got["cancellation_reason"] == "why"
    db.delete_workflow("w1")
    assert not db.exists("w1")


def test_listing_queries(db):
    for i in range(5):
        db.store(workflow(f"w{i}", stages=[], start_time=100 + i, status="RUNNING" if i % 2 else "SUCCEEDED"))
    crit = SimpleNamespace(page_size=2, statuses=None, start_time_before=None, start_time_after=None)
    assert db.query_by_application("app", crit) == ["w4", "w3"]
    assert len(db.query_by_pipeline_config_id("cfg")) == 5
    crit = SimpleNamespace(page_size=0, statuses={"RUNNING"}, start_time_before=None, start_time_after=None)
    assert sorted(db.query_pending_workflows(crit)) == ["w1", "w3"]


def test_dedup_and_claims(db):
    assert not db.is_message_processed("m1")
    db.mark_message_processed("m1", "H", "w1")
    assert db.is_message_processed("m1")
    assert db.get_processed_message_ids() == ["m1"]
    assert db.cleanup_old_processed_messages(3_600_000) == 0
    assert db.cleanup_completed_stage_claims() == 0
    assert db.is_healthy()


def test_transaction_is_one_record_and_rolls_back(db):
    db.store(workflow())
    db.attach_queue()
    before = applied(db)
    s = stage()
    s.status = "RUNNING"
    with db.transaction() as txn:
        txn.store_stage(s)
        txn.update_workflow_status(workflow(status="RUNNING"))
        txn.mark_message_processed("m1")
        assert txn.acquire_claim("w1", "mutex:k", "s1")
        txn.push_message("StartStage", {"execution_id": "w1", "stage_id": "s1"})
        assert txn.is_atomic
    assert s.version == 1
    events = db.history().events(from_lsn=before)
    assert len({e["commit_id"] for e in events}) == 1, events
    assert db.queue_size() == 1
    # A failed commit restores versions and appends nothing.
    txn = db.transaction()
    txn.store_stage(s)
    assert s.version == 2
    rival = stage(status="RUNNING", version=1)
    rival.tasks[0].version = 1
    db.store_stage(rival)
    after_rival = applied(db)
    with pytest.raises(wfstore.ConcurrencyError):
        txn.commit()
    assert s.version == 1 and applied(db) == after_rival
    # Rollback on an exception inside the block.
    fresh = stage(status="SUCCEEDED", version=2)
    fresh.tasks[0].version = 2
    with pytest.raises(RuntimeError):
        with db.transaction() as txn:
            txn.store_stage(fresh)
            raise RuntimeError("boom")
    assert fresh.version == 2 and applied(db) == after_rival


def test_queue(db):
    db.attach_queue()
    fields = {"execution_id": "w1", "stage_id": "s1", "task_id": "t1", "status": "SUCCEEDED"}
    did = db.queue_push("CompleteTask", fields)
    assert db.queue_size() == 1 and db.queue_has_pending_message_for_task("t1")
    delivery_id, attempts, type_name, got = db.queue_poll_one()
    assert (delivery_id, attempts, type_name) == (did, 1, "CompleteTask")
    assert got["status"] == "SUCCEEDED" and got["task_id"] == "t1"
    assert db.queue_poll_one() is None
    assert db.queue_extend_lock(did, 1000)
    db.queue_reschedule(did, 0)
    assert db.queue_poll_one()[1] == 2
    db.queue_ack(did)
    assert db.queue_size() == 0
    did = db.queue_push("StartWorkflow", {"execution_id": "w2"})
    db.queue_move_to_dlq(did, "bad")
    assert db.queue_dlq_size() == 1
    dl = db.queue_list_dlq()[0]
    assert dl["message_type"] == "StartWorkflow" and dl["error"] == "bad"
    assert db.queue_replay_dlq(did)
    assert db.queue_size() == 1 and db.queue_check_and_move_expired() == 0
    db.queue_clear()
    assert db.queue_size() == 0 and db.queue_clear_dlq() == 0


def test_commit_listener_audit_and_history(db, tmp_path):
    seen = []
    lid = db.add_commit_listener(lambda first, last, queue_changed: seen.append((first, last)))
    with wfstore.AuditScope(actor="alice", correlation_id="c1"):
        db.store(workflow())
    db.remove_commit_listener(lid)
    db.pause("w1", "bob")
    assert len(seen) == 1
    h = db.history()
    assert h.current_lsn() == applied(db)
    stored = h.events(actor="alice")
    assert [e["type"] for e in stored] == ["WorkflowStored"]
    assert h.count(workflow_id="w1") == 2
    first = stored[0]["lsn"]
    assert h.event_at(first)["type"] == "WorkflowStored"
    assert h.commit_end(first) == first
    assert h.workflow_as_of("w1", first)["status"] == "NOT_STARTED"
    diff = h.diff("w1", first, h.current_lsn())
    assert any(c["field"] == "status" for c in diff["changes"])
    assert len(h.entity_history("workflow", "w1")) == 2
    fork = h.fork(first, str(tmp_path / "fork"))
    assert fork["last_lsn"] == first
    bundle = h.export_workflow("w1", str(tmp_path / "w1.bundle"))
    assert bundle["events"] == 2
    assert h.lsn_at_time(0) == 0
    lsns = []
    wfstore.for_each_event(db_path(db, tmp_path), 0, lambda e: lsns.append(e["lsn"]))
    assert lsns == list(range(1, h.current_lsn() + 1))


def lone(wid: str):
    return workflow(wid, stages=[stage(f"{wid}-s", "a", wid)])


def actors_by_workflow(db) -> dict[str, str]:
    return {e["workflow_id"]: e["audit"]["actor"] for e in db.history().events(types=["WorkflowStored"])}


def test_audit_scope_belongs_to_its_thread(db):
    # Two threads, each in its own scope, commit interleaved: every commit
    # carries its own thread's actor; a thread started inside a scope does
    # not inherit it.
    barrier = threading.Barrier(2)

    def run(name: str) -> None:
        with wfstore.AuditScope(actor=name):
            barrier.wait()
            for i in range(30):
                db.store(lone(f"{name}-{i}"))

    threads = [threading.Thread(target=run, args=(n,)) for n in ("alice", "bob")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    with wfstore.AuditScope(actor="carol"):
        inner = threading.Thread(target=lambda: db.store(lone("plain")))
        inner.start()
        inner.join()
        db.store(lone("carol-0"))
    db.store(lone("after"))
    actors = actors_by_workflow(db)
    assert len(actors) == 63
    for wid, actor in actors.items():
        expected = {"plain": "", "after": ""}.get(wid, wid.split("-")[0])
        assert actor == expected, wid


def test_audit_scope_belongs_to_its_asyncio_task(db):
    import asyncio

    async def run(name: str) -> None:
        with wfstore.AuditScope(actor=name):
            for i in range(10):
                db.store(lone(f"{name}-{i}"))
                await asyncio.sleep(0)  # the other task runs inside its own scope

    async def main() -> None:
        await asyncio.gather(run("alice"), run("bob"), run("dave"))

    asyncio.run(main())
    actors = actors_by_workflow(db)
    assert len(actors) == 30
    assert all(actor == wid.split("-")[0] for wid, actor in actors.items())


def test_audit_scope_nesting_and_misuse(db):
    outer = wfstore.AuditScope(actor="outer")
    with outer:
        with wfstore.AuditScope(actor="inner", source="s"):
            db.store(lone("inner-0"))
        with outer:  # re-entered: still outer, and its exit restores outer
            db.store(lone("outer-0"))
        db.store(lone("outer-1"))
        # Exited on another thread than it was entered on: an error there,
        # and the scope stays current here.
        errors = []

        def exit_elsewhere() -> None:
            try:
                outer.__exit__(None, None, None)
            except Exception as e:  # noqa: BLE001
                errors.append(e)

        t = threading.Thread(target=exit_elsewhere)
        t.start()
        t.join()
        assert len(errors) == 1 and isinstance(errors[0], ValueError), errors
        db.store(lone("outer-2"))
    db.store(lone("none-0"))
    with pytest.raises(wfstore.InvalidArgumentError):
        outer.__exit__(None, None, None)
    with pytest.raises(wfstore.InvalidArgumentError, match="audit.actor"):
        wfstore.AuditScope(actor="x" * 2000)
    actors = actors_by_workflow(db)
    assert actors == {"inner-0": "inner", "outer-0": "outer", "outer-1": "outer", "outer-2": "outer", "none-0": ""}


def test_audit_scope_exits_out_of_order(db):
    # Scopes exited in another order than entered: each exit ends that scope
    # only, whichever scopes were entered after it.
    a = wfstore.AuditScope(actor="a")
    b = wfstore.AuditScope(actor="b")
    a.__enter__()
    b.__enter__()
    a.__exit__(None, None, None)
    db.store(lone("b-0"))  # b is still entered
    b.__exit__(None, None, None)
    db.store(lone("none-0"))

    # A generator runs in its caller's context: its scope is current there
    # while it is suspended inside it, and ends when it leaves the scope,
    # even inside a scope the caller entered meanwhile.
    def steps():
        with wfstore.AuditScope(actor="g"):
            yield
            yield

    g = steps()
    next(g)
    db.store(lone("g-0"))
    with wfstore.AuditScope(actor="c"):
        db.store(lone("c-0"))
        next(g, None)
        db.store(lone("c-1"))
        next(g, None)  # the generator leaves its scope
        db.store(lone("c-2"))
    db.store(lone("none-1"))
    assert actors_by_workflow(db) == {
        "b-0": "b",
        "none-0": "",
        "g-0": "g",
        "c-0": "c",
        "c-1": "c",
        "c-2": "c",
        "none-1": "",
    }


def test_audit_scope_of_a_call_made_from_a_callback(db, tmp_path):
    # A call made from Python code that the store calls back (for_each_event's
    # visit) carries the scope of the context that code runs in, not the one
    # of the call that runs it.
    import contextvars

    source = wfstore.Database(str(tmp_path / "source"))
    source.store(lone("source-0"))
    source.close()

    def visit(event) -> bool:
        db.store(lone("same-context"))
        contextvars.Context().run(db.store, lone("empty-context"))
        with wfstore.AuditScope(actor="inner"):
            db.store(lone("inner-0"))
        return False

    with wfstore.AuditScope(actor="outer"):
        wfstore.for_each_event(str(tmp_path / "source"), 0, visit)
    assert actors_by_workflow(db) == {"same-context": "outer", "empty-context": "", "inner-0": "inner"}


def test_audit_scope_left_entered_is_freed():
    # An async generator suspended inside its scope and dropped is closed by
    # asyncio in another task (made in a copy of the dropping task's context,
    # where the scope is entered: its exit ends it there), and the scope and
    # the task's context are freed.
    import asyncio
    import gc
    import weakref

    scopes = []
    errors = []

    async def steps():
        scope = wfstore.AuditScope(actor="g")
        scopes.append(weakref.ref(scope))
        with scope:
            yield
            yield

    async def first_step() -> None:
        async for _ in steps():
            break

    async def main() -> None:
        asyncio.get_running_loop().set_exception_handler(lambda loop, context: errors.append(context.get("exception")))
        await asyncio.create_task(first_step())
        for _ in range(3):
            await asyncio.sleep(0)

    asyncio.run(main())
    gc.collect()
    assert errors == []
    assert len(scopes) == 1 and scopes[0]() is None


def test_audit_scope_of_a_transaction_is_the_one_at_commit(db):
    # A transaction's commit carries the scope current where commit() runs,
    # not the one where the transaction was opened or its operations made.
    with wfstore.AuditScope(actor="opened"):
        t = db.transaction()
        t.mark_message_processed("m-1")
    with wfstore.AuditScope(actor="committed"):
        t.commit()
    h = db.history()
    assert [e["audit"]["actor"] for e in h.events(from_lsn=h.current_lsn() - 1)] == ["committed"]


def db_path(db, tmp_path) -> str:
    return str(tmp_path / "store")


# ---- every exception class ----


def test_exception_hierarchy():
    assert issubclass(wfstore.WorkflowNotFoundError, wfstore.NotFoundError)
    assert issubclass(wfstore.NotFoundError, wfstore.Error) and issubclass(wfstore.NotFoundError, LookupError)
    assert issubclass(wfstore.StageNotFoundError, ValueError)
    assert issubclass(wfstore.InvalidArgumentError, ValueError)
    for cls in (
        wfstore.ConcurrencyError,
        wfstore.DuplicateError,
        wfstore.CorruptionError,
        wfstore.IOError,
        wfstore.StoreLockedError,
        wfstore.SubscriberFailedError,
        wfstore.SubscriptionNotFoundError,
        wfstore.KafkaTopicNotFoundError,
    ):
        assert issubclass(cls, wfstore.Error)


def test_each_error_is_raised_with_its_code(tmp_path):
    db = wfstore.Database(str(tmp_path / "s"))
    with pytest.raises(wfstore.WorkflowNotFoundError) as e:
        db.retrieve("missing")
    assert e.value.code == 1 and e.value.workflow_id == "missing"
    with pytest.raises(wfstore.StageNotFoundError) as e:
        db.retrieve_stage("missing")
    assert e.value.code == 2 and "Stage missing not found" in str(e.value)
    db.store(workflow())
    with pytest.raises(wfstore.ConcurrencyError) as e:
        db.store_stage(stage(version=7))
    assert e.value.code == 3
    with pytest.raises(wfstore.DuplicateError) as e:
        db.store(workflow())
    assert e.value.code == 4
    with pytest.raises(wfstore.InvalidArgumentError) as e:
        db.store(workflow("", stages=[]))
    assert e.value.code == 5
    with pytest.raises(wfstore.StoreLockedError) as e:
        wfstore.Database(str(tmp_path / "s"))
    assert e.value.code == 8
    db.close()
    with pytest.raises(wfstore.IOError) as e:
        db.retrieve("w1")
    assert e.value.code == 7
    # A damaged log: CorruptionError on open, nothing changed.
    db = wfstore.Database(str(tmp_path / "c"))
    for i in range(10):
        db.store(workflow(f"c{i}", stages=[]))
    db.close()
    segment = next((tmp_path / "c" / "log").iterdir())
    data = bytearray(segment.read_bytes())
    data[len(data) // 3] ^= 0xFF
    segment.write_bytes(bytes(data))
    with pytest.raises(wfstore.CorruptionError) as e:
        wfstore.Database(str(tmp_path / "c"))
    assert e.value.code == 6 and "acknowledged commits were lost" in str(e.value)
    assert segment.read_bytes() == bytes(data)


# ---- bad input: a Python exception naming the field, nothing appended ----


BAD_INPUTS = [
    ("status", lambda w: setattr(w.stages[0].tasks[0], "status", 5), "workflow.stages[0].tasks[0].status"),
    ("enum", lambda w: setattr(w.stages[0], "status", "EXPLODED"), "workflow.stages[0].status"),
    ("missing", lambda w: delattr(w.stages[0], "outputs"), "workflow.stages[0].outputs"),
    ("surrogate", lambda w: setattr(w, "name", "bad \udc80"), "workflow.name"),
    ("surrogate key", lambda w: setattr(w, "context", {"\ud800": 1}), "workflow.context"),
    ("int64", lambda w: setattr(w, "start_time", 2**63), "workflow.start_time"),
    ("uint64", lambda w: setattr(w, "context", {"n": 2**64}), "workflow.context.n"),
    ("nan", lambda w: setattr(w.stages[0], "context", {"a": [1, math.nan]}), "workflow.stages[0].context.a[1]"),
    ("inf", lambda w: setattr(w.stages[0], "outputs", {"x": math.inf}), "workflow.stages[0].outputs.x"),
    ("type", lambda w: setattr(w, "context", {"o": object()}), "workflow.context.o"),
    ("list", lambda w: setattr(w.stages[0], "tasks", 3), "workflow.stages[0].tasks"),
    ("bool", lambda w: setattr(w, "is_canceled", "yes"), "workflow.is_canceled"),
    ("trigger", lambda w: setattr(w, "trigger", None), "workflow.trigger.type"),
]


@pytest.mark.parametrize("name,mutate,field", BAD_INPUTS, ids=[b[0] for b in BAD_INPUTS])
def test_bad_input_names_the_field_and_appends_nothing(db, name, mutate, field):
    w = workflow()
    mutate(w)
    before = applied(db)
    with pytest.raises(wfstore.InvalidArgumentError) as e:
        db.store(w)
    assert field in str(e.value), str(e.value)
    assert applied(db) == before
    assert not db.exists("w1")


def test_bad_message_and_stage_input(db):
    db.attach_queue()
    before = applied(db)
    with pytest.raises(wfstore.InvalidArgumentError, match="CompleteTask"):
        db.queue_push("CompleteTask", {"execution_id": "w", "status": "NOT_A_STATUS"})
    with pytest.raises(wfstore.InvalidArgumentError, match="NoSuchMessage"):
        db.queue_push("NoSuchMessage", {})
    with pytest.raises(wfstore.InvalidArgumentError, match="StartStage"):
        db.queue_push("StartStage", {"execution_id": "w", "retry_count": 2**70})
    with pytest.raises(wfstore.InvalidArgumentError, match=r"stage\.version"):
        db.store_stage(stage(version=2**64))
    with pytest.raises(wfstore.InvalidArgumentError, match="expected_phase|phase"):
        db.store_stage(stage(), "NOPE")
    assert applied(db) == before and db.queue_size() == 0


SURROGATE = "bad \udc80"


def test_a_str_argument_with_a_surrogate_is_invalid_argument(db):
    db.store(workflow())
    db.attach_queue()
    before = applied(db)
    calls = [
        lambda: db.retrieve(SURROGATE),
        lambda: db.exists(SURROGATE),
        lambda: db.cancel("w1", SURROGATE, "reason"),
        lambda: db.mark_message_processed(SURROGATE),
        lambda: db.mark_message_processed("m", SURROGATE, "w1"),
        lambda: db.queue_push(SURROGATE, {}),
        lambda: db.store_stage(stage(), "NOT_STARTED", execution_id=SURROGATE),
    ]
    for call in calls:
        with pytest.raises(wfstore.InvalidArgumentError, match="surrogate"):
            call()
    with db.transaction() as txn:
        with pytest.raises(wfstore.InvalidArgumentError, match="surrogate"):
            txn.mark_message_processed(SURROGATE)
    assert applied(db) == before and db.queue_size() == 0
    # Another type is still the TypeError of mismatched arguments.
    with pytest.raises(TypeError):
        db.retrieve(7)
    # A long argument is quoted in part.
    with pytest.raises(wfstore.InvalidArgumentError) as e:
        db.exists("\ud800" * 100_000)
    assert len(str(e.value)) < 2000 and "(100000 characters)" in str(e.value)
    # bytes and bytearray are taken as they are, as for any str argument.
    assert not db.exists(b"w-none") and not db.exists(bytearray(b"w-none"))
    assert db.exists(bytearray(b"w1"))


def test_paths_take_path_objects_and_undecodable_bytes(tmp_path):
    # A directory name that is not UTF-8 arrives as a surrogate-escaped str
    # (os.fsdecode) and is encoded back to the same bytes.
    raw = os.fsdecode(b"st\xff")
    d = wfstore.Database(tmp_path / raw, durability="buffered")
    d.store(workflow())
    d.close()
    assert os.path.isdir(os.path.join(os.fsencode(tmp_path), b"st\xff"))


def test_too_deep_a_value_names_a_shortened_path(db):
    deep: list = []
    for _ in range(2000):
        deep = [deep]
    w = workflow()
    w.context = {"deep": deep}
    before = applied(db)
    with pytest.raises(wfstore.InvalidArgumentError) as e:
        db.store(w)
    message = str(e.value)
    assert "nested too deeply" in message
    assert message.startswith("workflow.context.deep[0][0]"), message
    assert "more levels ...]" in message and len(message) < 300, message
    assert applied(db) == before


def test_default_stores_values_outside_json_as_str(db):
    w = workflow()
    w.context = {"when": Path("/x"), "set": {1}}
    db.store(w, default=str)
    assert db.retrieve("w1")["context"] == {"when": "/x", "set": "{1}"}


# ---- the GIL is released ----


def test_blocking_poll_releases_the_gil(db):
    db.attach_queue()
    got = []
    t = threading.Thread(target=lambda: got.append(db.queue_poll_one(10_000)))
    t.start()
    time.sleep(0.1)
    start = time.monotonic()
    for i in range(50):
        db.store(workflow(f"g{i}", stages=[]))
    assert time.monotonic() - start < 5  # the poller did not hold the GIL
    assert t.is_alive() and not got
    db.queue_push("StartWorkflow", {"execution_id": "g1"})
    t.join(5)
    assert got and got[0][2] == "StartWorkflow"


def test_two_threads_commit_in_parallel(tmp_path):
    # Synchronous commits: a thread waits in fdatasync with the GIL released,
    # so the other's commits join its group (fewer groups than commits).
    db = wfstore.Database(str(tmp_path / "s"), durability="sync")
    n = 60
    progress = [0, 0]

    def run(k):
        for i in range(n):
            db.store(workflow(f"p{k}-{i}", stages=[]))
            progress[k] += 1

    threads = [threading.Thread(target=run, args=(k,)) for k in (0, 1)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    stats = db.stats()
    db.close()
    assert progress == [n, n]
    assert stats["commits"] == 2 * n
    assert stats["groups"] < stats["commits"], stats


# ---- crash: SIGKILL mid-run, nothing acknowledged lost ----

CRASH_CHILD = """
import sys, wfstore
sys.path.insert(0, {here!r})
from test_binding import workflow, stage
db = wfstore.Database({path!r}, durability="sync")
db.attach_queue()
i = 0
while True:
    w = workflow(f"c{{i}}")
    db.store(w)
    s = stage(wid=w.id, status="RUNNING")
    with db.transaction() as txn:
        txn.store_stage(s)
        txn.push_message("StartStage", {{"execution_id": w.id, "stage_id": s.id}})
    print(i, flush=True)
    i += 1
"""


def test_sigkill_loses_nothing_acknowledged(tmp_path):
    path = str(tmp_path / "crash")
    code = CRASH_CHILD.format(here=str(Path(__file__).parent), path=path)
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    acked = -1
    for line in proc.stdout:
        acked = int(line)
        if acked >= 40:
            break
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    # Reopened from C++: the log verifies and the views equal a rebuild.
    tool = os.environ.get("WFSTORE_TOOL")
    if tool:
        out = subprocess.run([tool, "verify", "--dir", path], capture_output=True, text=True)
        assert out.returncode == 0, out.stdout + out.stderr
        shown = subprocess.run([tool, "show", f"c{acked}", "--dir", path], capture_output=True, text=True)
        assert shown.returncode == 0 and "RUNNING" in shown.stdout, shown.stdout + shown.stderr
    # Reopened from Python: every acknowledged workflow with its stage update
    # and its message.
    db = wfstore.Database(path)
    for i in range(acked + 1):
        w = db.retrieve(f"c{i}")
        assert w["stages"][0]["status"] == "RUNNING" and w["stages"][0]["version"] == 1
    assert db.queue_size() >= acked + 1
    db.close()


# ---- reference counting: no leak over many calls ----


def rss_kib() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") // 1024


def test_no_leak_over_many_calls(db):
    calls = int(os.environ.get("WFSTORE_LEAK_CALLS", "100000"))
    db.store(diamond())
    db.attach_queue()
    s = stage("w1-a", "a", outputs={"x": 1, "l": [1]})
    bad = workflow("bad", name="\udc80")

    def round_(n):
        for i in range(n):
            k = i % 5
            if k == 0:
                # Every field, nested Models and their plain form.
                got = db.retrieve("w1")
                for st in got["stages"]:
                    st["tasks"][0]["status"], st["context"], st.get("outputs")
                got.to_dict()
            elif k == 1:
                execution, stages = db.get_upstream_stages("w1", "d")
                execution == stages[0], repr(stages[1])
            elif k == 2:
                db.store_stage(s)
            elif k == 3:
                try:
                    db.store(bad)
                except wfstore.InvalidArgumentError:
                    pass
            else:
                try:
                    db.retrieve("missing")
                except wfstore.WorkflowNotFoundError:
                    pass

    round_(calls // 10)  # warm up: allocator pools, LMDB pages
    before = rss_kib()
    round_(calls)
    growth = rss_kib() - before
    # A leaked workflow per call would be ~100 MB here; the views' growth from
    # the stage updates is far below the bound.
    assert growth < 16 * 1024, f"RSS grew by {growth} KiB over {calls} calls"


# ---- misuse from Python: an exception, never a crash or a hang ----


def test_default_callback_emptying_the_containers_being_converted(db):
    # default=str runs Python code mid-conversion; that code may empty the
    # list or dict being converted (freeing what the conversion is reading).
    victims = []

    class Evil:
        def __str__(self):
            for v in victims:
                v.clear()
            return "evil"

    lst = [Evil(), [[2] * 100 for _ in range(100)], "abc" * 100]
    dct = {"e": Evil(), "big": [[3] * 100 for _ in range(100)], "s": "x" * 300}
    victims += [lst, dct]
    before = applied(db)
    try:
        db.store(workflow(context={"l": lst, "d": dct}), default=str)
    except wfstore.InvalidArgumentError as e:
        assert "workflow.context" in str(e)
        assert applied(db) == before
    else:
        assert db.retrieve("w1")["context"]["l"][0] == "evil"


def test_transaction_used_from_two_threads(db):
    # Its calls release the GIL; a second thread's call while one runs is
    # refused rather than run concurrently (or on a transaction being ended).
    txn = db.transaction()
    done = []
    errors = []

    def mark(k):
        for i in range(3000):
            try:
                txn.mark_message_processed(f"m{k}-{i}")
                done.append(1)
            except wfstore.InvalidArgumentError as e:
                errors.append(str(e))

    threads = [threading.Thread(target=mark, args=(k,)) for k in (0, 1)]
    for t in threads:
        t.start()
    time.sleep(0.005)
    while True:
        try:
            txn.commit()
            break
        except wfstore.InvalidArgumentError as e:
            assert "in use" in str(e)
    for t in threads:
        t.join()
    assert all("in use" in e or "ended" in e for e in errors), errors[:3]
    # What was acknowledged before the commit is committed, nothing else.
    assert len(db.get_processed_message_ids()) <= len(done)


LISTENER_CHILD = """
import sys, wfstore
sys.path.insert(0, {here!r})
from test_binding import workflow
db = wfstore.Database({path!r}, durability="buffered")
ids = []
def listener(first, last, queue_changed):
    try:
        db.remove_commit_listener(ids[0])
        print("removed", flush=True)
    except wfstore.Error as e:
        print(type(e).__name__, flush=True)
ids.append(db.add_commit_listener(listener))
db.store(workflow(stages=[]))
db.remove_commit_listener(ids[0])
db.store(workflow("w2", stages=[]))
db.close()
print("closed", flush=True)
"""


def test_remove_commit_listener_from_a_listener_raises(tmp_path):
    # The C++ call would wait for the listener calling it: a hang.
    code = LISTENER_CHILD.format(here=str(Path(__file__).parent), path=str(tmp_path / "s"))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=20)
    assert out.stdout.split() == ["IOError", "closed"], out.stdout + out.stderr


@pytest.mark.parametrize(
    "field,value",
    [("from_lsn", -1), ("to_lsn", 2**64), ("limit", "10"), ("offset", -3), ("from_time_ms", 2**63), ("entity", 5), ("descending", "yes")],
)
def test_bad_history_query_names_the_field(db, field, value):
    db.store(workflow(stages=[]))
    with pytest.raises(wfstore.InvalidArgumentError, match=field):
        db.history().events(**{field: value})


def test_error_quoting_bytes_that_are_not_utf8_keeps_its_class(db):
    # str parameters also take bytes; an error quoting them is still raised
    # as its own class (the bytes surrogate-escaped, as the binding's strs).
    with pytest.raises(wfstore.WorkflowNotFoundError) as e:
        db.retrieve(b"w\xff")
    assert e.value.workflow_id == "w\udcff"
