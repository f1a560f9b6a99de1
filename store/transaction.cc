// Transactions (docs/write-path.md#transactions): each operation is decided
// eagerly against the latest committed views plus the transaction's own pending
// commands; commit() hands every command to the writer as one multi-command
// commit, which the leader decides again against the current state (the
// authoritative check). A transaction holds no read snapshot between its
// operations.

#include "wfstore/transaction.h"

#include <algorithm>
#include <map>
#include <mutex>
#include <set>
#include <thread>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "wfstore/audit_scope.h"
#include "wfstore/errors.h"
#include "wfstore/workflow_store.h"

#include "store/workflow_store_impl.h"
#include "wfstore_internal/decide.h"
#include "wfstore_internal/overlay_view_store.h"
#include "wfstore_internal/views.h"

namespace wfstore {
namespace {

// The (thread, store) pairs with an open transaction: transactions do not
// nest on a thread. One registry for every thread, under a mutex, because a
// transaction may end on another thread than the one that opened it (moved
// there, or destroyed there by a garbage collector), possibly after its
// opener exited.
class OpenTransactions {
 public:
  // Registers `store` for the calling thread; false when it already has one.
  bool add(const StoreCore* store, std::thread::id thread) {
    std::lock_guard lock(mu_);
    return open_.emplace(thread, store).second;
  }
  void remove(const StoreCore* store, std::thread::id thread) noexcept {
    std::lock_guard lock(mu_);
    open_.erase({thread, store});
  }

 private:
  std::mutex mu_;
  std::set<std::pair<std::thread::id, const StoreCore*>> open_;
};

OpenTransactions& open_transactions() {
  static OpenTransactions registry;
  return registry;
}

// The views an operation reads through: the read snapshot the operation
// took, and nothing between operations.
class SnapshotSlot final : public ViewReader {
 public:
  std::optional<std::string> get(Table table,
                                 std::string_view key) const override {
    return target().get(table, key);
  }
  void get_with(Table table, std::string_view key,
                const ValueFn& fn) const override {
    target().get_with(table, key, fn);
  }
  void scan(Table table, std::string_view from_key, std::string_view to_key,
            const ScanFn& fn, bool reverse) const override {
    target().scan(table, from_key, to_key, fn, reverse);
  }
  void set(const ViewReader* target) noexcept { target_ = target; }

 private:
  const ViewReader& target() const {
    // The overlay reads its base only inside an operation.
    if (target_ == nullptr) {
      throw IOError("transaction: read outside an operation");
    }
    return *target_;
  }
  const ViewReader* target_ = nullptr;
};

}  // namespace

class Transaction::Impl {
 public:
  // `opener`: the thread registered in open_transactions() for `store`.
  Impl(StoreCore& store, std::thread::id opener)
      : store_(store),
        overlay_(base_, /*keep_journal=*/true),
        opener_(opener) {}
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
    return decision.result;
  }

  CommitRange commit() {
    check_open();
    if (commands_.empty()) {
      finish(State::kCommitted);
      return CommitRange{};
    }
    std::optional<PreparedDecision> prepared;
    if (base_lsn_ && uniform_) {
      prepared.emplace();
      prepared->base_lsn = *base_lsn_;
      prepared->timestamp_ms = decided_at_;
      prepared->audit = audit_;
      prepared->decisions = std::move(decisions_);
      prepared->writes = overlay_.take_journal();
    }
    std::vector<Command> commands = std::move(commands_);
    commands_.clear();
    decisions_.clear();
    overlay_.clear();
    CommitResult result;
    try {
      result =
          store_.commit(std::move(commands), std::nullopt, std::move(prepared));
    } catch (...) {
      rollback();
      throw;
    }
    // The caller's versions were bumped by each operation; the leader decided
    // every StoreStage against the same stored versions and as the same kind
    // (insert or update), or the commit would have failed, so they are
    // already what was committed: a successful commit does not touch the
    // caller's objects again.
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

  // Decides `command` against the latest committed views plus the pending
  // commands, folds its events into the overlay and keeps it for commit(),
  // marked with what was decided (the commit must decide the same). A
  // rejected command throws with nothing kept.
  //
  // The overlay holds the pending commands' writes as folded over the views
  // at applied LSN `base_lsn_`. When other commits moved the views since,
  // the pending commands are decided and folded again over the latest views
  // (with their eager kinds, so a pending command that no longer holds
  // throws ConcurrencyError here, as the commit would). Delivery ids and LSNs
  // in the overlay are provisional: the writer assigns them at commit.
  Decision apply(Command command) {
    check_open();
    const LmdbViews::Snapshot snapshot = store_.read();
    base_.set(&snapshot);
    struct Unset {
      SnapshotSlot& slot;
      ~Unset() { slot.set(nullptr); }
    } unset{base_};
    const DecideContext context{store_.clock().now_ms()};
    const AuditFields& fields = AuditScope::current();
    const AuditMetadata audit{fields.actor, fields.correlation_id,
                              fields.causation_id, fields.source};
    const std::uint64_t latest = applied_lsn(snapshot);
    if (base_lsn_ != latest) refold(latest, context, audit);
    std::uint64_t lsn = next_lsn_;
    Decision decision;
    try {
      decision =
          decide_and_fold(command, overlay_, context, commit_id_, lsn, audit);
    } catch (...) {
      // decide() does not write: an LSN was taken only if a fold began, and
      // then the overlay is folded again at the next operation.
      if (lsn != next_lsn_) base_lsn_.reset();
      throw;
    }
    next_lsn_ = lsn;
    if (commands_.empty()) {
      decided_at_ = context.now_ms;
      audit_ = audit;
      uniform_ = true;
    } else if (decided_at_ != context.now_ms || !(audit_ == audit)) {
      uniform_ = false;
    }
    expect(command, decision);
    decisions_.push_back(decision);
    commands_.push_back(std::move(command));
    return decision;
  }

  // Folds the pending commands again over the views at applied LSN `latest`.
  void refold(std::uint64_t latest, const DecideContext& context,
              const AuditMetadata& audit) {
    base_lsn_.reset();
    overlay_.clear();
    decisions_.clear();
    commit_id_ = latest + 1;
    next_lsn_ = commit_id_;
    for (const Command& pending : commands_) {
      decisions_.push_back(decide_and_fold(pending, overlay_, context,
                                           commit_id_, next_lsn_, audit));
    }
    decided_at_ = context.now_ms;
    audit_ = audit;
    uniform_ = true;
    base_lsn_ = latest;
  }

  // Records in `command` what its eager decision was, for the writer's
  // decision at commit (commands.h, DecisionKind). A push is always a
  // push; a mark is insert-if-absent whichever way it is decided
  // (docs/semantics.md §10.3 item 27: concurrent marks of one id all commit),
  // so neither carries a kind.
  static void expect(Command& command, const Decision& decision) {
    if (auto* store_stage = std::get_if<StoreStage>(&command)) {
      const bool added =
          !decision.events.empty() &&
          std::holds_alternative<StageAdded>(decision.events.front());
      store_stage->expected_kind =
          added ? DecisionKind::kInsert : DecisionKind::kUpdate;
    } else if (auto* status = std::get_if<SetWorkflowStatus>(&command)) {
      status->expected_kind =
          decision.events.empty() ? DecisionKind::kNoOp : DecisionKind::kUpdate;
    } else if (auto* claim = std::get_if<AcquireClaim>(&command)) {
      claim->expected_result = decision.result;
    }
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
    overlay_.clear();
    decisions_.clear();
    base_lsn_.reset();
    commands_.clear();
    if (registered_) {
      open_transactions().remove(&store_, opener_);
      registered_ = false;
    }
  }

  StoreCore& store_;
  SnapshotSlot base_;
  OverlayViewStore overlay_;  // Over base_.
  // The applied LSN of the views the overlay was folded over; nullopt when
  // the overlay must be folded again.
  std::optional<std::uint64_t> base_lsn_;
  // The commit id and LSNs the overlay's events get: after base_lsn_'s.
  std::uint64_t commit_id_ = 0;
  std::uint64_t next_lsn_ = 0;
  std::vector<Command> commands_;
  // The decisions of commands_ over the overlay's base, all made at
  // decided_at_ with audit_ when uniform_, and the overlay's journal of their
  // fold's writes: handed to the commit (PreparedDecision).
  std::vector<Decision> decisions_;
  std::int64_t decided_at_ = 0;
  AuditMetadata audit_;
  bool uniform_ = false;
  std::vector<SavedStage> saved_;
  State state_ = State::kOpen;
  const std::thread::id opener_;
  bool registered_ = true;  // until finish()
};

Transaction WorkflowStoreImpl::transaction(Queue* queue) {
  core_.check_writer("a transaction");
  if (queue != nullptr && queue != core_.queue()) {
    throw InvalidArgumentError(
        "queue: the queue belongs to another store (pass null or this "
        "store's queue)");
  }
  // A closed store or poisoned views fail here rather than at the first
  // operation.
  (void)core_.read();
  const std::thread::id self = std::this_thread::get_id();
  if (!open_transactions().add(&core_, self)) {
    throw InvalidArgumentError(
        "a transaction is already open on this store in this thread "
        "(transactions do not nest)");
  }
  try {
    return Transaction(std::make_unique<Transaction::Impl>(core_, self));
  } catch (...) {
    open_transactions().remove(&core_, self);
    throw;
  }
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
  // Like stabilize's retry_on_concurrency_error around a transaction block: a
  // conflict found by an operation (eagerly) or by the commit reruns fn.
  for (int attempt = 1;; ++attempt) {
    try {
      Transaction txn = store.transaction(queue);
      fn(txn);
      return txn.commit();
    } catch (const ConcurrencyError&) {
      if (attempt >= max_attempts) throw;
    }
  }
}

}  // namespace wfstore
