// WorkflowStoreImpl: commands and reads through the StoreCore.

#include "store/workflow_store_impl.h"

#include <utility>

#include <fmt/format.h>

#include "wfstore/errors.h"

#include "wfstore_internal/views.h"

namespace wfstore {

WorkflowRange WorkflowStoreImpl::range(std::vector<std::string> ids) const {
  return WorkflowRange(std::move(ids), [this](const std::string& id) {
    const LmdbViews::Snapshot snapshot = core_.read();
    return load_workflow(snapshot, id, true);
  });
}

void WorkflowStoreImpl::store(const Workflow& workflow) {
  core_.commit_one(StoreWorkflow{workflow});
}

Workflow WorkflowStoreImpl::retrieve(std::string_view workflow_id) const {
  const LmdbViews::Snapshot snapshot = core_.read();
  std::optional<Workflow> workflow = load_workflow(snapshot, workflow_id, true);
  if (!workflow) throw WorkflowNotFoundError(std::string(workflow_id));
  return std::move(*workflow);
}

Workflow WorkflowStoreImpl::retrieve_execution_summary(
    std::string_view workflow_id) const {
  const LmdbViews::Snapshot snapshot = core_.read();
  std::optional<Workflow> workflow =
      load_workflow(snapshot, workflow_id, false);
  if (!workflow) throw WorkflowNotFoundError(std::string(workflow_id));
  return std::move(*workflow);
}

void WorkflowStoreImpl::update_status(const Workflow& workflow) {
  core_.commit_one(UpdateStatus::of(workflow));
}

void WorkflowStoreImpl::delete_workflow(std::string_view workflow_id) {
  core_.commit_one(DeleteWorkflow{std::string(workflow_id)});
}

void WorkflowStoreImpl::store_stage(StageExecution& stage,
                                    std::optional<std::string> expected_phase) {
  const Decision decision =
      core_.commit_one(StoreStage{stage, std::move(expected_phase)});
  apply_store_stage_result(decision.events, stage);
}

void WorkflowStoreImpl::add_stage(StageExecution& stage) {
  store_stage(stage, std::nullopt);
}

void WorkflowStoreImpl::remove_stage(std::string_view workflow_id,
                                     std::string_view stage_id) {
  core_.commit_one(
      RemoveStage{std::string(workflow_id), std::string(stage_id)});
}

StageInExecution WorkflowStoreImpl::retrieve_stage(
    std::string_view stage_id) const {
  const LmdbViews::Snapshot snapshot = core_.read();
  std::optional<StageInExecution> found =
      wfstore::retrieve_stage(snapshot, stage_id);
  if (!found) throw StageNotFoundError(std::string(stage_id));
  return std::move(*found);
}

StageSet WorkflowStoreImpl::get_upstream_stages(
    std::string_view workflow_id, std::string_view stage_ref_id) const {
  const LmdbViews::Snapshot snapshot = core_.read();
  return upstream_stages(snapshot, workflow_id, stage_ref_id);
}

StageSet WorkflowStoreImpl::get_downstream_stages(
    std::string_view workflow_id, std::string_view stage_ref_id) const {
  const LmdbViews::Snapshot snapshot = core_.read();
  return downstream_stages(snapshot, workflow_id, stage_ref_id);
}

StageSet WorkflowStoreImpl::get_synthetic_stages(
    std::string_view workflow_id, std::string_view parent_stage_id) const {
  const LmdbViews::Snapshot snapshot = core_.read();
  return synthetic_stages(snapshot, workflow_id, parent_stage_id);
}

nlohmann::json WorkflowStoreImpl::get_merged_ancestor_outputs(
    std::string_view workflow_id, std::string_view stage_ref_id) const {
  const LmdbViews::Snapshot snapshot = core_.read();
  return merged_ancestor_outputs(snapshot, workflow_id, stage_ref_id);
}

WorkflowRange WorkflowStoreImpl::retrieve_by_pipeline_config_id(
    std::string_view pipeline_config_id,
    const std::optional<WorkflowCriteria>& criteria) const {
  std::vector<std::string> ids;
  {
    const LmdbViews::Snapshot snapshot = core_.read();
    ids = workflow_ids_by_pipeline_config_id(snapshot, pipeline_config_id,
                                             criteria);
  }
  return range(std::move(ids));
}

WorkflowRange WorkflowStoreImpl::retrieve_by_application(
    std::string_view application,
    const std::optional<WorkflowCriteria>& criteria) const {
  std::vector<std::string> ids;
  {
    const LmdbViews::Snapshot snapshot = core_.read();
    ids = workflow_ids_by_application(snapshot, application, criteria);
  }
  return range(std::move(ids));
}

WorkflowRange WorkflowStoreImpl::get_all_pending_workflows(
    const WorkflowCriteria& criteria) const {
  std::vector<std::string> ids;
  {
    const LmdbViews::Snapshot snapshot = core_.read();
    ids = pending_workflow_ids(snapshot, criteria);
  }
  return range(std::move(ids));
}

std::size_t WorkflowStoreImpl::count_by_application(
    std::string_view application) const {
  const LmdbViews::Snapshot snapshot = core_.read();
  return wfstore::count_by_application(snapshot, application);
}

bool WorkflowStoreImpl::exists(std::string_view workflow_id) const {
  const LmdbViews::Snapshot snapshot = core_.read();
  return workflow_exists(snapshot, workflow_id);
}

void WorkflowStoreImpl::pause(std::string_view workflow_id,
                              std::string_view paused_by) {
  core_.commit_one(Pause{std::string(workflow_id), std::string(paused_by)});
}

void WorkflowStoreImpl::resume(std::string_view workflow_id) {
  const bool resumed =
      !core_.commit_one(Resume{std::string(workflow_id)}).events.empty();
  // docs/semantics.md §5.14: a workflow that is not PAUSED (or is missing) is
  // left as it is, with a warning.
  if (const Logger& logger = core_.options().logger; !resumed && logger) {
    logger(LogLevel::kWarning,
           fmt::format("resume of workflow '{}' had no effect: it is not "
                       "PAUSED",
                       workflow_id));
  }
}

void WorkflowStoreImpl::cancel(std::string_view workflow_id,
                               std::string_view canceled_by,
                               std::string_view reason) {
  core_.commit_one(Cancel{std::string(workflow_id), std::string(canceled_by),
                          std::string(reason)});
}

bool WorkflowStoreImpl::is_message_processed(
    std::string_view message_id) const {
  const LmdbViews::Snapshot snapshot = core_.read();
  return wfstore::is_message_processed(snapshot, message_id);
}

void WorkflowStoreImpl::mark_message_processed(
    std::string_view message_id, std::optional<std::string> handler_type,
    std::optional<std::string> execution_id) {
  core_.commit_one(MarkMessageProcessed{std::string(message_id),
                                        std::move(handler_type),
                                        std::move(execution_id)});
}

std::size_t WorkflowStoreImpl::cleanup_old_processed_messages(
    std::chrono::milliseconds max_age) {
  return static_cast<std::size_t>(
      core_.commit_one(CleanupProcessedMessages{max_age.count()}).count);
}

std::vector<std::string> WorkflowStoreImpl::get_processed_message_ids(
    std::optional<std::size_t> limit) const {
  const LmdbViews::Snapshot snapshot = core_.read();
  return processed_message_ids(snapshot, limit);
}

std::size_t WorkflowStoreImpl::cleanup_completed_stage_claims() {
  return static_cast<std::size_t>(
      core_.commit_one(CleanupCompletedStageClaims{}).count);
}

bool WorkflowStoreImpl::is_healthy() const noexcept {
  try {
    const LmdbViews::Snapshot snapshot = core_.read();
    (void)applied_lsn(snapshot);
    return true;
  } catch (const std::exception&) {
    return false;
  }
}

}  // namespace wfstore
