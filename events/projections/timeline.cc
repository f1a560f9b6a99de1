// WorkflowTimelineProjection: the reference's workflow timeline over
// wfstore's events (docs/projections.md).

#include <algorithm>
#include <string>
#include <utility>
#include <vector>

#include "wfstore/projections.h"

namespace wfstore {
namespace {

bool is_completion(TransitionVerb verb) {
  return verb == TransitionVerb::kCompleted ||
         verb == TransitionVerb::kFailed || verb == TransitionVerb::kSkipped ||
         verb == TransitionVerb::kCanceled;
}

bool is_mark(TransitionVerb verb) {
  return verb == TransitionVerb::kRetried ||
         verb == TransitionVerb::kDeadLettered;
}

bool is_paused_status(WorkflowStatus status) {
  return status == WorkflowStatus::kPaused ||
         status == WorkflowStatus::kSuspended;
}

nlohmann::json opt(const std::optional<std::int64_t>& v) {
  return v ? nlohmann::json(*v) : nlohmann::json();
}

nlohmann::json status_json(const std::optional<WorkflowStatus>& s) {
  return s ? nlohmann::json(status_name(*s)) : nlohmann::json();
}

nlohmann::json spans_json(const std::vector<TimeSpan>& spans) {
  nlohmann::json out = nlohmann::json::array();
  for (const TimeSpan& s : spans) {
    out.push_back({{"from", s.from_ms}, {"to", opt(s.to_ms)}});
  }
  return out;
}

nlohmann::json marks_json(const std::vector<TimelineMark>& marks) {
  nlohmann::json out = nlohmann::json::array();
  for (const TimelineMark& m : marks) {
    out.push_back({{"at", m.at_ms}, {"text", m.text}});
  }
  return out;
}

// What a retry or dead-letter mark says.
std::string mark_text(const Transition& t) {
  const nlohmann::json& d = t.details;
  if (t.verb == TransitionVerb::kDeadLettered) {
    return d.value("message_type", std::string()) +
           " dead-lettered: " + d.value("error", std::string());
  }
  if (d.contains("restarted_from")) {
    return "restarted from " + d.value("restarted_from", std::string());
  }
  return d.value("message_type", std::string()) + " attempt " +
         std::to_string(d.value("attempt", 0)) + " (delivery " +
         std::to_string(d.value("delivery_id", std::uint64_t{0})) + ")";
}

std::vector<TimelineEntry> entries_where(
    const std::vector<TimelineEntry>& entries,
    bool (*keep)(const TimelineEntry&)) {
  std::vector<TimelineEntry> out;
  for (const TimelineEntry& e : entries) {
    if (keep(e)) out.push_back(e);
  }
  return out;
}

// Opens an interval at `at` when `now_in` starts holding, closes the open one
// when it stops.
void track_interval(std::vector<TimeSpan>& spans, bool was_in, bool now_in,
                    std::int64_t at) {
  if (!was_in && now_in) spans.push_back({at, std::nullopt});
  if (was_in && !now_in && !spans.empty() && !spans.back().to_ms) {
    spans.back().to_ms = at;
  }
}

}  // namespace

nlohmann::json TimelineEntry::to_json() const {
  return {{"timestamp", timestamp_ms},
          {"lsn", lsn},
          {"event_type", event_type},
          {"entity_type", entity_kind_name(entity_kind)},
          {"entity_id", entity_id},
          {"entity_name",
           entity_name ? nlohmann::json(*entity_name) : nlohmann::json()},
          {"status", status_json(status)},
          {"duration_ms", opt(duration_ms)},
          {"details", details}};
}

std::vector<TimelineEntry> WorkflowTimeline::get_stages() const {
  return entries_where(entries, [](const TimelineEntry& e) {
    return e.entity_kind == EntityKind::kStage;
  });
}

std::vector<TimelineEntry> WorkflowTimeline::get_tasks() const {
  return entries_where(entries, [](const TimelineEntry& e) {
    return e.entity_kind == EntityKind::kTask;
  });
}

std::vector<TimelineEntry> WorkflowTimeline::get_failures() const {
  return entries_where(entries, [](const TimelineEntry& e) {
    return e.event_type == "stage.failed" || e.event_type == "task.failed" ||
           e.event_type == "workflow.failed" ||
           e.event_type == "workflow.canceled" ||
           e.event_type == "stage.dead_lettered" ||
           e.event_type == "task.dead_lettered";
  });
}

nlohmann::json WorkflowTimeline::to_json() const {
  nlohmann::json out_entries = nlohmann::json::array();
  for (const TimelineEntry& e : entries) out_entries.push_back(e.to_json());
  nlohmann::json out_stages = nlohmann::json::array();
  for (const StageSpan& s : stages) {
    nlohmann::json tasks = nlohmann::json::array();
    for (const TaskSpan& t : s.tasks) {
      tasks.push_back({{"id", t.id},
                       {"name", t.name},
                       {"implementing_class", t.implementing_class},
                       {"status", status_name(t.status)},
                       {"start_time", opt(t.start_ms)},
                       {"end_time", opt(t.end_ms)},
                       {"retries", marks_json(t.retries)},
                       {"dead_letters", marks_json(t.dead_letters)}});
    }
    out_stages.push_back(
        {{"id", s.id},
         {"ref_id", s.ref_id},
         {"name", s.name},
         {"type", s.type},
         {"parent_stage_id", s.parent_stage_id
                                 ? nlohmann::json(*s.parent_stage_id)
                                 : nlohmann::json()},
         {"status", status_name(s.status)},
         {"start_time", opt(s.start_ms)},
         {"end_time", opt(s.end_ms)},
         {"duration_ms", opt(s.duration_ms)},
         {"executions", s.executions},
         {"retries", marks_json(s.retries)},
         {"dead_letters", marks_json(s.dead_letters)},
         {"paused", spans_json(s.paused)},
         {"tasks", std::move(tasks)}});
  }
  return {{"workflow_id", workflow_id},
          {"name", name},
          {"application", application},
          {"entries", std::move(out_entries)},
          {"total_duration_ms", opt(total_duration_ms)},
          {"status", status_json(status)},
          {"current_status", status_name(current_status)},
          {"start_time", opt(start_ms)},
          {"end_time", opt(end_ms)},
          {"paused", spans_json(paused)},
          {"cancel_requests", marks_json(cancel_requests)},
          {"stages", std::move(out_stages)},
          {"last_lsn", last_lsn}};
}

WorkflowTimelineProjection::WorkflowTimelineProjection(std::string workflow_id)
    : workflow_id_(std::move(workflow_id)) {
  timeline_.workflow_id = workflow_id_;
}

std::string WorkflowTimelineProjection::name() const {
  return "workflow-timeline-" + workflow_id_;
}

void WorkflowTimelineProjection::reset() {
  tracker_.reset();
  timeline_ = WorkflowTimeline{};
  timeline_.workflow_id = workflow_id_;
  started_at_.clear();
  ended_at_.clear();
  executions_.clear();
}

void WorkflowTimelineProjection::apply(const Event& event) {
  if (event.workflow_id != workflow_id_) return;
  if (event.lsn != 0 && event.lsn <= timeline_.last_lsn) return;
  const std::vector<Transition> transitions = tracker_.apply(event);
  if (timeline_.first_event_ms == 0)
    timeline_.first_event_ms = event.timestamp_ms;
  timeline_.last_event_ms = event.timestamp_ms;
  if (event.lsn != 0) timeline_.last_lsn = event.lsn;
  for (const Transition& t : transitions) add_entry(t);
  sync_stages(event.timestamp_ms);
  // Marks go on the spans, which sync_stages() has just brought up to date.
  for (const Transition& t : transitions) {
    if (!is_mark(t.verb)) continue;
    const TimelineMark mark{t.timestamp_ms, mark_text(t)};
    const bool retry = t.verb == TransitionVerb::kRetried;
    if (t.entity_kind == EntityKind::kStage) {
      if (StageSpan* s = find_stage(t.entity_id)) {
        (retry ? s->retries : s->dead_letters).push_back(mark);
      }
    } else if (t.entity_kind == EntityKind::kTask) {
      if (TaskSpan* task = find_task(t.stage_id, t.entity_id)) {
        (retry ? task->retries : task->dead_letters).push_back(mark);
      }
    }
  }
}

void WorkflowTimelineProjection::add_entry(const Transition& t) {
  TimelineEntry e;
  e.timestamp_ms = t.timestamp_ms;
  e.lsn = t.lsn;
  e.event_type = t.event_type();
  e.entity_kind = t.entity_kind;
  e.entity_id = t.entity_id;
  if (!t.entity_name.empty()) e.entity_name = t.entity_name;
  e.status = t.status;
  e.details = t.details;
  if (t.verb == TransitionVerb::kStarted) {
    started_at_[t.entity_id] = t.timestamp_ms;
    ++executions_[t.entity_id];
  }
  if (is_completion(t.verb)) {
    e.duration_ms = t.duration_ms;
    const auto started = started_at_.find(t.entity_id);
    if (!e.duration_ms && started != started_at_.end()) {
      e.duration_ms = elapsed_ms(started->second, t.timestamp_ms);
    }
    ended_at_[t.entity_id] = t.timestamp_ms;
  }
  if (t.entity_kind == EntityKind::kWorkflow) {
    switch (t.verb) {
      case TransitionVerb::kCompleted:
      case TransitionVerb::kFailed:
      case TransitionVerb::kCanceled:
        timeline_.status = t.status;
        break;
      case TransitionVerb::kPaused:
        track_interval(timeline_.paused, false, true,
                       t.details.value("pause_time", t.timestamp_ms));
        break;
      case TransitionVerb::kResumed:
        track_interval(timeline_.paused, true, false,
                       t.details.value("resume_time", t.timestamp_ms));
        break;
      case TransitionVerb::kCancelRequested:
        timeline_.cancel_requests.push_back(
            {t.timestamp_ms, "by " + t.details.value("canceled_by", "") + ": " +
                                 t.details.value("reason", "")});
        break;
      default:
        break;
    }
  }
  timeline_.entries.push_back(std::move(e));
}

StageSpan* WorkflowTimelineProjection::find_stage(const std::string& id) {
  for (StageSpan& s : timeline_.stages) {
    if (s.id == id) return &s;
  }
  return nullptr;
}

TaskSpan* WorkflowTimelineProjection::find_task(const std::string& stage_id,
                                                const std::string& id) {
  StageSpan* stage = find_stage(stage_id);
  if (stage == nullptr) return nullptr;
  for (TaskSpan& t : stage->tasks) {
    if (t.id == id) return &t;
  }
  return nullptr;
}

void WorkflowTimelineProjection::sync_stages(std::int64_t at_ms) {
  const TransitionTracker::WorkflowState* ws = tracker_.workflow(workflow_id_);
  if (ws == nullptr) return;  // deleted: the spans stay as they were
  const auto first = [](const std::map<std::string, std::int64_t>& m,
                        const std::string& id) -> std::optional<std::int64_t> {
    const auto it = m.find(id);
    if (it == m.end()) return std::nullopt;
    return it->second;
  };
  const auto end_of =
      [&](WorkflowStatus status, const std::optional<std::int64_t>& end,
          const std::string& id) -> std::optional<std::int64_t> {
    if (!is_complete(status)) return std::nullopt;
    return end ? end : first(ended_at_, id);
  };
  timeline_.name = ws->name;
  timeline_.application = ws->application;
  timeline_.current_status = ws->status;
  timeline_.start_ms =
      ws->start_time ? ws->start_time : first(started_at_, ws->id);
  if (std::optional<std::int64_t> end =
          end_of(ws->status, ws->end_time, ws->id)) {
    timeline_.end_ms = end;
  }
  if (const std::optional<std::int64_t> total =
          elapsed_ms(timeline_.start_ms, timeline_.end_ms)) {
    timeline_.total_duration_ms = total;
  }

  std::vector<StageSpan> spans;
  spans.reserve(ws->stages.size());
  for (const TransitionTracker::StageState& s : ws->stages) {
    StageSpan* old = find_stage(s.id);
    StageSpan span = old != nullptr ? std::move(*old) : StageSpan{};
    if (old == nullptr) span.status = WorkflowStatus::kNotStarted;
    span.id = s.id;
    span.ref_id = s.ref_id;
    span.name = s.name.empty() ? s.ref_id : s.name;
    span.type = s.type;
    span.parent_stage_id = s.parent_stage_id;
    track_interval(span.paused, is_paused_status(span.status),
                   is_paused_status(s.status), at_ms);
    span.status = s.status;
    span.start_ms = s.start_time ? s.start_time : first(started_at_, s.id);
    span.end_ms = end_of(s.status, s.end_time, s.id);
    span.duration_ms = elapsed_ms(span.start_ms, span.end_ms);
    span.executions =
        static_cast<std::uint32_t>(first(executions_, s.id).value_or(0));
    std::vector<TaskSpan> tasks;
    for (const TransitionTracker::TaskState& t : s.tasks) {
      TaskSpan task;
      for (TaskSpan& existing : span.tasks) {
        if (existing.id == t.id) task = std::move(existing);
      }
      task.id = t.id;
      task.name = t.name;
      task.implementing_class = t.implementing_class;
      task.status = t.status;
      task.start_ms = t.start_time ? t.start_time : first(started_at_, t.id);
      task.end_ms = end_of(t.status, t.end_time, t.id);
      tasks.push_back(std::move(task));
    }
    span.tasks = std::move(tasks);
    spans.push_back(std::move(span));
  }
  timeline_.stages = std::move(spans);
}

}  // namespace wfstore
