// Names, integers and predicate sets of the model's enums
// (docs/semantics.md §1.1, §1.3, §1.7).

#include <array>
#include <cstddef>
#include <optional>
#include <string_view>

#include <fmt/format.h>

#include "wfstore/errors.h"
#include "wfstore/model.h"

namespace wfstore {
namespace {

struct StatusInfo {
  std::string_view name;
  bool complete;
  bool halt;
  bool successful;
  bool failure;
  bool continuable;
  bool active;
  bool dirty;
};

// Indexed by the encoded integer; the table of docs/semantics.md §1.1.
constexpr std::array<StatusInfo, kWorkflowStatusCount> kStatuses = {{
    {"NOT_STARTED", false, false, false, false, false, true, false},
    {"RUNNING", false, false, false, false, false, true, true},
    {"PAUSED", false, false, false, false, false, true, false},
    {"SUSPENDED", false, false, false, false, false, true, false},
    {"SUCCEEDED", true, false, true, false, true, false, false},
    {"FAILED_CONTINUE", true, false, false, true, true, false, false},
    {"TERMINAL", true, true, false, true, false, false, false},
    {"CANCELED", true, true, false, false, false, false, false},
    {"REDIRECT", false, false, false, false, true, false, true},
    {"STOPPED", true, true, false, true, false, false, false},
    {"SKIPPED", true, false, true, false, true, false, false},
    {"BUFFERED", false, false, false, false, false, false, false},
}};

// The entry of `names` for `value`; an integer cast into the enum that is
// none of its values is an InvalidArgumentError, not an out_of_range.
template <typename T, typename Enum, std::size_t N>
const T& entry(const std::array<T, N>& names, Enum value,
               std::string_view what) {
  const auto raw = static_cast<std::size_t>(value);
  if (raw >= N) {
    throw InvalidArgumentError(fmt::format("unknown {} {}", what, raw));
  }
  return names[raw];
}

const StatusInfo& info(WorkflowStatus status) {
  return entry(kStatuses, status, "status");
}

// Finds `name` in `names`; the index is the enum's integer.
template <typename Enum, std::size_t N>
Enum parse_name(const std::array<std::string_view, N>& names,
                std::string_view name, std::string_view field,
                std::string_view what) {
  for (std::size_t i = 0; i < N; ++i) {
    if (names[i] == name) return static_cast<Enum>(i);
  }
  throw InvalidArgumentError(
      fmt::format("{}: unknown {} '{}'", field, what, name));
}

constexpr std::array<std::string_view, kWorkflowTypeCount> kWorkflowTypes = {
    "PIPELINE", "ORCHESTRATION"};
constexpr std::array<std::string_view, kSyntheticStageOwnerCount> kOwners = {
    "STAGE_BEFORE", "STAGE_AFTER"};
constexpr std::array<std::string_view, kJoinTypeCount> kJoinTypes = {
    "AND", "OR", "MULTI_MERGE", "DISCRIMINATOR", "N_OF_M"};
constexpr std::array<std::string_view, kSplitTypeCount> kSplitTypes = {"AND",
                                                                       "OR"};

}  // namespace

std::string_view status_name(WorkflowStatus status) {
  return info(status).name;
}

std::optional<WorkflowStatus> find_status(std::string_view name) {
  for (std::size_t i = 0; i < kStatuses.size(); ++i) {
    if (kStatuses[i].name == name) return static_cast<WorkflowStatus>(i);
  }
  return std::nullopt;
}

WorkflowStatus parse_status(std::string_view name, std::string_view field) {
  if (auto status = find_status(name)) return *status;
  throw InvalidArgumentError(
      fmt::format("{}: unknown status '{}'", field, name));
}

std::optional<WorkflowStatus> status_from_int(int value) {
  if (value < 0 || value >= kWorkflowStatusCount) return std::nullopt;
  return static_cast<WorkflowStatus>(value);
}

bool is_complete(WorkflowStatus status) { return info(status).complete; }
bool is_halt(WorkflowStatus status) { return info(status).halt; }
bool is_successful(WorkflowStatus status) { return info(status).successful; }
bool is_failure(WorkflowStatus status) { return info(status).failure; }
bool is_continuable(WorkflowStatus status) { return info(status).continuable; }
bool is_active(WorkflowStatus status) { return info(status).active; }
bool is_dirty(WorkflowStatus status) { return info(status).dirty; }

std::string_view workflow_type_name(WorkflowType type) {
  return entry(kWorkflowTypes, type, "workflow type");
}
WorkflowType parse_workflow_type(std::string_view name,
                                 std::string_view field) {
  return parse_name<WorkflowType>(kWorkflowTypes, name, field, "workflow type");
}

std::string_view synthetic_stage_owner_name(SyntheticStageOwner owner) {
  return entry(kOwners, owner, "synthetic stage owner");
}
SyntheticStageOwner parse_synthetic_stage_owner(std::string_view name,
                                                std::string_view field) {
  return parse_name<SyntheticStageOwner>(kOwners, name, field,
                                         "synthetic stage owner");
}

std::string_view join_type_name(JoinType type) {
  return entry(kJoinTypes, type, "join type");
}
JoinType parse_join_type(std::string_view name, std::string_view field) {
  return parse_name<JoinType>(kJoinTypes, name, field, "join type");
}

std::string_view split_type_name(SplitType type) {
  return entry(kSplitTypes, type, "split type");
}
SplitType parse_split_type(std::string_view name, std::string_view field) {
  return parse_name<SplitType>(kSplitTypes, name, field, "split type");
}

}  // namespace wfstore
