// The WorkflowStore over a Database: every write is one command committed
// through the StoreCore; every read is a short snapshot from it and a
// projector query.
//
// Thread-safety: every method may be called concurrently.

#pragma once

#include <string>
#include <vector>

#include "wfstore/workflow_store.h"

#include "wfstore_internal/store_core.h"

namespace wfstore {

class WorkflowStoreImpl final : public WorkflowStore {
 public:
  // `core` must outlive this. Its logger receives the warnings of logged
  // no-ops (resume of a workflow that is not PAUSED); its clock times a
  // transaction's eager checks; transaction() accepts only a null queue or
  // the one attached to it.
  explicit WorkflowStoreImpl(StoreCore& core) : core_(core) {}

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

 private:
  WorkflowRange range(std::vector<std::string> ids) const;

  StoreCore& core_;
};

}  // namespace wfstore
