// The model's comparisons, helpers (graph queries, output merging, context)
// and validation of every limit and model rule.

#include "wfstore/model.h"

#include <charconv>
#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include <fmt/format.h>

#include "wfstore/errors.h"
#include "wfstore/limits.h"

#include "events/model/utf8.h"
#include "wfstore_internal/outputs_merge.h"
#include "wfstore_internal/stage_graph.h"

namespace wfstore {
namespace {

constexpr std::string_view kOutputReducersKey = "_output_reducers";

[[noreturn]] void invalid(std::string_view field, std::string_view what) {
  throw InvalidArgumentError(fmt::format("{}: {}", field, what));
}

// Field names are built for every validated field, error or not, so these
// concatenate directly rather than going through fmt's format parser.
std::string path(std::string_view field, std::string_view member) {
  std::string out;
  out.reserve(field.size() + 1 + member.size());
  out.append(field).append(1, '.').append(member);
  return out;
}

std::string indexed(std::string_view field, std::string_view member,
                    std::size_t index) {
  char digits[24];
  const auto end = std::to_chars(digits, digits + sizeof digits, index).ptr;
  std::string out = path(field, member);
  out.append(1, '[').append(digits, end).append(1, ']');
  return out;
}

void validate_optional(const std::optional<std::string>& value,
                       std::string_view field) {
  if (value) validate_string(*value, field);
}

// Enum fields may hold any integer after a cast; reject those outside the enum.
template <typename Enum>
void validate_enum(Enum value, int count, std::string_view field,
                   std::string_view what) {
  const int raw = static_cast<int>(value);
  if (raw < 0 || raw >= count) {
    invalid(field, fmt::format("unknown {} {}", what, raw));
  }
}

void validate_status(WorkflowStatus status, std::string_view field) {
  validate_enum(status, kWorkflowStatusCount, field, "status");
}

template <typename Pred>
std::vector<const StageExecution*> select(const Workflow& workflow, Pred pred) {
  std::vector<const StageExecution*> result;
  for (const StageExecution& candidate : workflow.stages) {
    if (pred(candidate)) result.push_back(&candidate);
  }
  return result;
}

std::vector<const StageExecution*> owned_by(const Workflow& workflow,
                                            const StageExecution& stage,
                                            SyntheticStageOwner owner) {
  return select(workflow, [&](const StageExecution& s) {
    return s.parent_stage_id == stage.id && s.synthetic_stage_owner == owner;
  });
}

}  // namespace

// Every member takes part: the model structs hold only persisted fields.
bool operator==(const Trigger& a, const Trigger& b) = default;
bool operator==(const PausedDetails& a, const PausedDetails& b) = default;
bool operator==(const MultiInstanceConfig& a,
                const MultiInstanceConfig& b) = default;
bool operator==(const TaskExecution& a, const TaskExecution& b) = default;
bool operator==(const StageExecution& a, const StageExecution& b) = default;
bool operator==(const Workflow& a, const Workflow& b) = default;

PhaseVersion TaskExecution::phase_version() const {
  return {std::string(status_name(status)), version};
}

PhaseVersion StageExecution::phase_version() const {
  return {std::string(status_name(status)), version};
}

std::map<std::string, std::string> StageExecution::output_reducers() const {
  std::map<std::string, std::string> reducers;
  const nlohmann::json& ctx = context.value();
  if (!ctx.is_object()) return reducers;
  const auto it = ctx.find(kOutputReducersKey);
  if (it == ctx.end() || !it->is_object()) return reducers;
  for (const auto& [key, value] : it->items()) {
    if (!value.is_string()) return {};
    reducers.emplace(key, value.get<std::string>());
  }
  return reducers;
}

void StageExecution::set_output_reducers(
    const std::map<std::string, std::string>& reducers) {
  nlohmann::json& ctx = context.mutable_value();
  if (!ctx.is_object()) ctx = nlohmann::json::object();
  if (reducers.empty()) {
    ctx.erase(std::string(kOutputReducersKey));
    return;
  }
  nlohmann::json value = nlohmann::json::object();
  for (const auto& [key, reducer] : reducers) value[key] = reducer;
  ctx[std::string(kOutputReducersKey)] = std::move(value);
}

const StageExecution* Workflow::find_stage(std::string_view stage_id) const {
  for (const StageExecution& stage : stages) {
    if (stage.id == stage_id) return &stage;
  }
  return nullptr;
}

StageExecution* Workflow::find_stage(std::string_view stage_id) {
  for (StageExecution& stage : stages) {
    if (stage.id == stage_id) return &stage;
  }
  return nullptr;
}

const StageExecution* Workflow::find_stage_by_ref(
    std::string_view ref_id) const {
  for (const StageExecution& stage : stages) {
    if (stage.ref_id == ref_id) return &stage;
  }
  return nullptr;
}

nlohmann::json Workflow::get_context() const {
  std::vector<const StageExecution*> top_level;
  for (const StageExecution& stage : stages) {
    if (!stage.is_synthetic()) top_level.push_back(&stage);
  }
  internal::OutputsMerge merge;
  for (const std::size_t i : internal::topological_order(top_level)) {
    merge.add(top_level[i]->outputs);
  }
  return merge.take();
}

std::vector<const StageExecution*> upstream_stages(
    const Workflow& workflow, const StageExecution& stage) {
  return select(workflow, [&](const StageExecution& s) {
    return stage.requisite_stage_ref_ids.count(s.ref_id) != 0;
  });
}

std::vector<const StageExecution*> downstream_stages(
    const Workflow& workflow, const StageExecution& stage) {
  return select(workflow, [&](const StageExecution& s) {
    return s.requisite_stage_ref_ids.count(stage.ref_id) != 0;
  });
}

std::vector<const StageExecution*> synthetic_stages(
    const Workflow& workflow, const StageExecution& stage) {
  return select(workflow, [&](const StageExecution& s) {
    return s.parent_stage_id == stage.id;
  });
}

std::vector<const StageExecution*> before_stages(const Workflow& workflow,
                                                 const StageExecution& stage) {
  return owned_by(workflow, stage, SyntheticStageOwner::kStageBefore);
}

std::vector<const StageExecution*> after_stages(const Workflow& workflow,
                                                const StageExecution& stage) {
  return owned_by(workflow, stage, SyntheticStageOwner::kStageAfter);
}

void merge_outputs(nlohmann::json& into, const nlohmann::json& next) {
  if (!next.is_object()) return;
  // The rule lives in OutputsMerge, which works on encodings.
  std::string merged;
  if (into.is_object()) nlohmann::json::to_cbor(into, merged);
  std::string added;
  nlohmann::json::to_cbor(next, added);
  internal::OutputsMerge merge;
  if (!merged.empty()) merge.add_cbor(merged);
  merge.add_cbor(added);
  into = merge.take();
}

void validate_key(std::string_view value, std::string_view field) {
  if (value.empty()) invalid(field, "must not be empty");
  validate_string(value, field);
}

void validate_string(std::string_view value, std::string_view field) {
  if (value.size() > kMaxStringBytes) {
    invalid(field,
            fmt::format("string of {} bytes exceeds the limit of {} bytes",
                        value.size(), kMaxStringBytes));
  }
  if (!utf8::is_valid(value)) invalid(field, "string is not valid UTF-8");
}

void validate_task(const TaskExecution& task, std::string_view field) {
  validate_key(task.id, path(field, "id"));
  validate_string(task.name, path(field, "name"));
  validate_string(task.implementing_class, path(field, "implementing_class"));
  validate_status(task.status, path(field, "status"));
  validate_json(task.task_exception_details,
                path(field, "task_exception_details"));
}

void validate_stage(const StageExecution& stage, std::string_view field,
                    std::optional<std::string_view> execution_id) {
  validate_key(stage.id, path(field, "id"));
  validate_key(stage.execution_id, path(field, "execution_id"));
  if (execution_id && stage.execution_id != *execution_id) {
    invalid(path(field, "execution_id"),
            fmt::format("'{}' does not match workflow '{}'", stage.execution_id,
                        *execution_id));
  }
  // ref_id defaults to "" in the reference (NOT NULL, not a key), so it may be
  // empty; the store's UNIQUE(execution_id, ref_id) still applies.
  validate_string(stage.ref_id, path(field, "ref_id"));
  validate_string(stage.type, path(field, "type"));
  validate_string(stage.name, path(field, "name"));
  validate_status(stage.status, path(field, "status"));
  validate_json(stage.context, path(field, "context"));
  validate_json(stage.outputs, path(field, "outputs"));
  for (std::size_t i = 0; i < stage.tasks.size(); ++i) {
    validate_task(stage.tasks[i], indexed(field, "tasks", i));
  }
  std::size_t i = 0;
  for (const std::string& ref : stage.requisite_stage_ref_ids) {
    validate_string(ref, indexed(field, "requisite_stage_ref_ids", i++));
  }
  if (stage.parent_stage_id) {
    // A parent is named by its stage id, a primary key.
    validate_key(*stage.parent_stage_id, path(field, "parent_stage_id"));
  }
  if (stage.synthetic_stage_owner) {
    validate_enum(*stage.synthetic_stage_owner, kSyntheticStageOwnerCount,
                  path(field, "synthetic_stage_owner"),
                  "synthetic stage owner");
  }
  validate_enum(stage.join_type, kJoinTypeCount, path(field, "join_type"),
                "join type");
  if (stage.join_type == JoinType::kNOfM && stage.join_threshold < 0) {
    invalid(path(field, "join_threshold"),
            fmt::format("must not be negative for an N_OF_M join, got {}",
                        stage.join_threshold));
  }
  validate_enum(stage.split_type, kSplitTypeCount, path(field, "split_type"),
                "split type");
  i = 0;
  for (const auto& [target, condition] : stage.split_conditions) {
    const std::string entry = indexed(field, "split_conditions", i++);
    validate_string(target, path(entry, "key"));
    validate_string(condition, path(entry, "value"));
  }
  if (stage.mi_config) {
    validate_string(stage.mi_config->count_from_context,
                    path(field, "mi_config.count_from_context"));
    validate_string(stage.mi_config->collection_from_context,
                    path(field, "mi_config.collection_from_context"));
  }
  validate_optional(stage.deferred_choice_group,
                    path(field, "deferred_choice_group"));
  validate_optional(stage.milestone_ref_id, path(field, "milestone_ref_id"));
  validate_optional(stage.milestone_status, path(field, "milestone_status"));
  validate_optional(stage.mutex_key, path(field, "mutex_key"));
  validate_optional(stage.cancel_region, path(field, "cancel_region"));
}

void validate_workflow(const Workflow& workflow) {
  validate_key(workflow.id, "id");
  validate_enum(workflow.type, kWorkflowTypeCount, "type", "workflow type");
  validate_string(workflow.application, "application");
  validate_string(workflow.name, "name");
  validate_status(workflow.status, "status");
  validate_json(workflow.context, "context");
  validate_string(workflow.trigger.type, "trigger.type");
  validate_string(workflow.trigger.user, "trigger.user");
  validate_json(workflow.trigger.parameters, "trigger.parameters");
  validate_json(workflow.trigger.artifacts, "trigger.artifacts");
  validate_json(workflow.trigger.payload, "trigger.payload");
  validate_optional(workflow.canceled_by, "canceled_by");
  validate_optional(workflow.cancellation_reason, "cancellation_reason");
  if (workflow.paused) {
    validate_string(workflow.paused->paused_by, "paused.paused_by");
  }
  validate_optional(workflow.pipeline_config_id, "pipeline_config_id");
  validate_string(workflow.origin, "origin");
  for (std::size_t i = 0; i < workflow.stages.size(); ++i) {
    validate_stage(workflow.stages[i], fmt::format("stages[{}]", i),
                   workflow.id);
  }
}

void validate_criteria(const WorkflowCriteria& criteria) {
  if (criteria.page_size < 0) {
    invalid("page_size",
            fmt::format("must not be negative, got {}", criteria.page_size));
  }
  for (const WorkflowStatus status : criteria.statuses) {
    validate_status(status, "statuses");
  }
}

}  // namespace wfstore
