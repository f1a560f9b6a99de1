// WorkflowStoreImpl: commands through the pipeline, reads from LMDB snapshots.

#include "store/workflow_store_impl.h"

#include <utility>

#include <fmt/format.h>

#include "wfstore/errors.h"

#include "wfstore_internal/views.h"

namespace wfstore {

WorkflowStoreImpl::WorkflowStoreImpl(LmdbViews& views, CommitPipeline* pipeline,
                                     std::filesystem::path dir, Logger logger,
                                     std::shared_ptr<Clock> clock,
                                     const std::atomic<const Queue*>* queue)
    : views_(views),
      pipeline_(pipeline),
      dir_(std::move(dir)),
      logger_(std::move(logger)),
      clock_(clock ? std::move(clock) : system_clock()),
      queue_(queue) {}

CommitResult WorkflowStoreImpl::commit(Command command) {
  std::vector<Command> commands;
  commands.push_back(std::move(command));
  return commit_commands(std::move(commands));
}

CommitResult WorkflowStoreImpl::commit_commands(std::vector<Command> commands) {
  if (closed_) throw IOError(fmt::format("store {} is closed", dir_.string()));
  if (pipeline_ == nullptr) {
    throw IOError(fmt::format("store {} is open read-only", dir_.string()));
  }
  // A commit may have to grow the views' map, which waits for every snapshot
  // of the process: one held by this thread would never end.
  if (views_.transactions_held_by_this_thread() != 0) {
    throw IOError(
        fmt::format("store {}: commit while this thread holds a views snapshot",
                    dir_.string()));
  }
  return pipeline_->commit(std::move(commands));
}

LmdbViews::Snapshot WorkflowStoreImpl::read() const {
  if (closed_) throw IOError(fmt::format("store {} is closed", dir_.string()));
  // A writer's store serves reads only while its pipeline is open: after a
  // failure the views may lack a group the log holds.
  if (pipeline_ != nullptr) pipeline_->check_usable();
  return views_.begin_read();
}

WorkflowRange WorkflowStoreImpl::range(std::vector<std::string> ids) const {
  return WorkflowRange(std::move(ids), [this](const std::string& id) {
    const LmdbViews::Snapshot snapshot = read();
    return load_workflow(snapshot, id, true);
  });
}

void WorkflowStoreImpl::store(const Workflow& workflow) {
  commit(StoreWorkflow{workflow});
}

Workflow WorkflowStoreImpl::retrieve(std::string_view workflow_id) const {
  const LmdbViews::Snapshot snapshot = read();
  std::optional<Workflow> workflow = load_workflow(snapshot, workflow_id, true);
  if (!workflow) throw WorkflowNotFoundError(std::string(workflow_id));
  return std::move(*workflow);
}

Workflow WorkflowStoreImpl::retrieve_execution_summary(
    std::string_view workflow_id) const {
  const LmdbViews::Snapshot snapshot = read();
  std::optional<Workflow> workflow =
      load_workflow(snapshot, workflow_id, false);
  if (!workflow) throw WorkflowNotFoundError(std::string(workflow_id));
  return std::move(*workflow);
}

void WorkflowStoreImpl::update_status(const Workflow& workflow) {
  commit(UpdateStatus::of(workflow));
}

void WorkflowStoreImpl::delete_workflow(std::string_view workflow_id) {
  commit(DeleteWorkflow{std::string(workflow_id)});
}

void WorkflowStoreImpl::store_stage(StageExecution& stage,
                                    std::optional<std::string> expected_phase) {
  const CommitResult result =
      commit(StoreStage{stage, std::move(expected_phase)});
  if (!result.decisions.empty())
    apply_store_stage_result(result.decisions.front().events, stage);
}

void WorkflowStoreImpl::add_stage(StageExecution& stage) {
  store_stage(stage, std::nullopt);
}

void WorkflowStoreImpl::remove_stage(std::string_view workflow_id,
                                     std::string_view stage_id) {
  commit(RemoveStage{std::string(workflow_id), std::string(stage_id)});
}

StageInExecution WorkflowStoreImpl::retrieve_stage(
    std::string_view stage_id) const {
  const LmdbViews::Snapshot snapshot = read();
  std::optional<StageInExecution> found =
      wfstore::retrieve_stage(snapshot, stage_id);
  if (!found) throw StageNotFoundError(std::string(stage_id));
  return std::move(*found);
}

StageSet WorkflowStoreImpl::get_upstream_stages(
    std::string_view workflow_id, std::string_view stage_ref_id) const {
  const LmdbViews::Snapshot snapshot = read();
  return upstream_stages(snapshot, workflow_id, stage_ref_id);
}

StageSet WorkflowStoreImpl::get_downstream_stages(
    std::string_view workflow_id, std::string_view stage_ref_id) const {
  const LmdbViews::Snapshot snapshot = read();
  return downstream_stages(snapshot, workflow_id, stage_ref_id);
}

StageSet WorkflowStoreImpl::get_synthetic_stages(
    std::string_view workflow_id, std::string_view parent_stage_id) const {
  const LmdbViews::Snapshot snapshot = read();
  return synthetic_stages(snapshot, workflow_id, parent_stage_id);
}

nlohmann::json WorkflowStoreImpl::get_merged_ancestor_outputs(
    std::string_view workflow_id, std::string_view stage_ref_id) const {
  const LmdbViews::Snapshot snapshot = read();
  return merged_ancestor_outputs(snapshot, workflow_id, stage_ref_id);
}

WorkflowRange WorkflowStoreImpl::retrieve_by_pipeline_config_id(
    std::string_view pipeline_config_id,
    const std::optional<WorkflowCriteria>& criteria) const {
  std::vector<std::string> ids;
  {
    const LmdbViews::Snapshot snapshot = read();
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
    const LmdbViews::Snapshot snapshot = read();
    ids = workflow_ids_by_application(snapshot, application, criteria);
  }
  return range(std::move(ids));
}

WorkflowRange WorkflowStoreImpl::get_all_pending_workflows(
    const WorkflowCriteria& criteria) const {
  std::vector<std::string> ids;
  {
    const LmdbViews::Snapshot snapshot = read();
    ids = pending_workflow_ids(snapshot, criteria);
  }
  return range(std::move(ids));
}

std::size_t WorkflowStoreImpl::count_by_application(
    std::string_view application) const {
  const LmdbViews::Snapshot snapshot = read();
  return wfstore::count_by_application(snapshot, application);
}

bool WorkflowStoreImpl::exists(std::string_view workflow_id) const {
  const LmdbViews::Snapshot snapshot = read();
  return workflow_exists(snapshot, workflow_id);
}

void WorkflowStoreImpl::pause(std::string_view workflow_id,
                              std::string_view paused_by) {
  commit(Pause{std::string(workflow_id), std::string(paused_by)});
}

void WorkflowStoreImpl::resume(std::string_view workflow_id) {
  const CommitResult result = commit(Resume{std::string(workflow_id)});
  const bool resumed =
      !result.decisions.empty() && !result.decisions.front().events.empty();
  // Spec §5.14: a workflow that is not PAUSED (or is missing) is left as it is,
  // with a warning.
  if (!resumed && logger_) {
    logger_(LogLevel::kWarning,
            fmt::format("resume of workflow '{}' had no effect: it is not "
                        "PAUSED",
                        workflow_id));
  }
}

void WorkflowStoreImpl::cancel(std::string_view workflow_id,
                               std::string_view canceled_by,
                               std::string_view reason) {
  commit(Cancel{std::string(workflow_id), std::string(canceled_by),
                std::string(reason)});
}

bool WorkflowStoreImpl::is_message_processed(
    std::string_view message_id) const {
  const LmdbViews::Snapshot snapshot = read();
  return wfstore::is_message_processed(snapshot, message_id);
}

void WorkflowStoreImpl::mark_message_processed(
    std::string_view message_id, std::optional<std::string> handler_type,
    std::optional<std::string> execution_id) {
  commit(MarkMessageProcessed{std::string(message_id), std::move(handler_type),
                              std::move(execution_id)});
}

std::size_t WorkflowStoreImpl::cleanup_old_processed_messages(
    std::chrono::milliseconds max_age) {
  const CommitResult result = commit(CleanupProcessedMessages{max_age.count()});
  return result.decisions.empty()
             ? 0
             : static_cast<std::size_t>(result.decisions.front().count);
}

std::vector<std::string> WorkflowStoreImpl::get_processed_message_ids(
    std::optional<std::size_t> limit) const {
  const LmdbViews::Snapshot snapshot = read();
  return processed_message_ids(snapshot, limit);
}

std::size_t WorkflowStoreImpl::cleanup_completed_stage_claims() {
  const CommitResult result = commit(CleanupCompletedStageClaims{});
  return result.decisions.empty()
             ? 0
             : static_cast<std::size_t>(result.decisions.front().count);
}

bool WorkflowStoreImpl::is_healthy() const noexcept {
  try {
    const LmdbViews::Snapshot snapshot = read();
    (void)applied_lsn(snapshot);
    return true;
  } catch (const std::exception&) {
    return false;
  }
}

}  // namespace wfstore
