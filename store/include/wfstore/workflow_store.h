// The WorkflowStore interface: stabilize's persistence interface method by
// method (docs/semantics.md §5), with wfstore's decisions on its quirks
// (Q1-Q13 in docs/semantics.md §9). Every write appends its event(s) to the
// log; a write that is a no-op by the reference semantics appends nothing.
//
// Thread-safety: every method may be called concurrently from any thread.
//
// Errors: every method may throw IOError: failed I/O, a closed store, or a
// store whose writer failed earlier (every call, reads included, then throws
// until the store is reopened). An IOError from a write leaves its outcome
// unknown: the write may be in the log and reappear after reopening, whole,
// never half-applied. Any other error from a write means nothing changed.

#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <iterator>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "wfstore/model.h"
#include "wfstore/stage_set.h"
#include "wfstore/transaction.h"

namespace wfstore {

// A lazy range of workflows: ids read in one snapshot, each workflow loaded in
// its own short read when the iterator reaches it; workflows deleted in between
// are skipped. Single pass.
class WorkflowRange {
 public:
  // Returns the workflow or nullopt if it no longer exists.
  using Loader = std::function<std::optional<Workflow>(const std::string& id)>;

  WorkflowRange(std::vector<std::string> ids, Loader loader)
      : ids_(std::move(ids)), loader_(std::move(loader)) {}

  class Iterator {
   public:
    using iterator_category = std::input_iterator_tag;
    using value_type = Workflow;
    using difference_type = std::ptrdiff_t;
    using pointer = const Workflow*;
    using reference = const Workflow&;

    Iterator() = default;
    const Workflow& operator*() const { return *current_; }
    const Workflow* operator->() const { return &*current_; }
    Iterator& operator++() {
      ++pos_;
      load();
      return *this;
    }
    friend bool operator==(const Iterator& a, const Iterator& b) {
      return a.pos_ == b.pos_;
    }
    friend bool operator!=(const Iterator& a, const Iterator& b) {
      return !(a == b);
    }

   private:
    friend class WorkflowRange;
    Iterator(const WorkflowRange* range, std::size_t pos)
        : range_(range), pos_(pos) {
      load();
    }
    void load() {
      current_.reset();
      while (range_ != nullptr && pos_ < range_->ids_.size()) {
        current_ = range_->loader_(range_->ids_[pos_]);
        if (current_) return;
        ++pos_;
      }
    }
    const WorkflowRange* range_ = nullptr;
    std::size_t pos_ = 0;
    std::optional<Workflow> current_;
  };

  using iterator = Iterator;

  iterator begin() const { return iterator(this, 0); }
  iterator end() const { return iterator(nullptr, ids_.size()); }
  // The ids selected by the query, in result order (some may be deleted by
  // now).
  const std::vector<std::string>& ids() const { return ids_; }

 private:
  std::vector<std::string> ids_;
  Loader loader_;
};

class WorkflowStore {
 public:
  virtual ~WorkflowStore() = default;

  // Stores a new workflow with all its stages and tasks (tasks stored at
  // version 0). Throws InvalidArgumentError (limits, mismatched execution_id),
  // DuplicateError (the id exists; duplicate stage id or ref_id), IOError.
  virtual void store(const Workflow& workflow) = 0;
  // The workflow with all stages (insertion order) and tasks (list order).
  // Throws WorkflowNotFoundError.
  virtual Workflow retrieve(std::string_view workflow_id) const = 0;
  // The workflow's fields with no stages. Throws WorkflowNotFoundError.
  virtual Workflow retrieve_execution_summary(
      std::string_view workflow_id) const = 0;
  // Writes status, start_time, end_time, is_canceled, canceled_by,
  // cancellation_reason and paused (docs/semantics.md §5.4); a missing id is a
  // silent no-op.
  virtual void update_status(const Workflow& workflow) = 0;
  // Deletes the workflow with its stages and tasks; dedup rows, claims, queue
  // messages and history stay. A missing id is a no-op.
  virtual void delete_workflow(std::string_view workflow_id) = 0;

  // Inserts the stage if its id is new (version and expected_phase ignored),
  // else updates status, context, outputs, start_time and end_time if the
  // stored version equals stage.version and, when given, the stored status is
  // named expected_phase; tasks are upserted in list order. On success bumps
  // stage.version and every listed task's version (new tasks stay at 0); on
  // failure leaves `stage` untouched. Throws ConcurrencyError,
  // InvalidArgumentError (limits; expected_phase not a status name),
  // WorkflowNotFoundError for a stage whose workflow does not exist,
  // DuplicateError (a new stage reusing a ref_id).
  virtual void store_stage(
      StageExecution& stage,
      std::optional<std::string> expected_phase = std::nullopt) = 0;
  // store_stage(stage) with no phase (docs/semantics.md §5.7).
  virtual void add_stage(StageExecution& stage) = 0;
  // Deletes the stage and its tasks; `workflow_id` is checked only for limits,
  // as the reference ignores it. A missing id is a no-op.
  virtual void remove_stage(std::string_view workflow_id,
                            std::string_view stage_id) = 0;
  // Throws StageNotFoundError ("Stage {id} not found").
  virtual StageInExecution retrieve_stage(std::string_view stage_id) const = 0;

  virtual StageSet get_upstream_stages(std::string_view workflow_id,
                                       std::string_view stage_ref_id) const = 0;
  virtual StageSet get_downstream_stages(
      std::string_view workflow_id, std::string_view stage_ref_id) const = 0;
  virtual StageSet get_synthetic_stages(
      std::string_view workflow_id, std::string_view parent_stage_id) const = 0;
  // docs/semantics.md §5.9; {} when the workflow or the ref is missing.
  virtual nlohmann::json get_merged_ancestor_outputs(
      std::string_view workflow_id, std::string_view stage_ref_id) const = 0;

  // docs/semantics.md §2 with Q1/Q2: nullopt criteria means no filter and no
  // limit; start_time DESC, NULLs last, then id. Throws InvalidArgumentError
  // for a negative page size.
  virtual WorkflowRange retrieve_by_pipeline_config_id(
      std::string_view pipeline_config_id,
      const std::optional<WorkflowCriteria>& criteria = std::nullopt) const = 0;
  virtual WorkflowRange retrieve_by_application(
      std::string_view application,
      const std::optional<WorkflowCriteria>& criteria = std::nullopt) const = 0;
  // The recovery query: statuses filter, start_time >= start_time_after or
  // NULL.
  virtual WorkflowRange get_all_pending_workflows(
      const WorkflowCriteria& criteria) const = 0;
  virtual std::size_t count_by_application(
      std::string_view application) const = 0;
  virtual bool exists(std::string_view workflow_id) const = 0;

  // docs/semantics.md §5.13-5.15: unconditional pause; resume only from PAUSED
  // (else a logged no-op); cancel sets the three cancel fields only. Missing
  // ids are no-ops.
  virtual void pause(std::string_view workflow_id,
                     std::string_view paused_by) = 0;
  virtual void resume(std::string_view workflow_id) = 0;
  virtual void cancel(std::string_view workflow_id,
                      std::string_view canceled_by,
                      std::string_view reason) = 0;

  // Dedup ledger (docs/semantics.md §5.16): insert-if-absent, first writer
  // wins.
  virtual bool is_message_processed(std::string_view message_id) const = 0;
  virtual void mark_message_processed(
      std::string_view message_id,
      std::optional<std::string> handler_type = std::nullopt,
      std::optional<std::string> execution_id = std::nullopt) = 0;
  // Deletes marks with processed_at < now - max_age (exact times, Q4); returns
  // the count.
  virtual std::size_t cleanup_old_processed_messages(
      std::chrono::milliseconds max_age) = 0;
  // Up to `limit` processed ids (all when nullopt), in processing order.
  virtual std::vector<std::string> get_processed_message_ids(
      std::optional<std::size_t> limit = std::nullopt) const = 0;

  // Deletes the claims of workflows whose status is complete
  // (docs/semantics.md §5.17) and returns the count.
  virtual std::size_t cleanup_completed_stage_claims() = 0;

  // Opens a transaction (docs/write-path.md#transactions). `queue` exists for
  // parity with the reference: it must be null or this store's own queue
  // (InvalidArgumentError otherwise). Throws InvalidArgumentError when this
  // thread already has an open transaction on this store (no nesting),
  // IOError for a read-only or closed store. A non-transactional call made
  // while a transaction is open commits on its own.
  virtual Transaction transaction(Queue* queue = nullptr) = 0;

  // True when the views can be read; never throws.
  virtual bool is_healthy() const noexcept = 0;
};

}  // namespace wfstore
