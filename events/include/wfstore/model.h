// The domain model of wfstore: workflows, stages and tasks with every field the
// reference persists (docs/semantics.md §1.1-1.4), their enums with stable
// names and integers, and the helpers that work on a workflow and a stage in
// it.
//
// Model types are plain values. Thread-safety: as for standard value types.

#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "wfstore/json.h"

namespace wfstore {

// The status of a workflow, a stage or a task (docs/semantics.md §1.1). The
// integers are the encoded form and never change; the names are the persisted
// and wire form.
enum class WorkflowStatus : std::uint8_t {
  kNotStarted = 0,
  kRunning = 1,
  kPaused = 2,
  kSuspended = 3,
  kSucceeded = 4,
  kFailedContinue = 5,
  kTerminal = 6,
  kCanceled = 7,
  kRedirect = 8,
  kStopped = 9,
  kSkipped = 10,
  kBuffered = 11,
};
inline constexpr int kWorkflowStatusCount = 12;

// Each enum's name function below returns static storage and throws
// InvalidArgumentError for an integer cast into the enum that is none of its
// values (the validate_* functions reject those first, naming the field).

// "NOT_STARTED", "RUNNING", ...
std::string_view status_name(WorkflowStatus status);
// The status named `name`, or nullopt.
std::optional<WorkflowStatus> find_status(std::string_view name);
// The status named `name`. Throws InvalidArgumentError naming `field` if there
// is none.
WorkflowStatus parse_status(std::string_view name, std::string_view field);
// The status with encoded integer `value`, or nullopt.
std::optional<WorkflowStatus> status_from_int(int value);

// The predicate sets of docs/semantics.md §1.1.
bool is_complete(WorkflowStatus status);    // COMPLETED_STATUSES
bool is_halt(WorkflowStatus status);        // HALT_STATUSES
bool is_successful(WorkflowStatus status);  // SUCCEEDED, SKIPPED
bool is_failure(WorkflowStatus status);  // FAILED_CONTINUE, TERMINAL, STOPPED
bool is_continuable(WorkflowStatus status);  // CONTINUABLE_STATUSES
bool is_active(WorkflowStatus status);       // ACTIVE_STATUSES
bool is_dirty(WorkflowStatus status);        // RUNNING, REDIRECT

enum class WorkflowType : std::uint8_t { kPipeline = 0, kOrchestration = 1 };
inline constexpr int kWorkflowTypeCount = 2;
std::string_view workflow_type_name(
    WorkflowType type);  // "PIPELINE", "ORCHESTRATION"
// Throws InvalidArgumentError naming `field` for an unknown name.
WorkflowType parse_workflow_type(std::string_view name, std::string_view field);

// Owner of a synthetic stage. There is no on-failure owner: on-failure stages
// are kStageAfter (docs/semantics.md §1.3).
enum class SyntheticStageOwner : std::uint8_t {
  kStageBefore = 0,
  kStageAfter = 1
};
inline constexpr int kSyntheticStageOwnerCount = 2;
std::string_view synthetic_stage_owner_name(SyntheticStageOwner owner);
SyntheticStageOwner parse_synthetic_stage_owner(std::string_view name,
                                                std::string_view field);

enum class JoinType : std::uint8_t {
  kAnd = 0,
  kOr = 1,
  kMultiMerge = 2,
  kDiscriminator = 3,
  kNOfM = 4,
};
inline constexpr int kJoinTypeCount = 5;
std::string_view join_type_name(
    JoinType type);  // "AND", "OR", "MULTI_MERGE", ...
JoinType parse_join_type(std::string_view name, std::string_view field);

enum class SplitType : std::uint8_t { kAnd = 0, kOr = 1 };
inline constexpr int kSplitTypeCount = 2;
std::string_view split_type_name(SplitType type);
SplitType parse_split_type(std::string_view name, std::string_view field);

// How a workflow was triggered; stored as exactly these five keys.
struct Trigger {
  std::string type = "manual";
  std::string user = "anonymous";
  Json parameters;                           // {}
  Json artifacts = nlohmann::json::array();  // []
  Json payload;                              // {}

  friend bool operator==(const Trigger& a, const Trigger& b);
};

// Pause bookkeeping; all times epoch milliseconds (docs/semantics.md §1.2,
// §12.10).
struct PausedDetails {
  std::string paused_by;
  std::optional<std::int64_t> pause_time;
  std::optional<std::int64_t> resume_time;
  std::int64_t paused_ms = 0;

  // pause_time set and resume_time not.
  bool is_paused() const {
    return pause_time.has_value() && !resume_time.has_value();
  }
  friend bool operator==(const PausedDetails& a, const PausedDetails& b);
};

// Multi-instance settings of a stage (frozen control-flow data).
struct MultiInstanceConfig {
  std::int64_t count = 0;
  std::string count_from_context;
  bool sync_on_complete = true;
  bool allow_dynamic = false;
  std::string collection_from_context;
  std::int64_t join_threshold = 0;
  bool cancel_remaining = false;

  friend bool operator==(const MultiInstanceConfig& a,
                         const MultiInstanceConfig& b);
};

// (status name, version): what an optimistic-lock check compares.
using PhaseVersion = std::pair<std::string, std::int64_t>;

struct TaskExecution {
  std::string id;
  std::string name;
  std::string implementing_class;
  WorkflowStatus status = WorkflowStatus::kNotStarted;
  std::optional<std::int64_t> start_time;
  std::optional<std::int64_t> end_time;
  bool stage_start = false;
  bool stage_end = false;
  bool loop_start = false;
  bool loop_end = false;
  Json task_exception_details;  // {}
  std::int64_t version = 0;

  PhaseVersion phase_version() const;
  friend bool operator==(const TaskExecution& a, const TaskExecution& b);
};

struct StageExecution {
  std::string id;
  // Id of the workflow this stage belongs to; must match it when stored.
  std::string execution_id;
  std::string ref_id;
  std::string type;
  std::string name;
  WorkflowStatus status = WorkflowStatus::kNotStarted;
  Json context;  // {}
  Json outputs;  // {}
  // In the caller's order, which the store keeps.
  std::vector<TaskExecution> tasks;
  // ref_ids of the direct upstream stages in the same workflow; a set, as in
  // the reference.
  std::set<std::string> requisite_stage_ref_ids;
  // The parent's id (not ref_id) for a synthetic stage.
  std::optional<std::string> parent_stage_id;
  std::optional<SyntheticStageOwner> synthetic_stage_owner;
  std::optional<std::int64_t> start_time;
  std::optional<std::int64_t> end_time;
  std::optional<std::int64_t> start_time_expiry;
  std::optional<std::int64_t> scheduled_time;
  std::int64_t version = 0;
  // Control-flow fields: frozen at insert, stored as plain data.
  JoinType join_type = JoinType::kAnd;
  std::int64_t join_threshold = 0;
  SplitType split_type = SplitType::kAnd;
  std::map<std::string, std::string> split_conditions;
  std::optional<MultiInstanceConfig> mi_config;
  std::optional<std::string> deferred_choice_group;
  std::optional<std::string> milestone_ref_id;
  std::optional<std::string> milestone_status;
  std::optional<std::string> mutex_key;
  std::optional<std::string> cancel_region;

  // parent_stage_id is set.
  bool is_synthetic() const { return parent_stage_id.has_value(); }
  PhaseVersion phase_version() const;
  // context["_output_reducers"] as a map (key -> reducer name); empty when
  // absent or not an object of strings.
  std::map<std::string, std::string> output_reducers() const;
  // Writes `reducers` to context["_output_reducers"] (removes the key when
  // empty).
  void set_output_reducers(const std::map<std::string, std::string>& reducers);

  friend bool operator==(const StageExecution& a, const StageExecution& b);
};

struct Workflow {
  std::string id;
  WorkflowType type = WorkflowType::kPipeline;
  std::string application;
  std::string name;
  WorkflowStatus status = WorkflowStatus::kNotStarted;
  // In insertion order, which the store keeps.
  std::vector<StageExecution> stages;
  Json context;  // {}; write-once
  Trigger trigger;
  std::optional<std::int64_t> start_time;
  std::optional<std::int64_t> end_time;
  std::optional<std::int64_t> start_time_expiry;
  bool is_canceled = false;
  std::optional<std::string> canceled_by;
  std::optional<std::string> cancellation_reason;
  std::optional<PausedDetails> paused;
  std::optional<std::string> pipeline_config_id;
  bool is_limit_concurrent = false;
  std::int64_t max_concurrent_executions = 0;
  bool keep_waiting_pipelines = false;
  std::string origin = "unknown";

  // The stage with this id / ref_id, or nullptr. The pointer is valid while
  // `stages` is not resized.
  const StageExecution* find_stage(std::string_view stage_id) const;
  StageExecution* find_stage(std::string_view stage_id);
  const StageExecution* find_stage_by_ref(std::string_view ref_id) const;

  // The outputs of the non-synthetic stages merged in topological order (ties
  // in insertion order) with the merge rule of merge_outputs()
  // (docs/semantics.md §1.2, §10 item 69).
  nlohmann::json get_context() const;

  friend bool operator==(const Workflow& a, const Workflow& b);
};

// Filters for the listing queries (docs/semantics.md §2). An empty `statuses`
// means no filter; a page_size of 0 means no limit.
struct WorkflowCriteria {
  std::int64_t page_size = 20;
  std::set<WorkflowStatus> statuses;
  std::optional<std::int64_t> start_time_before;
  std::optional<std::int64_t> start_time_after;
};

// Graph helpers over a stage in `workflow` (docs/semantics.md §1.3). Results
// point into `workflow.stages`, in insertion order; valid while the workflow is
// not modified.
std::vector<const StageExecution*> upstream_stages(const Workflow& workflow,
                                                   const StageExecution& stage);
std::vector<const StageExecution*> downstream_stages(
    const Workflow& workflow, const StageExecution& stage);
// Stages whose parent_stage_id is stage.id (both owners).
std::vector<const StageExecution*> synthetic_stages(
    const Workflow& workflow, const StageExecution& stage);
std::vector<const StageExecution*> before_stages(const Workflow& workflow,
                                                 const StageExecution& stage);
std::vector<const StageExecution*> after_stages(const Workflow& workflow,
                                                const StageExecution& stage);

// Merges `next` into `into` (both JSON objects) with the reference rule: for a
// key present in both where both values are arrays, append each item of `next`
// not already in `into`'s array; otherwise `next`'s value replaces the earlier
// one (no deep merge). A `next` that is not an object contributes nothing; an
// `into` that is not an object is reset to {} first. `into` is rebuilt from
// CBOR, so its numbers come back as from_cbor reads them (a non-negative
// integer as number_unsigned, == to the value before). Throws what
// nlohmann::json::to_cbor throws. Complexity: list merging compares each new
// item with every existing one (by bytes, decoding only items whose bytes do
// not decide ==).
void merge_outputs(nlohmann::json& into, const nlohmann::json& next);

// Validation of every limit (README.md "Limits") and model rule. Each throws
// InvalidArgumentError whose message names the offending field (e.g.
// "stages[2].tasks[0].id: must not be empty").
void validate_task(const TaskExecution& task, std::string_view field = "task");
// Also checks stage.execution_id against `execution_id` when that is given.
void validate_stage(
    const StageExecution& stage, std::string_view field = "stage",
    std::optional<std::string_view> execution_id = std::nullopt);
// Also checks each stage's execution_id equals workflow.id. (Duplicate stage
// ids or ref_ids are DuplicateError, decided by the store.)
void validate_workflow(const Workflow& workflow);
// A primary key: non-empty, valid UTF-8, at most kMaxStringBytes.
void validate_key(std::string_view value, std::string_view field);
// Any other id or name string: valid UTF-8, at most kMaxStringBytes.
void validate_string(std::string_view value, std::string_view field);
// page_size >= 0.
void validate_criteria(const WorkflowCriteria& criteria);

}  // namespace wfstore
