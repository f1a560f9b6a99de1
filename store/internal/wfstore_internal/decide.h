// The command side of the store: decide(command, views) turns a command into
// the events that record it (or throws the command's error). The writer's
// commit pipeline, a transaction's eager checks and the queue decide through
// it; store/command/ holds it, one function per command. The events it
// returns are folded into the views by fold() (wfstore_internal/fold.h), whose
// header documents the tables both read (docs/write-path.md).
//
// decide() only reads and is deterministic given the views and the context.
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
#include "wfstore_internal/fold.h"
#include "wfstore_internal/overlay_view_store.h"
#include "wfstore_internal/view_store.h"

namespace wfstore {

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
// of README.md "Limits" through the model's validate_* functions), then checks
// it against the views. Returns the events to append (none for a no-op: update,
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
// them), timestamp context.now_ms and the commit's `audit`: how a later
// command of one commit sees the earlier ones (the writer's multi-command
// commits, a transaction's eager checks). Returns the decision. Throws what
// decide() throws (the views are then unchanged) and what fold() throws (the
// views may be partly written).
// The decisions of a commit's commands made ahead of the commit (by a
// transaction's eager checks) with the writes of their fold, in order. A
// decision and its fold are a function of the commands, the views, the
// timestamp and the audit alone, so the writer takes them instead of deciding
// again when the views are still those at `base_lsn` (no commit since: the
// commit's first LSN is base_lsn + 1) and its timestamp and audit are these;
// otherwise it decides again, and a decision that differs throws as usual.
struct PreparedDecision {
  std::uint64_t base_lsn = 0;  // the applied LSN of the views decided over
  std::int64_t timestamp_ms = 0;
  AuditMetadata audit;
  std::vector<Decision> decisions;  // one per command, in order
  std::vector<OverlayViewStore::Write> writes;
};

Decision decide_and_fold(const Command& command, ViewStore& views,
                         const DecideContext& context, std::uint64_t commit_id,
                         std::uint64_t& next_lsn,
                         const AuditMetadata& audit = {});

// The store_stage result for the caller's object: on a StageUpdated, the new
// stage version and each listed task's new version; on a StageAdded, each
// task at the version it was stored with (0). REQUIRES: `events` was decided
// for a StoreStage of `stage`.
void apply_store_stage_result(const std::vector<EventPayload>& events,
                              StageExecution& stage);

}  // namespace wfstore
