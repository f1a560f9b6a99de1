// Table names, key checks and the ordered dump shared by every view store.

#include "wfstore_internal/view_store.h"

#include <fmt/format.h>

#include "wfstore/errors.h"

namespace wfstore {

void ViewReader::get_with(Table table, std::string_view key,
                          const ValueFn& fn) const {
  const std::optional<std::string> value = get(table, key);
  if (value) {
    fn(std::string_view(*value));
  } else {
    fn(std::nullopt);
  }
}

bool ViewReader::contains(Table table, std::string_view key) const {
  bool found = false;
  get_with(table, key, [&](std::optional<std::string_view> value) {
    found = value.has_value();
  });
  return found;
}

const char* table_name(Table table) {
  switch (table) {
    case Table::kIds:
      return "ids";
    case Table::kWorkflows:
      return "workflows";
    case Table::kStages:
      return "stages";
    case Table::kStageOrder:
      return "stage_order";
    case Table::kByApplication:
      return "by_application";
    case Table::kByPipelineConfig:
      return "by_pipeline_config";
    case Table::kByStartTime:
      return "by_start_time";
    case Table::kProcessedMessages:
      return "processed_messages";
    case Table::kProcessedByTime:
      return "processed_by_time";
    case Table::kQueueMessages:
      return "queue_messages";
    case Table::kQueueReady:
      return "queue_ready";
    case Table::kQueueLeases:
      return "queue_leases";
    case Table::kQueueTaskIndex:
      return "queue_task_index";
    case Table::kDeadLetters:
      return "dead_letters";
    case Table::kClaims:
      return "claims";
    case Table::kWorkflowEvents:
      return "workflow_events";
    case Table::kMeta:
      return "meta";
    case Table::kEntityEvents:
      return "entity_events";
    case Table::kTypeEvents:
      return "type_events";
    case Table::kCommits:
      return "commits";
    case Table::kCommitTimes:
      return "commit_times";
    case Table::kActorCommits:
      return "actor_commits";
    case Table::kCorrelationCommits:
      return "correlation_commits";
    case Table::kEventCounts:
      return "event_counts";
    case Table::kLogPositions:
      return "log_positions";
  }
  throw InvalidArgumentError(fmt::format("view table: unknown table number {}",
                                         static_cast<int>(table)));
}

void check_view_key(Table table, std::string_view key) {
  if (key.empty() || key.size() > kMaxKeySize) {
    throw InvalidArgumentError(
        fmt::format("view table {}: key of {} bytes; must be 1..{}",
                    table_name(table), key.size(), kMaxKeySize));
  }
}

std::vector<std::pair<std::string, std::string>> dump_table(
    const ViewReader& reader, Table table) {
  std::vector<std::pair<std::string, std::string>> rows;
  reader.scan(table, {}, {}, [&](std::string_view key, std::string_view value) {
    rows.emplace_back(key, value);
    return true;
  });
  return rows;
}

}  // namespace wfstore
