// The store's state machine, written once over the view-store interface:
// decide(command, views) turns a command into the events that record it (or
// throws the command's error), and fold(event, views) applies an event to the
// read models. The writer, a transaction's eager checks, rebuilds and replicas
// all use these two functions (DESIGN.md "The write path", "Read models").
//
// decide() only reads and is deterministic given the views and the context.
// fold() makes the same writes in the same order for the same event and views,
// however events are grouped into transactions, so the view checksum is a
// function of the log alone.
//
// Tables (keys are fixed-width big-endian; "wf", "stage", "app", ... are
// 64-bit surrogates interned through `ids`, keys.h; times are i64 with the
// sign bit flipped; layouts in projector/view_records.h):
//
//   workflows        wf -> next_position, the workflow without stages
//   stages           stage -> wf, position, the stage with tasks in order
//   stage_order      (wf, position) -> stage, parent stage (0: none), ref_id
//   by_application   (app, start, wf) -> status, workflow id
//   by_pipeline_config (config, start, wf) -> status, workflow id
//   by_start_time    (start, wf) -> status, workflow id
//                    start := u8 0, ~time (set) | u8 1, 0 (NULL): start_time
//                    descending, NULLs last; ties by surrogate, which the
//                    queries re-sort by workflow id
//   processed_messages  message -> processed_at, lsn, handler_type,
//                    execution_id
//   processed_by_time   (processed_at, lsn) -> message, message id
//   claims           (execution, claim key) -> execution id, claim key,
//                    stage id, claimed_at
//   queue_messages   delivery -> execution id, type, payload CBOR,
//                    deliver_at, max_attempts, attempts, lease_until,
//                    the payload's task_id ("" if none)
//   queue_ready      (attempt class, deliver_at, delivery) -> "" or
//                    lease_until, for every queued delivery (the poll index:
//                    view_records.h)
//   queue_leases     (max(lease_until, deliver_at - 1), delivery) -> "" (leased
//                    deliveries)
//   queue_task_index (u16 length, task id bytes, delivery) -> "" for every
//                    queued delivery whose payload has a non-empty task_id
//   dead_letters     delivery -> execution id, type, payload CBOR,
//                    max_attempts, attempts, error, moved_at
//   workflow_events  (wf, lsn) -> event type u16 (kept after a delete)
//   meta             "next_id" (keys.h), "next_delivery_id" (u64: one more
//                    than the largest delivery id pushed), "applied_lsn"
//                    (u64, written by fold_events)
//
// Meta also counts "queue_size" and "dlq_size" (u64). Positions in stage_order
// come from the workflow's next_position and are never reused.
//
// Thread-safety: the functions keep no state; the views' own rules apply.

#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "wfstore/event.h"

#include "wfstore_internal/commands.h"
#include "wfstore_internal/view_store.h"

namespace wfstore {

inline constexpr std::string_view kMetaAppliedLsn = "applied_lsn";
inline constexpr std::string_view kMetaNextDeliveryId = "next_delivery_id";

struct DecideContext {
  // The store clock's epoch milliseconds: pause and resume times, processed
  // and claim times, the purge cutoff.
  std::int64_t now_ms = 0;
};

// A message as the queue holds it, returned by a LeaseNext decision.
struct LeasedMessage {
  std::uint64_t delivery_id = 0;
  std::string message_type;
  // The wire JSON as CBOR.
  std::string payload_cbor;
  // Counting this delivery.
  std::int64_t attempts = 0;
  std::int64_t lease_until = 0;
};

struct Decision {
  // In the order they must be appended and folded; empty for a no-op.
  std::vector<EventPayload> events;
  // acquire_claim's answer; false for an unknown delivery of ExtendLease,
  // MoveToDeadLetters, ReplayDeadLetter; true for every other command.
  bool result = true;
  // The number of rows a cleanup, sweep or clear removes (0 for other
  // commands).
  std::uint64_t count = 0;
  // PushMessage: the new delivery id; ReplayDeadLetter: the replayed one's.
  std::uint64_t delivery_id = 0;
  // LeaseNext: the leased message, or nullopt when none was deliverable.
  std::optional<LeasedMessage> leased;
};

// Decides `command` against `views`. Validates the command first (every limit
// of DESIGN.md through the model's validate_* functions), then checks it
// against the views. Returns the events to append (none for a no-op: update,
// pause, cancel, delete or remove of a missing id, resume of a workflow that
// is not PAUSED, a repeated mark, a cleanup that finds nothing, a claim that
// is re-entrant or refused).
//
// Notes on store_stage: a new stage needs its workflow (stage.execution_id);
// for an existing stage the stored execution id wins and the caller's
// structural fields are ignored (Q8). Task ids are unique within their stage
// (the reference's global task primary key is not enforced across stages).
//
// Throws:
//   InvalidArgumentError  a limit; an expected_phase that is not a status
//                         name; a negative max age; an enum out of range
//   DuplicateError        store() of an existing workflow id; a stage id that
//                         exists (store()) or repeats; a ref_id that repeats
//                         in the workflow; a task id repeated in one stage
//   WorkflowNotFoundError a new stage whose workflow does not exist
//   ConcurrencyError      "Optimistic lock failed for stage {id} (version
//                         {v}[, expected_phase {p}])" for a version or phase
//                         mismatch; "Task {id} was modified concurrently
//                         (expected version {v})" for a listed task stored at
//                         another version; "claim {execution}/{key} changed
//                         hands: ..." for an AcquireClaim whose result differs
//                         from its expected_result; "...: the transaction
//                         decided {kind}, the commit {kind} (...)" for a
//                         StoreStage or SetWorkflowStatus whose
//                         expected_kind differs from this decision's
//   CorruptionError, IOError from the views.
Decision decide(const Command& command, const ViewReader& views,
                const DecideContext& context);

// Decides `command` against `views`, then folds its events into `views` as
// events of commit `commit_id` with LSNs from `next_lsn` on (advanced past
// them) and timestamp context.now_ms: how a later command of one commit sees
// the earlier ones (the writer's multi-command commits, a transaction's eager
// checks). Returns the decision. Throws what decide() throws (the views are
// then unchanged) and what fold() throws (the views may be partly written).
Decision decide_and_fold(const Command& command, ViewStore& views,
                         const DecideContext& context, std::uint64_t commit_id,
                         std::uint64_t& next_lsn);

// Applies `event` to the views (LSN from event.lsn; every other input from the
// payload). An event whose target is absent (a stage of a deleted workflow, an
// ack of an unknown delivery) writes only the workflow event index. Throws
// CorruptionError for a malformed stored record, IOError and MapFullError from
// the views.
void fold(const Event& event, ViewStore& views);

// Folds `events` in order, then records the last one's LSN as the applied
// LSN in meta. Throws what fold() throws.
void fold_events(const std::vector<Event>& events, ViewStore& views);

// The store_stage result for the caller's object: on a StageUpdated, the new
// stage version and each listed task's new version; on a StageAdded, each
// task at the version it was stored with (0). REQUIRES: `events` was decided
// for a StoreStage of `stage`.
void apply_store_stage_result(const std::vector<EventPayload>& events,
                              StageExecution& stage);

}  // namespace wfstore
