// Transactions (DESIGN.md "Transactions"): each operation is decided eagerly
// against a read snapshot plus the transaction's own pending events; commit()
// hands every command to the writer as one multi-command commit, which the
// leader decides again against the current state.

#include "wfstore/transaction.h"

#include <algorithm>
#include <map>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "wfstore/errors.h"
#include "wfstore/workflow_store.h"

#include "store/workflow_store_impl.h"
#include "wfstore_internal/overlay_view_store.h"
#include "wfstore_internal/state_machine.h"
#include "wfstore_internal/views.h"

namespace wfstore {
namespace {

// The stores with an open transaction on this thread (no nesting).
thread_local std::vector<const WorkflowStoreImpl*> open_transactions;

}  // namespace

class Transaction::Impl {
 public:
  // Registers the transaction in `registry` (this thread's open transactions).
  Impl(WorkflowStoreImpl& store, LmdbViews::Snapshot snapshot,
       std::vector<const WorkflowStoreImpl*>& registry)
      : store_(store),
        snapshot_(std::move(snapshot)),
        overlay_(snapshot_),
        commit_id_(applied_lsn(snapshot_) + 1),
        next_lsn_(commit_id_),
        registry_(registry) {
    registry_.push_back(&store_);
  }
  ~Impl() { rollback(); }
  Impl(const Impl&) = delete;
  Impl& operator=(const Impl&) = delete;

  void store_stage(StageExecution& stage,
                   std::optional<std::string> expected_phase) {
    const Decision decision =
        apply(StoreStage{stage, std::move(expected_phase)});
    remember(stage);
    apply_store_stage_result(decision.events, stage);
  }

  void update_workflow_status(const Workflow& workflow) {
    apply(SetWorkflowStatus::of(workflow));
  }

  void push_message(const Message& message, std::chrono::milliseconds delay) {
    apply(PushMessage{message, delay.count()});
  }

  void mark_message_processed(std::string_view message_id,
                              std::optional<std::string> handler_type,
                              std::optional<std::string> execution_id) {
    apply(MarkMessageProcessed{std::string(message_id), std::move(handler_type),
                               std::move(execution_id)});
  }

  bool acquire_claim(std::string_view execution_id, std::string_view claim_key,
                     std::string_view stage_id, bool steal_if_owner_terminal) {
    const Decision decision = apply(AcquireClaim{
        std::string(execution_id), std::string(claim_key),
        std::string(stage_id), steal_if_owner_terminal, std::nullopt});
    // The leader must find the same answer at commit, or the commit fails.
    std::get<AcquireClaim>(commands_.back()).expected_result = decision.result;
    return decision.result;
  }

  CommitRange commit() {
    check_open();
    if (commands_.empty()) {
      finish(State::kCommitted);
      return CommitRange{};
    }
    std::vector<Command> commands = std::move(commands_);
    commands_.clear();
    // The writer may need to grow the map, which waits for every LMDB
    // transaction of the process: hold none while committing.
    snapshot_.release();
    overlay_.clear();
    CommitResult result;
    try {
      result = store_.commit_commands(std::move(commands));
    } catch (...) {
      rollback();
      throw;
    }
    // The caller's versions were bumped by each operation; the leader decided
    // every StoreStage against the same stored versions (or the commit would
    // have failed), so they are already what was committed: a successful
    // commit does not touch the caller's objects again.
    finish(State::kCommitted);
    return CommitRange{result.first_lsn, result.last_lsn};
  }

  void rollback() noexcept {
    if (state_ != State::kOpen) return;
    restore_versions();
    finish(State::kRolledBack);
  }

 private:
  enum class State { kOpen, kCommitted, kRolledBack };

  // A stage this transaction bumped, with the versions it had before.
  struct SavedStage {
    StageExecution* stage = nullptr;
    std::int64_t version = 0;
    std::map<std::string, std::int64_t, std::less<>> task_versions;
  };

  void check_open() const {
    if (state_ == State::kCommitted) {
      throw InvalidArgumentError("transaction already committed");
    }
    if (state_ == State::kRolledBack) {
      throw InvalidArgumentError("transaction already rolled back");
    }
  }

  // Decides `command` against the snapshot plus the pending events, folds its
  // events into the overlay and keeps it for commit(). A rejected command
  // throws with nothing changed; a fold that fails part-way leaves the overlay
  // untrustworthy, so the transaction rolls back.
  Decision apply(Command command) {
    check_open();
    const DecideContext context{store_.clock().now_ms()};
    std::uint64_t lsn = next_lsn_;
    Decision decision;
    try {
      decision = decide_and_fold(command, overlay_, context, commit_id_, lsn);
    } catch (...) {
      // decide() does not write: an LSN was taken only if a fold began.
      if (lsn != next_lsn_) rollback();
      throw;
    }
    next_lsn_ = lsn;
    commands_.push_back(std::move(command));
    return decision;
  }

  // Records the versions `stage` and its tasks have before this operation's
  // bump, unless an earlier operation recorded them.
  void remember(StageExecution& stage) {
    auto it = std::find_if(
        saved_.begin(), saved_.end(),
        [&](const SavedStage& saved) { return saved.stage == &stage; });
    if (it == saved_.end()) {
      saved_.push_back(SavedStage{&stage, stage.version, {}});
      it = saved_.end() - 1;
    }
    for (const TaskExecution& task : stage.tasks) {
      it->task_versions.emplace(task.id, task.version);
    }
  }

  void restore_versions() noexcept {
    for (const SavedStage& saved : saved_) {
      saved.stage->version = saved.version;
      for (TaskExecution& task : saved.stage->tasks) {
        const auto found = saved.task_versions.find(task.id);
        if (found != saved.task_versions.end()) task.version = found->second;
      }
    }
  }

  void finish(State state) noexcept {
    state_ = state;
    snapshot_.release();
    overlay_.clear();
    commands_.clear();
    const auto it = std::find(registry_.begin(), registry_.end(), &store_);
    if (it != registry_.end()) registry_.erase(it);
  }

  WorkflowStoreImpl& store_;
  LmdbViews::Snapshot snapshot_;
  OverlayViewStore overlay_;  // Over snapshot_.
  // The commit id and LSNs the overlay's events get: after the snapshot's.
  std::uint64_t commit_id_;
  std::uint64_t next_lsn_;
  std::vector<Command> commands_;
  std::vector<SavedStage> saved_;
  State state_ = State::kOpen;
  std::vector<const WorkflowStoreImpl*>& registry_;
};

Transaction WorkflowStoreImpl::transaction(Queue* queue) {
  if (pipeline_ == nullptr) {
    throw IOError(fmt::format("store {} is open read-only", dir_.string()));
  }
  if (queue != nullptr && (queue_ == nullptr || queue != queue_->load())) {
    throw InvalidArgumentError(
        "queue: the queue belongs to another store (pass null or this "
        "store's queue)");
  }
  if (std::find(open_transactions.begin(), open_transactions.end(), this) !=
      open_transactions.end()) {
    throw InvalidArgumentError(
        "a transaction is already open on this store in this thread "
        "(transactions do not nest)");
  }
  LmdbViews::Snapshot snapshot = read();
  return Transaction(std::make_unique<Transaction::Impl>(
      *this, std::move(snapshot), open_transactions));
}

Transaction::Transaction(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Transaction::Transaction(Transaction&&) noexcept = default;

Transaction& Transaction::operator=(Transaction&& other) noexcept {
  if (this != &other) {
    if (impl_) impl_->rollback();
    impl_ = std::move(other.impl_);
  }
  return *this;
}

Transaction::~Transaction() = default;

namespace {

[[noreturn]] void throw_moved_from() {
  throw InvalidArgumentError("transaction was moved from");
}

}  // namespace

void Transaction::store_stage(StageExecution& stage,
                              std::optional<std::string> expected_phase) {
  if (!impl_) throw_moved_from();
  impl_->store_stage(stage, std::move(expected_phase));
}

void Transaction::update_workflow_status(const Workflow& workflow) {
  if (!impl_) throw_moved_from();
  impl_->update_workflow_status(workflow);
}

void Transaction::push_message(const Message& message,
                               std::chrono::milliseconds delay) {
  if (!impl_) throw_moved_from();
  impl_->push_message(message, delay);
}

void Transaction::mark_message_processed(
    std::string_view message_id, std::optional<std::string> handler_type,
    std::optional<std::string> execution_id) {
  if (!impl_) throw_moved_from();
  impl_->mark_message_processed(message_id, std::move(handler_type),
                                std::move(execution_id));
}

bool Transaction::acquire_claim(std::string_view execution_id,
                                std::string_view claim_key,
                                std::string_view stage_id,
                                bool steal_if_owner_terminal) {
  if (!impl_) throw_moved_from();
  return impl_->acquire_claim(execution_id, claim_key, stage_id,
                              steal_if_owner_terminal);
}

CommitRange Transaction::commit() {
  if (!impl_) throw_moved_from();
  return impl_->commit();
}

void Transaction::rollback() noexcept {
  if (impl_) impl_->rollback();
}

CommitRange run_transaction(WorkflowStore& store, Queue* queue,
                            const std::function<void(Transaction&)>& fn,
                            int max_attempts) {
  if (max_attempts < 1) {
    throw InvalidArgumentError(
        fmt::format("max_attempts: must be at least 1, got {}", max_attempts));
  }
  for (int attempt = 1;; ++attempt) {
    Transaction txn = store.transaction(queue);
    fn(txn);
    try {
      return txn.commit();
    } catch (const ConcurrencyError&) {
      if (attempt >= max_attempts) throw;
    }
  }
}

}  // namespace wfstore
