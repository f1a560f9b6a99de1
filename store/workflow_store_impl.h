// The WorkflowStore over a Database: every write is one command committed
// through the pipeline; every read is a short LMDB snapshot and a projector
// query.
//
// Thread-safety: every method may be called concurrently.

#pragma once

#include <atomic>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "wfstore/database.h"
#include "wfstore/logger.h"
#include "wfstore/workflow_store.h"

#include "store/commit_pipeline.h"
#include "wfstore_internal/lmdb_views.h"

namespace wfstore {

class WorkflowStoreImpl final : public WorkflowStore {
 public:
  // `views` must outlive this; `pipeline` too, or is null for a read-only store
  // (writes then throw IOError). `dir` names the store in messages.
  // `logger` receives the warnings of logged no-ops (resume of a workflow that
  // is not PAUSED). `clock` times a transaction's eager checks (the system
  // clock when null). `queue` points at the Database's attached-queue slot,
  // which must outlive this (null: no queue can be attached; transaction()
  // then accepts only a null queue).
  WorkflowStoreImpl(LmdbViews& views, CommitPipeline* pipeline,
                    std::filesystem::path dir, Logger logger,
                    std::shared_ptr<Clock> clock = nullptr,
                    const std::atomic<const Queue*>* queue = nullptr);

  // Makes every later call throw IOError ("store ... is closed"). A writer's
  // store needs no mark: its pipeline's state (open, closing, failed, closed)
  // decides every call.
  void mark_closed() { closed_ = true; }

  void store(const Workflow& workflow) override;
  Workflow retrieve(std::string_view workflow_id) const override;
  Workflow retrieve_execution_summary(
      std::string_view workflow_id) const override;
  void update_status(const Workflow& workflow) override;
  void delete_workflow(std::string_view workflow_id) override;
  void store_stage(
      StageExecution& stage,
      std::optional<std::string> expected_phase = std::nullopt) override;
  void add_stage(StageExecution& stage) override;
  void remove_stage(std::string_view workflow_id,
                    std::string_view stage_id) override;
  StageInExecution retrieve_stage(std::string_view stage_id) const override;
  StageSet get_upstream_stages(std::string_view workflow_id,
                               std::string_view stage_ref_id) const override;
  StageSet get_downstream_stages(std::string_view workflow_id,
                                 std::string_view stage_ref_id) const override;
  StageSet get_synthetic_stages(
      std::string_view workflow_id,
      std::string_view parent_stage_id) const override;
  nlohmann::json get_merged_ancestor_outputs(
      std::string_view workflow_id,
      std::string_view stage_ref_id) const override;
  WorkflowRange retrieve_by_pipeline_config_id(
      std::string_view pipeline_config_id,
      const std::optional<WorkflowCriteria>& criteria =
          std::nullopt) const override;
  WorkflowRange retrieve_by_application(
      std::string_view application,
      const std::optional<WorkflowCriteria>& criteria =
          std::nullopt) const override;
  WorkflowRange get_all_pending_workflows(
      const WorkflowCriteria& criteria) const override;
  std::size_t count_by_application(std::string_view application) const override;
  bool exists(std::string_view workflow_id) const override;
  void pause(std::string_view workflow_id, std::string_view paused_by) override;
  void resume(std::string_view workflow_id) override;
  void cancel(std::string_view workflow_id, std::string_view canceled_by,
              std::string_view reason) override;
  bool is_message_processed(std::string_view message_id) const override;
  void mark_message_processed(
      std::string_view message_id,
      std::optional<std::string> handler_type = std::nullopt,
      std::optional<std::string> execution_id = std::nullopt) override;
  std::size_t cleanup_old_processed_messages(
      std::chrono::milliseconds max_age) override;
  std::vector<std::string> get_processed_message_ids(
      std::optional<std::size_t> limit = std::nullopt) const override;
  std::size_t cleanup_completed_stage_claims() override;
  Transaction transaction(Queue* queue = nullptr) override;
  bool is_healthy() const noexcept override;

  // For transactions (store/transaction.cc): commits `commands` as one
  // record, as CommitPipeline::commit() does. Throws IOError for a closed or
  // read-only store, and what the pipeline throws.
  CommitResult commit_commands(std::vector<Command> commands);
  // A read snapshot of the views. Throws IOError (a closed store, or a
  // writer that failed: a failed log write or sync, or a failed view commit).
  LmdbViews::Snapshot read() const;
  Clock& clock() const { return *clock_; }

 private:
  CommitResult commit(Command command);
  WorkflowRange range(std::vector<std::string> ids) const;

  LmdbViews& views_;
  CommitPipeline* pipeline_;
  std::filesystem::path dir_;
  Logger logger_;
  std::shared_ptr<Clock> clock_;
  const std::atomic<const Queue*>* queue_;
  std::atomic<bool> closed_{false};
};

}  // namespace wfstore
