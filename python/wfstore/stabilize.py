"""stabilize's persistence on wfstore: a drop-in WorkflowStore and Queue.

    store = WfstoreWorkflowStore("/var/lib/app/wf")   # creates a missing store
    queue = WfstoreQueue(store)                        # the store's own queue
    processor = QueueProcessor(queue, store=store, task_registry=registry)
    Orchestrator(queue).start(workflow)

``WfstoreWorkflowStore`` implements every method of stabilize's WorkflowStore
(0.20.0) and ``WfstoreQueue`` every method of its Queue (with the SQLite
queue's dead-letter methods). Both share one wfstore Database, so
``store.transaction(queue)`` commits its stage writes, status update, dedup
marks, claims and pushes as one atomic log record.

Objects are converted field by field, as stabilize's SQLite backend stores
them: enums by name, times as epoch milliseconds, and values of a context,
outputs or exception details that are not JSON stored as ``str(value)``
(its ``json.dumps(..., default=str)``). Errors are stabilize's own where its
callers catch them: ConcurrencyError, WorkflowNotFoundError, ValueError for a
missing stage. This is the only module of the package that imports stabilize.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from enum import Enum
from typing import Any

from stabilize.errors import ConcurrencyError as _StabilizeConcurrencyError
from stabilize.models.multi_instance import MultiInstanceConfig
from stabilize.models.stage import JoinType, SplitType, StageExecution, SyntheticStageOwner
from stabilize.models.status import WorkflowStatus
from stabilize.models.task import TaskExecution
from stabilize.models.workflow import PausedDetails, Trigger, Workflow, WorkflowType
from stabilize.persistence.store import StoreTransaction, WorkflowCriteria, WorkflowStore
from stabilize.persistence.store import WorkflowNotFoundError as _StabilizeNotFound
from stabilize.queue.interface import Queue
from stabilize.queue.messages import MESSAGE_TYPES, Message

import wfstore

__all__ = ["WfstoreQueue", "WfstoreWorkflowStore"]

logger = logging.getLogger(__name__)

_STATUS = WorkflowStatus.__members__
_OWNER = SyntheticStageOwner.__members__
_JOIN = JoinType.__members__
_SPLIT = SplitType.__members__
_WORKFLOW_TYPE = WorkflowType.__members__
# Message fields the queue keeps itself (the reference drops them on read).
_MESSAGE_METADATA = frozenset(("message_id", "created_at", "attempts", "max_attempts"))


def _translate(error: wfstore.Error) -> Exception:
    """stabilize's exception for a wfstore error its callers catch."""
    if isinstance(error, wfstore.ConcurrencyError):
        return _StabilizeConcurrencyError(str(error))
    if isinstance(error, wfstore.WorkflowNotFoundError):
        return _StabilizeNotFound(error.workflow_id)
    return error


def _translating(method: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(method)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return method(*args, **kwargs)
        except wfstore.Error as e:
            translated = _translate(e)
            if translated is e:
                raise
            raise translated from e

    return wrapper


def _ms(delay: timedelta | float | int | None, seconds: bool = False) -> int:
    """A delay in whole milliseconds, 0 when absent or negative (a past
    delivery time is due now, as in the reference)."""
    if not delay:
        return 0
    total = delay * 1000 if seconds else delay.total_seconds() * 1000  # type: ignore[operator, union-attr]
    return max(0, int(total))


# ---- model conversion (dicts from the binding -> stabilize objects) ----


def _task(d: dict[str, Any]) -> TaskExecution:
    d["status"] = _STATUS[d["status"]]
    return TaskExecution(**d)


def _stage(d: dict[str, Any]) -> StageExecution:
    del d["execution_id"]
    d["status"] = _STATUS[d["status"]]
    d["tasks"] = [_task(t) for t in d["tasks"]]
    owner = d["synthetic_stage_owner"]
    if owner is not None:
        d["synthetic_stage_owner"] = _OWNER[owner]
    d["join_type"] = _JOIN[d["join_type"]]
    d["split_type"] = _SPLIT[d["split_type"]]
    mi = d["mi_config"]
    if mi is not None:
        d["mi_config"] = MultiInstanceConfig(**mi)
    stage = StageExecution(**d)
    for task in stage.tasks:
        task.stage = stage
    return stage


def _workflow(model: wfstore.Model) -> Workflow:
    d = model.to_dict()
    d["type"] = _WORKFLOW_TYPE[d["type"]]
    d["status"] = _STATUS[d["status"]]
    d["trigger"] = Trigger(**d["trigger"])
    paused = d["paused"]
    if paused is not None:
        d["paused"] = PausedDetails(**paused)
    d["stages"] = [_stage(s) for s in d["stages"]]
    return Workflow(**d)  # __post_init__ attaches the stages


def _stage_list(result: tuple[wfstore.Model | None, list[wfstore.Model]]) -> list[StageExecution]:
    execution_model, stage_models = result
    stages = [_stage(s.to_dict()) for s in stage_models]
    if execution_model is not None and stages:
        # As the reference: the stages refer (weakly) to a summary of their
        # workflow holding every stage.
        execution = _workflow(execution_model)
        for stage in stages:
            stage.execution = execution
    return stages


def _listing_criteria(criteria: WorkflowCriteria | None) -> WorkflowCriteria | None:
    """The criteria as stabilize's retrieve_by_* apply them: statuses and
    page size only. wfstore honours the start-time bounds there too (Q1 in
    docs/semantics.md §9), which would drop the never-started workflows
    stabilize's recovery asks for with start_time_after."""
    if criteria is None or (criteria.start_time_after is None and criteria.start_time_before is None):
        return criteria
    return WorkflowCriteria(page_size=criteria.page_size, statuses=criteria.statuses)


def _execution_id(db: wfstore.Database, stage: StageExecution) -> str:
    """The stage's workflow id: its execution's, or for a detached stage the
    stored one (the reference updates a stage by id alone)."""
    try:
        return stage.execution.id
    except ValueError:
        try:
            execution, _ = db.retrieve_stage(stage.id)
        except wfstore.StageNotFoundError:
            return ""  # an insert: refused as the reference refuses it
        return execution["id"]


def _message_fields(message: Message) -> dict[str, Any]:
    """The message's fields as the reference's queue serializes them."""
    data: dict[str, Any] = {}
    for key, value in message.__dict__.items():
        if key[0] == "_" or key in _MESSAGE_METADATA:
            continue
        data[key] = value.name if isinstance(value, Enum) else value
    return data


def _message(delivery_id: int, attempts: int, type_name: str, fields: dict[str, Any]) -> Message:
    status = fields.get("status")
    if isinstance(status, str):
        fields["status"] = _STATUS[status]
    original = fields.get("original_status")
    if original:
        fields["original_status"] = _STATUS[original]
    phase = fields.get("phase")
    if isinstance(phase, str):
        fields["phase"] = _OWNER[phase]
    message = MESSAGE_TYPES[type_name](**fields)
    message.message_id = str(delivery_id)
    message.attempts = attempts
    return message


def _delivery_id(message: Message) -> int | None:
    if not message.message_id:
        return None
    try:
        return int(message.message_id)
    except ValueError:
        logger.error("Invalid message_id format: %s", message.message_id)
        return None


# ---- the transaction ----


class _WfstoreTransaction(StoreTransaction):
    """One wfstore Transaction: every operation commits in one log record."""

    def __init__(self, txn: wfstore.Transaction, db: wfstore.Database) -> None:
        self._txn = txn
        self._db = db

    @property
    def is_atomic(self) -> bool:
        return True

    @_translating
    def store_stage(self, stage: StageExecution, expected_phase: str | None = None) -> None:
        self._txn.store_stage(stage, expected_phase, execution_id=_execution_id(self._db, stage), default=str)

    @_translating
    def update_workflow_status(self, workflow: Workflow) -> None:
        self._txn.update_workflow_status(workflow)

    @_translating
    def push_message(self, message: Message, delay: float = 0) -> None:
        self._txn.push_message(type(message).__name__, _message_fields(message), _ms(delay, seconds=True))

    @_translating
    def mark_message_processed(
        self,
        message_id: str,
        handler_type: str | None = None,
        execution_id: str | None = None,
    ) -> None:
        self._txn.mark_message_processed(message_id, handler_type, execution_id)

    @_translating
    def acquire_claim(
        self,
        execution_id: str,
        claim_key: str,
        stage_id: str,
        steal_if_owner_terminal: bool = False,
    ) -> bool:
        return self._txn.acquire_claim(execution_id, claim_key, stage_id, steal_if_owner_terminal)


# ---- the store ----


class WfstoreWorkflowStore(WorkflowStore):
    """stabilize's WorkflowStore on a wfstore store directory.

    ``options`` are wfstore.Database's: durability ("sync" or "buffered"),
    buffered_sync_interval_ms, lease_duration_ms, max_attempts (the queue's),
    lease_durability, file_mode, map_size.
    """

    def __init__(self, path: str, **options: Any) -> None:
        self.path = str(path)
        self._db = wfstore.Database(self.path, **options)

    @property
    def database(self) -> wfstore.Database:
        """The wfstore Database (for the history API and the queue)."""
        return self._db

    def close(self) -> None:
        """Closes the store; later calls (its queue's too) raise wfstore.IOError."""
        self._db.close()

    # -- workflows --

    @_translating
    def store(self, execution: Workflow) -> None:
        self._db.store(execution, default=str)

    @_translating
    def retrieve(self, execution_id: str) -> Workflow:
        return _workflow(self._db.retrieve(execution_id))

    @_translating
    def retrieve_execution_summary(self, execution_id: str) -> Workflow:
        return _workflow(self._db.retrieve_execution_summary(execution_id))

    @_translating
    def update_status(self, execution: Workflow) -> None:
        self._db.update_status(execution)

    @_translating
    def delete(self, execution_id: str) -> None:
        self._db.delete_workflow(execution_id)

    # -- stages --

    @_translating
    def store_stage(self, stage: StageExecution, expected_phase: str | None = None) -> None:
        self._db.store_stage(stage, expected_phase, execution_id=_execution_id(self._db, stage), default=str)

    def add_stage(self, stage: StageExecution) -> None:
        self.store_stage(stage)

    @_translating
    def remove_stage(self, execution: Workflow, stage_id: str) -> None:
        self._db.remove_stage(execution.id, stage_id)

    @_translating
    def retrieve_stage(self, stage_id: str) -> StageExecution:
        execution_model, index = self._db.retrieve_stage(stage_id)
        execution = _workflow(execution_model)
        for s in execution.stages:
            s.set_execution_strong(execution)
        return execution.stages[index]

    @_translating
    def get_upstream_stages(self, execution_id: str, stage_ref_id: str) -> list[StageExecution]:
        return _stage_list(self._db.get_upstream_stages(execution_id, stage_ref_id))

    @_translating
    def get_downstream_stages(self, execution_id: str, stage_ref_id: str) -> list[StageExecution]:
        return _stage_list(self._db.get_downstream_stages(execution_id, stage_ref_id))

    @_translating
    def get_synthetic_stages(self, execution_id: str, parent_stage_id: str) -> list[StageExecution]:
        return _stage_list(self._db.get_synthetic_stages(execution_id, parent_stage_id))

    @_translating
    def get_merged_ancestor_outputs(self, execution_id: str, stage_ref_id: str) -> dict[str, Any]:
        return self._db.get_merged_ancestor_outputs(execution_id, stage_ref_id)

    # -- queries --

    def _load(self, ids: list[str]) -> Iterator[Workflow]:
        for workflow_id in ids:
            try:
                yield _workflow(self._db.retrieve(workflow_id))
            except wfstore.WorkflowNotFoundError:
                continue  # deleted since the query

    @_translating
    def retrieve_by_pipeline_config_id(
        self, pipeline_config_id: str, criteria: WorkflowCriteria | None = None
    ) -> Iterator[Workflow]:
        return self._load(self._db.query_by_pipeline_config_id(pipeline_config_id, _listing_criteria(criteria)))

    @_translating
    def retrieve_by_application(self, application: str, criteria: WorkflowCriteria | None = None) -> Iterator[Workflow]:
        return self._load(self._db.query_by_application(application, _listing_criteria(criteria)))

    @_translating
    def get_all_pending_workflows(self, criteria: WorkflowCriteria | None = None) -> Iterator[Workflow]:
        return self._load(self._db.query_pending_workflows(criteria))

    @_translating
    def count_by_application(self, application: str) -> int:
        return self._db.count_by_application(application)

    @_translating
    def exists(self, execution_id: str) -> bool:
        return self._db.exists(execution_id)

    # -- control --

    @_translating
    def pause(self, execution_id: str, paused_by: str) -> None:
        self._db.pause(execution_id, paused_by)

    @_translating
    def resume(self, execution_id: str) -> None:
        self._db.resume(execution_id)

    @_translating
    def cancel(self, execution_id: str, canceled_by: str, reason: str) -> None:
        self._db.cancel(execution_id, canceled_by, reason)

    # -- dedup and claims --

    @_translating
    def is_message_processed(self, message_id: str) -> bool:
        return self._db.is_message_processed(message_id)

    @_translating
    def mark_message_processed(
        self, message_id: str, handler_type: str | None = None, execution_id: str | None = None
    ) -> None:
        self._db.mark_message_processed(message_id, handler_type, execution_id)

    @_translating
    def cleanup_old_processed_messages(self, max_age_hours: float = 24.0) -> int:
        return self._db.cleanup_old_processed_messages(int(max_age_hours * 3_600_000))

    @_translating
    def get_processed_message_ids(self, limit: int | None = None) -> list[str] | None:
        return self._db.get_processed_message_ids(limit)

    @_translating
    def cleanup_completed_stage_claims(self) -> int:
        return self._db.cleanup_completed_stage_claims()

    def is_healthy(self) -> bool:
        try:
            return self._db.is_healthy()
        except wfstore.Error:
            return False

    # -- transactions --

    @contextmanager
    def transaction(self, queue: Queue | None = None) -> Iterator[StoreTransaction]:
        """One atomic commit of stage writes, status updates, dedup marks,
        claims and pushes. ``queue`` may be this store's WfstoreQueue or any
        other queue, which is ignored as the SQLite backend ignores it: the
        pushes go to this store's queue."""
        if isinstance(queue, WfstoreQueue) and queue._db is not self._db:
            raise wfstore.InvalidArgumentError("transaction: the queue belongs to another store")
        try:
            txn = self._db.transaction()
        except wfstore.Error as e:
            raise _translate(e) from e
        try:
            yield _WfstoreTransaction(txn, self._db)
        except BaseException:
            txn.rollback()
            raise
        try:
            txn.commit()
        except wfstore.Error as e:
            translated = _translate(e)
            if translated is e:
                raise
            raise translated from e


# ---- the queue ----


class WfstoreQueue(Queue):
    """stabilize's Queue: the wfstore store's own event-sourced queue.

    Lease duration and max attempts are the store's options
    (lease_duration_ms, max_attempts). Delivery ids are the message ids.
    """

    def __init__(self, store: WfstoreWorkflowStore) -> None:
        self.store = store
        self._db = store.database
        self._db.attach_queue()

    @_translating
    def push(self, message: Message, delay: timedelta | None = None, connection: Any | None = None) -> None:
        if isinstance(connection, _WfstoreTransaction):
            connection.push_message(message, _ms(delay) / 1000)
            return
        self._db.queue_push(type(message).__name__, _message_fields(message), _ms(delay))

    def poll(self, callback: Callable[[Message], None]) -> None:
        message = self.poll_one()
        if message:
            callback(message)
            self.ack(message)

    @_translating
    def poll_one(self) -> Message | None:
        delivery = self._db.queue_poll_one()
        if delivery is None:
            return None
        return _message(*delivery)

    def poll_wait(self, timeout: timedelta) -> Message | None:
        """poll_one(), waiting up to ``timeout`` for a delivery (no busy polling)."""
        delivery = self._db.queue_poll_one(_ms(timeout))
        return None if delivery is None else _message(*delivery)

    @_translating
    def ack(self, message: Message) -> None:
        delivery_id = _delivery_id(message)
        if delivery_id is not None:
            self._db.queue_ack(delivery_id)

    def ensure(self, message: Message, delay: timedelta) -> None:
        self.push(message, delay)

    @_translating
    def reschedule(self, message: Message, delay: timedelta) -> None:
        delivery_id = _delivery_id(message)
        if delivery_id is not None:
            self._db.queue_reschedule(delivery_id, _ms(delay))

    @_translating
    def extend_lock(self, message: Message, duration: timedelta | None = None) -> bool:
        delivery_id = _delivery_id(message)
        if delivery_id is None:
            return False
        return self._db.queue_extend_lock(delivery_id, None if duration is None else max(1, _ms(duration)))

    @_translating
    def size(self) -> int:
        return self._db.queue_size()

    @_translating
    def clear(self) -> None:
        self._db.queue_clear()

    @_translating
    def has_pending_message_for_task(self, task_id: str) -> bool:
        return self._db.queue_has_pending_message_for_task(task_id)

    # -- dead letters (the SQLite queue's methods) --

    @_translating
    def move_to_dlq(self, message_id: int | str, error: str | None = None) -> None:
        self._db.queue_move_to_dlq(int(message_id), error if error is not None else "Max attempts exceeded")

    @_translating
    def check_and_move_expired(self) -> int:
        return self._db.queue_check_and_move_expired()

    @_translating
    def list_dlq(self, limit: int = 100, message_type: str | None = None) -> list[dict[str, Any]]:
        out = []
        for d in self._db.queue_list_dlq(limit, message_type):
            out.append(
                {
                    "id": d["id"],
                    "original_id": d["id"],
                    "message_type": d["message_type"],
                    "payload": d["fields"],
                    "attempts": d["attempts"],
                    "error": d["error"],
                    "moved_at": d["moved_at"],
                }
            )
        return out

    @_translating
    def replay_dlq(self, dlq_id: int) -> bool:
        return self._db.queue_replay_dlq(int(dlq_id))

    @_translating
    def dlq_size(self) -> int:
        return self._db.queue_dlq_size()

    @_translating
    def clear_dlq(self) -> int:
        return self._db.queue_clear_dlq()

    def close(self) -> None:
        """Nothing to release: the queue is the store's (close the store)."""
