"""Type stubs of wfstore's extension module.

Model arguments (workflow, stage, task, criteria) are any objects with the
model's attribute names (stabilize's objects among them); enum attributes take
an enum (its ``.name`` is used) or the name as ``str``. Models come back as
``Model``: read-only mappings with the same keys, each field converted when it
is read (``to_dict()`` gives the plain dicts typed below). Every call that can wait releases the GIL. Bad input
raises InvalidArgumentError naming the field, with nothing appended.
"""

import os
from collections.abc import Callable, Iterator, Mapping
from typing import Any, Literal, TypedDict

JsonValue = Any

class Error(Exception):
    code: int

class NotFoundError(Error, LookupError): ...

class WorkflowNotFoundError(NotFoundError):
    workflow_id: str

class StageNotFoundError(NotFoundError, ValueError): ...
class ConcurrencyError(Error): ...
class DuplicateError(Error): ...
class InvalidArgumentError(Error, ValueError): ...
class CorruptionError(Error): ...
class IOError(Error): ...
class StoreLockedError(Error): ...
class SubscriptionNotFoundError(NotFoundError): ...
class SubscriberFailedError(Error): ...
class KafkaTopicNotFoundError(NotFoundError): ...

class TaskDict(TypedDict):
    id: str
    name: str
    implementing_class: str
    status: str
    start_time: int | None
    end_time: int | None
    stage_start: bool
    stage_end: bool
    loop_start: bool
    loop_end: bool
    task_exception_details: dict[str, JsonValue]
    version: int

class MultiInstanceDict(TypedDict):
    count: int
    count_from_context: str
    sync_on_complete: bool
    allow_dynamic: bool
    collection_from_context: str
    join_threshold: int
    cancel_remaining: bool

class StageDict(TypedDict):
    id: str
    execution_id: str
    ref_id: str
    type: str
    name: str
    status: str
    context: dict[str, JsonValue]
    outputs: dict[str, JsonValue]
    tasks: list[TaskDict]
    requisite_stage_ref_ids: set[str]
    parent_stage_id: str | None
    synthetic_stage_owner: str | None
    start_time: int | None
    end_time: int | None
    start_time_expiry: int | None
    scheduled_time: int | None
    version: int
    join_type: str
    join_threshold: int
    split_type: str
    split_conditions: dict[str, str]
    mi_config: MultiInstanceDict | None
    deferred_choice_group: str | None
    milestone_ref_id: str | None
    milestone_status: str | None
    mutex_key: str | None
    cancel_region: str | None

class TriggerDict(TypedDict):
    type: str
    user: str
    parameters: dict[str, JsonValue]
    artifacts: list[JsonValue]
    payload: dict[str, JsonValue]

class PausedDict(TypedDict):
    paused_by: str
    pause_time: int | None
    resume_time: int | None
    paused_ms: int

class WorkflowDict(TypedDict):
    id: str
    type: str
    application: str
    name: str
    status: str
    stages: list[StageDict]
    context: dict[str, JsonValue]
    trigger: TriggerDict
    start_time: int | None
    end_time: int | None
    start_time_expiry: int | None
    is_canceled: bool
    canceled_by: str | None
    cancellation_reason: str | None
    paused: PausedDict | None
    pipeline_config_id: str | None
    is_limit_concurrent: bool
    max_concurrent_executions: int
    keep_waiting_pipelines: bool
    origin: str

# (delivery id, attempts, message type name, message fields)
Delivery = tuple[int, int, str, dict[str, JsonValue]]
class Model(Mapping[str, Any]):
    """A read-only view of a stored workflow, stage or task (the keys of
    WorkflowDict, StageDict, TaskDict), a collections.abc.Mapping. Each field
    is converted when read; JSON values come as plain Python objects made anew
    at each read; stages and tasks as a new list, at each read, of the same
    nested Models (made at the first read). A Model keeps the whole result it
    belongs to alive (a task's Model holds its workflow), not the store: it
    stays valid after the store closes. Equal to a dict of the same fields;
    unhashable; copies are itself (it is immutable); pickled as its plain
    dict. Like a dict, it has no model attributes, so it is not a model
    argument (store, store_stage write versions back into theirs)."""

    def __getitem__(self, key: str) -> Any: ...
    def __iter__(self) -> Iterator[str]: ...
    def __len__(self) -> int: ...
    def to_dict(self) -> dict[str, Any]:
        """Every field converted at once: a WorkflowDict, StageDict or
        TaskDict (requisite_stage_ref_ids a set, so json.dumps needs a
        default such as sorted)."""

# (a summary of the workflow with its stages, or None; the selected stages)
StageSet = tuple[Model | None, list[Model]]

class Transaction:
    """One atomic commit (one log record); a context manager that commits on
    success and rolls back on an exception. Belongs to the opening thread: a
    call made while another call of it runs raises InvalidArgumentError. Its
    commit carries the AuditScope current where commit() runs."""

    def store_stage(
        self, stage: Any, expected_phase: str | None = None, *, execution_id: str | None = None, default: Callable[[Any], Any] | None = None
    ) -> None:
        """Bumps stage.version and its tasks' versions at once; a failed commit
        or a rollback restores them."""
    def update_workflow_status(self, workflow: Any) -> None: ...
    def push_message(self, type: str, fields: dict[str, JsonValue], delay_ms: int = 0, max_attempts: int | None = None) -> None: ...
    def mark_message_processed(self, message_id: str, handler_type: str | None = None, execution_id: str | None = None) -> None: ...
    def acquire_claim(self, execution_id: str, claim_key: str, stage_id: str, steal_if_owner_terminal: bool = False) -> bool: ...
    @property
    def is_atomic(self) -> bool: ...
    def commit(self) -> dict[str, int]:
        """Raises ConcurrencyError (nothing appended, versions restored)."""
    def rollback(self) -> None: ...
    def __enter__(self) -> Transaction: ...
    def __exit__(self, *exc: object) -> bool: ...

class History:
    """The history API (docs/history.md): event dicts as event_to_json()."""

    def current_lsn(self) -> int: ...
    def events(self, **query: Any) -> list[dict[str, JsonValue]]:
        """Query keys: workflow_id, entity=(kind, id), types, actor,
        correlation_id, from_lsn (exclusive), to_lsn, from_time_ms,
        to_time_ms, limit, offset, descending."""
    def count(self, **query: Any) -> int: ...
    def event_at(self, lsn: int) -> dict[str, JsonValue] | None: ...
    def commit_end(self, lsn: int) -> int: ...
    def lsn_at_time(self, time_ms: int) -> int: ...
    def workflow_as_of(self, workflow_id: str, lsn: int) -> Model | None: ...
    def diff(self, workflow_id: str, from_lsn: int, to_lsn: int) -> dict[str, Any]: ...
    def entity_history(self, kind: Literal["workflow", "stage", "task", "delivery"], id: str) -> list[dict[str, JsonValue]]: ...
    def fork(self, lsn: int, out: str | os.PathLike[str]) -> dict[str, Any]: ...
    def export_workflow(self, workflow_id: str, file: str | os.PathLike[str]) -> dict[str, Any]: ...

class AuditScope:
    """While entered, the commits of the thread or asyncio task that entered
    it carry these audit fields (a contextvars variable: a new thread starts
    with none). Nests (the innermost wins); an exit ends that scope only, in
    whatever order scopes exit (a generator suspended inside a scope leaves it
    current in its caller's context until it exits it). An asyncio task
    starts with the scopes entered where it was made, and an exit there ends
    the scope in that task only; exiting where the scope is not entered (e.g.
    another thread) raises InvalidArgumentError, a ValueError. Fields over
    1 KiB raise InvalidArgumentError here."""

    def __init__(self, *, actor: str = "", correlation_id: str = "", causation_id: str = "", source: str = "") -> None: ...
    def __enter__(self) -> AuditScope: ...
    def __exit__(self, *exc: object) -> bool: ...

class Database:
    """One store directory (created when missing) as its one writer, or
    read_only. close() makes every later call raise IOError."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        durability: Literal["sync", "buffered"] = "sync",
        buffered_sync_interval_ms: int = 5,
        lease_duration_ms: int = 60000,
        max_attempts: int = 10,
        lease_durability: Literal["sync", "buffered"] = "buffered",
        file_mode: int = 0o600,
        map_size: int | None = None,
        read_only: bool = False,
    ) -> None: ...
    def close(self) -> None: ...
    def stats(self) -> dict[str, int]: ...
    def store(self, workflow: Any, *, default: Callable[[Any], Any] | None = None) -> None:
        """default: as json.dumps's, for values of a JSON field that are not JSON."""
    def retrieve(self, workflow_id: str) -> Model: ...
    def _cpp_seconds(self, operation: str, ids: list[str]) -> float: ...  # benchmark hook
    def retrieve_execution_summary(self, workflow_id: str) -> Model: ...
    def update_status(self, workflow: Any) -> None: ...
    def delete_workflow(self, workflow_id: str) -> None: ...
    def store_stage(
        self, stage: Any, expected_phase: str | None = None, *, execution_id: str | None = None, default: Callable[[Any], Any] | None = None
    ) -> None:
        """Insert or compare-and-set update; bumps stage.version and the listed
        tasks' versions on the object on success."""
    def remove_stage(self, workflow_id: str, stage_id: str) -> None: ...
    def retrieve_stage(self, stage_id: str) -> tuple[Model, int]:
        """The stage's workflow (the stage, its upstream and synthetic stages)
        and the stage's index in it."""
    def get_upstream_stages(self, workflow_id: str, stage_ref_id: str) -> StageSet: ...
    def get_downstream_stages(self, workflow_id: str, stage_ref_id: str) -> StageSet: ...
    def get_synthetic_stages(self, workflow_id: str, parent_stage_id: str) -> StageSet: ...
    def get_merged_ancestor_outputs(self, workflow_id: str, stage_ref_id: str) -> dict[str, JsonValue]: ...
    def query_by_pipeline_config_id(self, pipeline_config_id: str, criteria: Any = None) -> list[str]: ...
    def query_by_application(self, application: str, criteria: Any = None) -> list[str]: ...
    def query_pending_workflows(self, criteria: Any = None) -> list[str]: ...
    def count_by_application(self, application: str) -> int: ...
    def exists(self, workflow_id: str) -> bool: ...
    def pause(self, workflow_id: str, paused_by: str) -> None: ...
    def resume(self, workflow_id: str) -> None: ...
    def cancel(self, workflow_id: str, canceled_by: str, reason: str) -> None: ...
    def is_message_processed(self, message_id: str) -> bool: ...
    def mark_message_processed(self, message_id: str, handler_type: str | None = None, execution_id: str | None = None) -> None: ...
    def cleanup_old_processed_messages(self, max_age_ms: int) -> int: ...
    def get_processed_message_ids(self, limit: int | None = None) -> list[str]: ...
    def cleanup_completed_stage_claims(self) -> int: ...
    def is_healthy(self) -> bool: ...
    def transaction(self) -> Transaction: ...
    def attach_queue(self) -> None:
        """Attaches the store's one queue (queue_* calls attach it too)."""
    def queue_push(self, type: str, fields: dict[str, JsonValue], delay_ms: int = 0, max_attempts: int | None = None) -> int: ...
    def queue_poll_one(self, timeout_ms: int | None = None) -> Delivery | None:
        """With timeout_ms, a blocking poll (GIL released while it waits)."""
    def queue_ack(self, delivery_id: int) -> None: ...
    def queue_reschedule(self, delivery_id: int, delay_ms: int) -> None: ...
    def queue_extend_lock(self, delivery_id: int, duration_ms: int | None = None) -> bool: ...
    def queue_size(self) -> int: ...
    def queue_clear(self) -> None: ...
    def queue_has_pending_message_for_task(self, task_id: str) -> bool: ...
    def queue_move_to_dlq(self, delivery_id: int, error: str = "Max attempts exceeded") -> None: ...
    def queue_check_and_move_expired(self) -> int: ...
    def queue_list_dlq(self, limit: int = 100, message_type: str | None = None) -> list[dict[str, Any]]: ...
    def queue_dlq_size(self) -> int: ...
    def queue_replay_dlq(self, delivery_id: int) -> bool: ...
    def queue_clear_dlq(self) -> int: ...
    def add_commit_listener(self, listener: Callable[[int, int, bool], None]) -> int:
        """listener(first_lsn, last_lsn, queue_changed) after each committed
        group, on a committing thread; it must not commit to this store."""
    def remove_commit_listener(self, listener_id: int) -> None:
        """Once it returns, the listener is not running and is not called
        again; raises IOError when called from a commit listener."""
    def history(self) -> History: ...

def for_each_event(dir: str | os.PathLike[str], after_lsn: int, visit: Callable[[dict[str, JsonValue]], bool | None]) -> int: ...
