// The reference's projections over wfstore's events (docs/projections.md):
// the workflow timeline and the stage metrics.
//
// wfstore's events are state changes (a StageUpdated carries a stage's new
// status, times and tasks), not the reference's named transitions
// (stage.started, task.failed, ...). A TransitionTracker keeps the little
// state needed to see a transition in an event (each entity's last status,
// its name and type, which task a queue delivery is about) and turns each
// event into the reference's transitions; the projections apply those.
//
// All three are incremental: feed them events one at a time, in LSN order
// (apply()), read their state at any point, reset() them. An event at or
// below the last LSN applied is ignored, so an at-least-once subscriber may
// hand the same event twice. The History-fed builders are in
// wfstore/history_projections.h.
//
// Thread-safety: none; one thread uses an object at a time (const methods may
// run concurrently with each other).

#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <tuple>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "wfstore/event.h"
#include "wfstore/model.h"

namespace wfstore {

// What happened to an entity, in the reference's words (its EventType values
// are "<entity>.<verb>", e.g. "stage.started").
enum class TransitionVerb : std::uint8_t {
  kCreated,          // workflow: stored
  kStarted,          // left NOT_STARTED (or restarted)
  kCompleted,        // reached SUCCEEDED or another non-failure complete status
  kFailed,           // reached a failure status (TERMINAL, STOPPED, ...)
  kSkipped,          // reached SKIPPED
  kCanceled,         // reached CANCELED
  kRetried,          // redelivered, or restarted from a complete status
  kDeadLettered,     // its queue message was dead-lettered
  kPaused,           // workflow: paused
  kResumed,          // workflow: resumed
  kCancelRequested,  // workflow: cancel() was called
  kDeleted,          // workflow: deleted
};

// "created", "started", ..., "cancel_requested".
std::string_view transition_verb_name(TransitionVerb verb);

// `end - start` when both are set, `end >= start` and the difference fits
// in an int64 (the store takes any int64 times); nullopt otherwise.
std::optional<std::int64_t> elapsed_ms(const std::optional<std::int64_t>& start,
                                       const std::optional<std::int64_t>& end);

// One transition in the reference's vocabulary, derived from one event.
struct Transition {
  TransitionVerb verb = TransitionVerb::kStarted;
  EntityKind entity_kind = EntityKind::kWorkflow;  // workflow, stage or task
  std::string entity_id;
  std::string workflow_id;
  // The stage's name (its ref_id when the name is empty), the task's name,
  // the workflow's name.
  std::string entity_name;
  // A stage's type; for a task, its stage's type.
  std::string stage_type;
  // A task's stage (empty for stages and workflows).
  std::string stage_id;
  // The entity's status after the event.
  WorkflowStatus status = WorkflowStatus::kNotStarted;
  // The entity's version after the event (a stage's or task's version; the
  // reference's constants 1, 2, 3 for workflow created / started / ended);
  // 0 when it has none (the metrics' dedup then uses the LSN).
  std::int64_t version = 0;
  // For completions: the entity's end_time - start_time when both are set.
  std::optional<std::int64_t> duration_ms;
  std::int64_t timestamp_ms = 0;  // the event's commit time
  std::uint64_t lsn = 0;          // the event's LSN
  nlohmann::json details = nlohmann::json::object();

  // "stage.started".
  std::string event_type() const;
};

// Turns wfstore events into Transitions (the mapping is in
// docs/projections.md). It remembers, per workflow, each stage's and task's
// last status, version, times, name and type, and which entity each queue
// delivery is about.
class TransitionTracker {
 public:
  // The transitions `event` makes, in order (often none: a context-only
  // update, a dedup mark, a claim). Ignores an event whose LSN is nonzero and
  // at or below the last LSN applied.
  std::vector<Transition> apply(const Event& event);
  void reset();

  // A stage as the tracker last saw it.
  struct TaskState {
    std::string id;
    std::string name;
    std::string implementing_class;
    WorkflowStatus status = WorkflowStatus::kNotStarted;
    std::int64_t version = 0;
    std::optional<std::int64_t> start_time;
    std::optional<std::int64_t> end_time;
  };
  struct StageState {
    std::string id;
    std::string ref_id;
    std::string name;
    std::string type;
    std::optional<std::string> parent_stage_id;
    WorkflowStatus status = WorkflowStatus::kNotStarted;
    std::int64_t version = 0;
    std::optional<std::int64_t> start_time;
    std::optional<std::int64_t> end_time;
    std::vector<TaskState> tasks;  // in the stage's order
  };
  struct WorkflowState {
    std::string id;
    std::string name;
    std::string application;
    std::string type;
    WorkflowStatus status = WorkflowStatus::kNotStarted;
    std::optional<std::int64_t> start_time;
    std::optional<std::int64_t> end_time;
    std::vector<StageState> stages;  // in the workflow's order
  };
  // The workflow as last seen, or nullptr (never stored, or deleted).
  const WorkflowState* workflow(std::string_view id) const;
  // The last LSN applied (0: none).
  std::uint64_t last_lsn() const { return last_lsn_; }

 private:
  // Which entity a queue delivery's message is about.
  struct Target {
    EntityKind kind = EntityKind::kWorkflow;
    std::string workflow_id;
    std::string id;
    std::string message_type;
  };

  std::map<std::string, WorkflowState, std::less<>> workflows_;
  std::map<std::uint64_t, Target> deliveries_;
  std::uint64_t last_lsn_ = 0;

  friend class TransitionBuilder;
};

// One line of a workflow's timeline: one transition.
struct TimelineEntry {
  std::int64_t timestamp_ms = 0;
  std::uint64_t lsn = 0;
  std::string event_type;  // "stage.completed"
  EntityKind entity_kind = EntityKind::kWorkflow;
  std::string entity_id;
  std::optional<std::string> entity_name;
  std::optional<WorkflowStatus> status;
  // From the entity's start and end times, or else from the timestamp of its
  // matching start entry; set on completions (completed, failed, skipped,
  // canceled) only.
  std::optional<std::int64_t> duration_ms;
  nlohmann::json details = nlohmann::json::object();

  nlohmann::json to_json() const;
};

// A time interval; `to_ms` unset while it is still open.
struct TimeSpan {
  std::int64_t from_ms = 0;
  std::optional<std::int64_t> to_ms;
};

// A mark on an entity's row of the timeline picture: a retry or a dead
// letter, with what to say about it.
struct TimelineMark {
  std::int64_t at_ms = 0;
  std::string text;  // "attempt 2 of delivery 7", the dead letter's error
};

// A task over time.
struct TaskSpan {
  std::string id;
  std::string name;
  std::string implementing_class;
  WorkflowStatus status = WorkflowStatus::kNotStarted;
  std::optional<std::int64_t> start_ms;  // its start_time, or started entry
  std::optional<std::int64_t> end_ms;    // its end_time, or completion entry
  std::vector<TimelineMark> retries;
  std::vector<TimelineMark> dead_letters;
};

// A stage over time: what the picture draws as one bar.
struct StageSpan {
  std::string id;
  std::string ref_id;
  std::string name;
  std::string type;
  std::optional<std::string> parent_stage_id;
  WorkflowStatus status = WorkflowStatus::kNotStarted;  // the last seen
  std::optional<std::int64_t> start_ms;
  std::optional<std::int64_t> end_ms;
  std::optional<std::int64_t> duration_ms;  // end - start when both are set
  std::uint32_t executions = 0;             // stage.started transitions
  std::vector<TimelineMark> retries;        // the stage's own
  std::vector<TimelineMark> dead_letters;   // its stage-level messages'
  std::vector<TimeSpan> paused;             // PAUSED or SUSPENDED intervals
  std::vector<TaskSpan> tasks;              // in the stage's order
};

// A workflow's timeline: the reference's WorkflowTimeline (entries, status,
// start, end, total duration) plus what the picture needs (stage spans,
// paused intervals).
struct WorkflowTimeline {
  std::string workflow_id;
  std::string name;
  std::string application;
  std::vector<TimelineEntry> entries;
  // Set by workflow.completed / failed / canceled (the reference leaves it
  // null for a canceled workflow; wfstore says CANCELED).
  std::optional<WorkflowStatus> status;
  // The workflow's last seen status, whatever it is.
  WorkflowStatus current_status = WorkflowStatus::kNotStarted;
  std::optional<std::int64_t> start_ms;  // its start_time, or started entry
  std::optional<std::int64_t> end_ms;    // its end_time, or its end entry
  std::optional<std::int64_t> total_duration_ms;
  std::vector<TimeSpan> paused;               // workflow-level pauses
  std::vector<TimelineMark> cancel_requests;  // "by bob: freeze window"
  std::vector<StageSpan> stages;              // in the workflow's order
  // The first and last commit times of the workflow's events (0: none).
  std::int64_t first_event_ms = 0;
  std::int64_t last_event_ms = 0;
  std::uint64_t last_lsn = 0;  // the last LSN applied

  // The entries about stages / tasks; the failures (stage.failed,
  // task.failed, workflow.failed, workflow.canceled, as the reference, plus
  // stage.dead_lettered and task.dead_lettered).
  std::vector<TimelineEntry> get_stages() const;
  std::vector<TimelineEntry> get_tasks() const;
  std::vector<TimelineEntry> get_failures() const;

  // {"workflow_id", "name", "application", "entries", "total_duration_ms",
  //  "status", "current_status", "start_time", "end_time", "paused",
  //  "cancel_requests", "stages", "last_lsn"}; times in epoch ms.
  nlohmann::json to_json() const;
};

// The reference's WorkflowTimelineProjection: the timeline of one workflow.
// Events of other workflows are ignored.
class WorkflowTimelineProjection {
 public:
  explicit WorkflowTimelineProjection(std::string workflow_id);

  // "workflow-timeline-<id>".
  std::string name() const;
  void apply(const Event& event);
  // Back to the state before any event.
  void reset();
  const WorkflowTimeline& state() const { return timeline_; }
  nlohmann::json to_json() const { return timeline_.to_json(); }

 private:
  void add_entry(const Transition& t);
  void sync_stages(std::int64_t at_ms);
  StageSpan* find_stage(const std::string& id);
  TaskSpan* find_task(const std::string& stage_id, const std::string& id);

  std::string workflow_id_;
  TransitionTracker tracker_;
  WorkflowTimeline timeline_;
  // By entity id: the last start entry's and completion entry's times (for
  // durations and spans the entity's own times cannot give), and how many
  // start entries it had.
  std::map<std::string, std::int64_t> started_at_;
  std::map<std::string, std::int64_t> ended_at_;
  std::map<std::string, std::int64_t> executions_;
};

// Aggregated figures of one stage type or one task name.
struct EntityMetrics {
  std::string key;  // the stage type or the task name
  std::optional<std::string> implementing_class;  // tasks: the first seen
  std::uint64_t execution_count = 0;              // *.started
  std::uint64_t success_count = 0;                // *.completed
  std::uint64_t failure_count = 0;                // *.failed
  std::uint64_t skip_count = 0;                   // *.skipped
  std::uint64_t retry_count = 0;                  // *.retried
  std::vector<std::int64_t> durations_ms;         // of completions and failures

  // success / (success + failure) * 100; 0 when neither.
  double success_rate() const;
  double failure_rate() const;
  double avg_duration_ms() const;     // 0 without durations
  double median_duration_ms() const;  // 0 without durations
  // The reference's rule: the max with fewer than 20 samples, else
  // sorted[min(int(n * 0.95), n - 1)].
  double p95_duration_ms() const;
  std::int64_t min_duration_ms() const;  // 0 without durations
  std::int64_t max_duration_ms() const;  // 0 without durations

  // The reference's to_dict keys (rates and averages rounded to 2 places),
  // plus "skip_count" and "retry_count" for both kinds.
  nlohmann::json to_json(bool task) const;
};

// The reference's StageMetricsProjection: metrics per stage type and per
// task name over every workflow's events.
class StageMetricsProjection {
 public:
  std::string name() const { return "stage-metrics"; }
  // Turns `event` into transitions (through its own TransitionTracker) and
  // applies each.
  void apply(const Event& event);
  // Applies one transition: dedup on (entity id, event type, version) when
  // version != 0, else on (LSN, event type, entity id) when the LSN != 0,
  // else none; then counts stage and task transitions.
  void apply(const Transition& transition);
  void reset();

  const std::map<std::string, EntityMetrics>& stages() const { return stages_; }
  const std::map<std::string, EntityMetrics>& tasks() const { return tasks_; }
  // nullptr when none.
  const EntityMetrics* metrics_for_type(const std::string& stage_type) const;
  const EntityMetrics* task_metrics_for_name(const std::string& name) const;
  // The n stage types with the highest average duration (types without
  // durations left out), highest first; ties by type name.
  std::vector<std::pair<std::string, double>> top_slowest_stages(
      std::size_t n = 10) const;
  // The n stage types with the highest failure rate (types never started
  // left out), highest first; ties by type name.
  std::vector<std::pair<std::string, double>> top_failing_stages(
      std::size_t n = 10) const;
  // Events applied (after the LSN dedup) and the last LSN applied.
  std::uint64_t events_applied() const { return events_applied_; }
  std::uint64_t last_lsn() const { return tracker_.last_lsn(); }

  // {"stages": {type: ...}, "tasks": {name: ...}, "top_slowest_stages":
  //  [[type, avg]...], "top_failing_stages": [[type, rate]...]}.
  nlohmann::json to_json() const;

 private:
  TransitionTracker tracker_;
  std::map<std::string, EntityMetrics> stages_;
  std::map<std::string, EntityMetrics> tasks_;
  std::set<std::tuple<std::string, std::string, std::int64_t>> seen_versions_;
  std::set<std::tuple<std::uint64_t, std::string, std::string>> seen_lsns_;
  std::uint64_t events_applied_ = 0;
};

}  // namespace wfstore
