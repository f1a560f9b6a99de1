// Atomic transactions over the store and its queue
// (docs/write-path.md#transactions, docs/semantics.md §6): stage writes, the
// 3-field workflow status update, queue pushes, dedup marks and claims made
// through one Transaction are appended as one log record when it commits, or
// not at all.
//
// Thread-safety: its methods must not be called concurrently. A thread has at
// most one open transaction per store (transactions do not nest); a
// Transaction may be moved to and ended (committed, rolled back, destroyed)
// on another thread, also after its opener exited, which then counts as
// having none open. Different threads may run their own transactions at the
// same time.

#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "wfstore/message.h"
#include "wfstore/model.h"

namespace wfstore {

class Queue;
class WorkflowStore;

// The LSN range a commit appended; both 0 when every operation was a no-op.
struct CommitRange {
  std::uint64_t first_lsn = 0;
  std::uint64_t last_lsn = 0;
};

// Obtained from WorkflowStore::transaction(). Each operation is checked at
// once against the latest committed state plus the transaction's own pending
// operations (a second store_stage of one stage sees version + 1; a mark is
// visible to this transaction only), so a stage re-read inside the
// transaction (retrieve_stage) and stored through it passes whatever other
// commits happened since the transaction opened. Nothing is written until
// commit(), which decides every operation again against the state then and is
// the authoritative check. An operation throws ConcurrencyError only when the
// state it depends on differs from what it expects: a stage version or
// phase, or an earlier operation of this transaction that no longer holds (a
// rival changed its stage, took its claim, ...), which commit() would refuse
// too.
//
// The commit decides each operation as the same kind as the operation did,
// or throws ConcurrencyError: store_stage as an insert or as an update (a
// stage added or removed meanwhile: the versions the operation gave the
// caller would be wrong), update_workflow_status as a write or as a no-op (a
// workflow stored or deleted meanwhile), acquire_claim with the same answer.
// push_message is always a push (its delivery id is assigned at commit) and
// mark_message_processed is insert-if-absent either way (concurrent marks of
// one id all commit).
//
// Rollback (rollback(), destruction, a failed commit) appends nothing and
// restores the version of every stage and task this transaction bumped.
// A successful commit leaves the caller's objects as the operations left
// them. REQUIRES: the stages passed to store_stage outlive the transaction
// (its rollback writes their versions back) and do not move.
//
// Lifetime: a transaction holds no read snapshot between operations (each
// operation takes one for its own duration), so an open transaction never
// holds back map growth or other commits, including this thread's own
// non-transactional ones. End it before the Database closes.
//
// After commit() or rollback() every operation throws InvalidArgumentError
// ("transaction already committed" / "... rolled back").
class Transaction {
 public:
  class Impl;
  explicit Transaction(std::unique_ptr<Impl> impl);
  Transaction(Transaction&&) noexcept;
  Transaction& operator=(Transaction&&) noexcept;
  Transaction(const Transaction&) = delete;
  Transaction& operator=(const Transaction&) = delete;
  // Rolls back unless committed. Never throws.
  ~Transaction();

  // store_stage (docs/semantics.md §5.6) inside the transaction: bumps
  // stage.version and each listed task's version at once (rolled back with the
  // transaction). Throws as WorkflowStore::store_stage does; a failed operation
  // leaves the transaction usable and `stage` untouched.
  void store_stage(StageExecution& stage,
                   std::optional<std::string> expected_phase = std::nullopt);

  // Status, start_time and end_time only (docs/semantics.md §6.1, and Q7 in
  // §9). A missing workflow is a no-op. Throws InvalidArgumentError.
  void update_workflow_status(const Workflow& workflow);

  // Enqueues `message` deliverable after `delay`, with the message's own
  // max_attempts when set (else the queue's). Its delivery id is assigned at
  // commit. Throws InvalidArgumentError (negative delay, limits).
  void push_message(const Message& message,
                    std::chrono::milliseconds delay = std::chrono::milliseconds{
                        0});

  // Insert-if-absent of the dedup mark (docs/semantics.md §5.16); visible to
  // this transaction at once, to others after commit. Throws
  // InvalidArgumentError.
  void mark_message_processed(
      std::string_view message_id,
      std::optional<std::string> handler_type = std::nullopt,
      std::optional<std::string> execution_id = std::nullopt);

  // docs/semantics.md §5.17: true when the claim was inserted, is already held
  // by `stage_id`, or was stolen from a missing or complete owner with
  // steal_if_owner_terminal. Throws InvalidArgumentError.
  bool acquire_claim(std::string_view execution_id, std::string_view claim_key,
                     std::string_view stage_id,
                     bool steal_if_owner_terminal = false);

  // Always true: every operation commits or none does.
  bool is_atomic() const { return true; }

  // Decides every operation again against the current state and appends them
  // as one log record (nothing when all were no-ops). Commit listeners are
  // notified once for it. Throws ConcurrencyError (a rival commit changed
  // what an operation depended on, e.g. a stage version or a claim, or an
  // operation would be decided as another kind: nothing appended, versions
  // restored), IOError, and what the operations throw.
  CommitRange commit();

  // Discards the pending operations and restores versions. Idempotent.
  void rollback() noexcept;

 private:
  std::unique_ptr<Impl> impl_;
};

// Runs fn(txn) in a new transaction of `store` and commits it. On a
// ConcurrencyError, from commit() or thrown out of fn (an operation's eager
// check, or anything fn calls), rolls back and runs fn again with a fresh
// transaction, at most `max_attempts` times in all; the last ConcurrencyError
// propagates. This is stabilize's retry_on_concurrency_error around a
// transaction block (docs/semantics.md §6.6): since an operation throws
// ConcurrencyError only when the state really changed, a rerun that re-reads
// what it stores sees the change. Any other exception rolls back and
// propagates. `queue` is as for WorkflowStore::transaction(). Returns the
// committed range.
// REQUIRES: fn re-reads the stages it stores on each run (a stale object
// fails every attempt); stages passed to txn.store_stage outlive the
// transaction (commit and rollback run after fn returns): declare them
// outside fn and assign them inside it.
CommitRange run_transaction(WorkflowStore& store, Queue* queue,
                            const std::function<void(Transaction&)>& fn,
                            int max_attempts = 5);

}  // namespace wfstore
