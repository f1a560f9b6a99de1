// TransitionTracker: wfstore events -> the reference's transitions
// (docs/projections.md, "The mapping").

#include <algorithm>
#include <string>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

#include "wfstore/projections.h"

namespace wfstore {

std::string_view transition_verb_name(TransitionVerb verb) {
  switch (verb) {
    case TransitionVerb::kCreated:
      return "created";
    case TransitionVerb::kStarted:
      return "started";
    case TransitionVerb::kCompleted:
      return "completed";
    case TransitionVerb::kFailed:
      return "failed";
    case TransitionVerb::kSkipped:
      return "skipped";
    case TransitionVerb::kCanceled:
      return "canceled";
    case TransitionVerb::kRetried:
      return "retried";
    case TransitionVerb::kDeadLettered:
      return "dead_lettered";
    case TransitionVerb::kPaused:
      return "paused";
    case TransitionVerb::kResumed:
      return "resumed";
    case TransitionVerb::kCancelRequested:
      return "cancel_requested";
    case TransitionVerb::kDeleted:
      return "deleted";
  }
  return "unknown";
}

std::optional<std::int64_t> elapsed_ms(const std::optional<std::int64_t>& start,
                                       const std::optional<std::int64_t>& end) {
  std::int64_t d = 0;
  if (!start || !end || *end < *start ||
      __builtin_sub_overflow(*end, *start, &d)) {
    return std::nullopt;
  }
  return d;
}

std::string Transition::event_type() const {
  std::string type(entity_kind_name(entity_kind));
  type += '.';
  type += transition_verb_name(verb);
  return type;
}

const TransitionTracker::WorkflowState* TransitionTracker::workflow(
    std::string_view id) const {
  const auto it = workflows_.find(id);
  return it == workflows_.end() ? nullptr : &it->second;
}

void TransitionTracker::reset() {
  workflows_.clear();
  deliveries_.clear();
  last_lsn_ = 0;
}

namespace {

using WorkflowState = TransitionTracker::WorkflowState;
using StageState = TransitionTracker::StageState;
using TaskState = TransitionTracker::TaskState;

// The verb of reaching complete status `now`.
TransitionVerb completion_verb(WorkflowStatus now) {
  if (is_failure(now)) return TransitionVerb::kFailed;
  if (now == WorkflowStatus::kSkipped) return TransitionVerb::kSkipped;
  if (now == WorkflowStatus::kCanceled) return TransitionVerb::kCanceled;
  return TransitionVerb::kCompleted;
}

// The error text of a failed stage: context.exception.details.error, as the
// reference's stage.failed data.
std::optional<std::string> stage_error(const Json& context) {
  const nlohmann::json& c = context.value();
  if (!c.is_object()) return std::nullopt;
  const auto ex = c.find("exception");
  if (ex == c.end() || !ex->is_object()) return std::nullopt;
  const auto details = ex->find("details");
  if (details == ex->end() || !details->is_object()) return std::nullopt;
  const auto error = details->find("error");
  if (error == details->end() || !error->is_string()) return std::nullopt;
  return error->get<std::string>();
}

// Back from a complete status to a non-complete one (a restart).
bool restarts(WorkflowStatus old, WorkflowStatus now) {
  return is_complete(old) && !is_complete(now);
}

// A change of status that starts the entity: from NOT_STARTED, or a restart,
// to anything but NOT_STARTED, SKIPPED or CANCELED.
bool starts(WorkflowStatus old, WorkflowStatus now) {
  return old != now &&
         (old == WorkflowStatus::kNotStarted || restarts(old, now)) &&
         now != WorkflowStatus::kNotStarted &&
         now != WorkflowStatus::kSkipped && now != WorkflowStatus::kCanceled;
}

std::string stage_name(const StageState& s) {
  return s.name.empty() ? s.ref_id : s.name;
}

}  // namespace

// Applies one event's payload to the tracker's state and emits the
// transitions it makes.
class TransitionBuilder {
 public:
  TransitionBuilder(TransitionTracker& tracker, const Event& event,
                    std::vector<Transition>& out)
      : t_(tracker), event_(event), out_(out) {}

  void operator()(const WorkflowStored& p) {
    const Workflow& w = p.workflow;
    WorkflowState& ws = t_.workflows_[w.id];
    ws = WorkflowState{};
    ws.id = w.id;
    ws.name = w.name;
    ws.application = w.application;
    ws.type = std::string(workflow_type_name(w.type));
    Transition created = workflow_transition(ws, TransitionVerb::kCreated, 1);
    created.details = {{"application", w.application},
                       {"type", ws.type},
                       {"stage_count", w.stages.size()}};
    out_.push_back(std::move(created));
    workflow_status(ws, w.status, w.start_time, w.end_time);
    for (const StageExecution& stage : w.stages) add_stage(ws, stage);
  }
  void operator()(const WorkflowStatusUpdated& p) {
    WorkflowState& ws = workflow(p.workflow_id);
    workflow_status(ws, p.status, p.start_time, p.end_time);
  }
  void operator()(const WorkflowStatusSet& p) {
    WorkflowState& ws = workflow(p.workflow_id);
    workflow_status(ws, p.status, p.start_time, p.end_time);
  }
  void operator()(const WorkflowPaused& p) {
    WorkflowState& ws = workflow(p.workflow_id);
    ws.status = WorkflowStatus::kPaused;
    Transition t = workflow_transition(ws, TransitionVerb::kPaused, 0);
    t.details = {{"paused_by", p.paused_by}, {"pause_time", p.pause_time}};
    out_.push_back(std::move(t));
  }
  void operator()(const WorkflowResumed& p) {
    WorkflowState& ws = workflow(p.workflow_id);
    ws.status = WorkflowStatus::kRunning;
    Transition t = workflow_transition(ws, TransitionVerb::kResumed, 0);
    t.details = {{"resume_time", p.resume_time}};
    out_.push_back(std::move(t));
  }
  void operator()(const WorkflowCancelRequested& p) {
    WorkflowState& ws = workflow(p.workflow_id);
    Transition t = workflow_transition(ws, TransitionVerb::kCancelRequested, 0);
    t.details = {{"canceled_by", p.canceled_by}, {"reason", p.reason}};
    out_.push_back(std::move(t));
  }
  void operator()(const WorkflowDeleted& p) {
    WorkflowState& ws = workflow(p.workflow_id);
    out_.push_back(workflow_transition(ws, TransitionVerb::kDeleted, 0));
    t_.workflows_.erase(p.workflow_id);
  }
  void operator()(const StageAdded& p) {
    add_stage(workflow(p.stage.execution_id), p.stage);
  }
  void operator()(const StageUpdated& p) {
    WorkflowState& ws = workflow(p.execution_id);
    stage_change(ws, stage(ws, p.stage_id), p);
  }
  void operator()(const StageRemoved& p) {
    WorkflowState& ws = workflow(p.execution_id);
    std::erase_if(ws.stages,
                  [&](const StageState& s) { return s.id == p.stage_id; });
  }
  void operator()(const MessagePushed& p) {
    TransitionTracker::Target target;
    target.workflow_id = p.execution_id;
    target.message_type = p.message_type;
    const nlohmann::json& wire = p.payload.value();
    const auto text = [&](const char* key) -> std::string {
      const auto it = wire.is_object() ? wire.find(key) : wire.end();
      return it != wire.end() && it->is_string() ? it->get<std::string>() : "";
    };
    if (std::string task = text("task_id"); !task.empty()) {
      target.kind = EntityKind::kTask;
      target.id = std::move(task);
    } else if (std::string stage_id = text("stage_id"); !stage_id.empty()) {
      target.kind = EntityKind::kStage;
      target.id = std::move(stage_id);
    } else {
      target.id = p.execution_id;
    }
    t_.deliveries_[p.delivery_id] = std::move(target);
  }
  void operator()(const MessageLeased& p) {
    if (p.attempt < 2) return;
    const auto it = t_.deliveries_.find(p.delivery_id);
    if (it == t_.deliveries_.end()) return;
    if (it->second.kind == EntityKind::kWorkflow) return;
    Transition t = delivery_transition(it->second, TransitionVerb::kRetried);
    t.details = {{"delivery_id", p.delivery_id},
                 {"attempt", p.attempt},
                 {"message_type", it->second.message_type}};
    out_.push_back(std::move(t));
  }
  void operator()(const MessageAcked& p) {
    t_.deliveries_.erase(p.delivery_id);
  }
  void operator()(const MessageDeadLettered& p) {
    const auto it = t_.deliveries_.find(p.delivery_id);
    if (it == t_.deliveries_.end()) return;
    Transition t =
        delivery_transition(it->second, TransitionVerb::kDeadLettered);
    t.details = {{"delivery_id", p.delivery_id},
                 {"error", p.error},
                 {"message_type", it->second.message_type}};
    out_.push_back(std::move(t));
  }
  void operator()(const DeadLetterReplayed& p) {
    const auto it = t_.deliveries_.find(p.delivery_id);
    if (it == t_.deliveries_.end()) return;
    TransitionTracker::Target target = it->second;
    t_.deliveries_.erase(it);
    t_.deliveries_[p.new_delivery_id] = std::move(target);
  }
  // Events that make no transition: dedup marks, claims, purges, lease
  // extensions, reschedules (the next lease is the retry), queue clears.
  template <typename P>
  void operator()(const P&) {}

 private:
  WorkflowState& workflow(const std::string& id) {
    WorkflowState& ws = t_.workflows_[id];
    ws.id = id;
    return ws;
  }

  static StageState& stage(WorkflowState& ws, const std::string& id) {
    for (StageState& s : ws.stages) {
      if (s.id == id) return s;
    }
    StageState& s = ws.stages.emplace_back();
    s.id = id;
    s.type = "unknown";
    return s;
  }

  Transition base(EntityKind kind, const std::string& id,
                  const WorkflowState& ws, TransitionVerb verb) const {
    Transition t;
    t.verb = verb;
    t.entity_kind = kind;
    t.entity_id = id;
    t.workflow_id = ws.id;
    t.timestamp_ms = event_.timestamp_ms;
    t.lsn = event_.lsn;
    return t;
  }

  Transition workflow_transition(const WorkflowState& ws, TransitionVerb verb,
                                 std::int64_t version) const {
    Transition t = base(EntityKind::kWorkflow, ws.id, ws, verb);
    t.entity_name = ws.name;
    t.status = ws.status;
    t.version = version;
    return t;
  }

  Transition stage_transition(const WorkflowState& ws, const StageState& s,
                              TransitionVerb verb) const {
    Transition t = base(EntityKind::kStage, s.id, ws, verb);
    t.entity_name = stage_name(s);
    t.stage_type = s.type;
    t.status = s.status;
    t.version = s.version;
    return t;
  }

  Transition task_transition(const WorkflowState& ws, const StageState& s,
                             const TaskState& task, TransitionVerb verb) const {
    Transition t = base(EntityKind::kTask, task.id, ws, verb);
    t.entity_name = task.name;
    t.stage_type = s.type;
    t.stage_id = s.id;
    t.status = task.status;
    t.version = task.version;
    return t;
  }

  // A transition about the entity a delivery's message names (version 0).
  Transition delivery_transition(const TransitionTracker::Target& target,
                                 TransitionVerb verb) {
    WorkflowState& ws = workflow(target.workflow_id);
    if (target.kind == EntityKind::kWorkflow) {
      return workflow_transition(ws, verb, 0);
    }
    for (const StageState& s : ws.stages) {
      if (target.kind == EntityKind::kStage && s.id == target.id) {
        Transition t = stage_transition(ws, s, verb);
        t.version = 0;
        return t;
      }
      for (const TaskState& task : s.tasks) {
        if (target.kind == EntityKind::kTask && task.id == target.id) {
          Transition t = task_transition(ws, s, task, verb);
          t.version = 0;
          return t;
        }
      }
    }
    Transition t = base(target.kind, target.id, ws, verb);
    t.entity_name = target.id;
    t.stage_type = "unknown";
    return t;
  }

  void workflow_status(WorkflowState& ws, WorkflowStatus now,
                       const std::optional<std::int64_t>& start,
                       const std::optional<std::int64_t>& end) {
    const WorkflowStatus old = ws.status;
    ws.status = now;
    ws.start_time = start;
    ws.end_time = end;
    if (old == now) return;
    if (now == WorkflowStatus::kPaused) {
      out_.push_back(workflow_transition(ws, TransitionVerb::kPaused, 0));
      return;
    }
    if (old == WorkflowStatus::kPaused && !is_complete(now)) {
      out_.push_back(workflow_transition(ws, TransitionVerb::kResumed, 0));
      return;
    }
    if (starts(old, now)) {
      Transition t = workflow_transition(ws, TransitionVerb::kStarted, 2);
      if (start) t.details = {{"start_time", *start}};
      out_.push_back(std::move(t));
    }
    if (!is_complete(now)) return;
    TransitionVerb verb = completion_verb(now);
    // The reference's workflow vocabulary: completed, failed or canceled.
    if (verb == TransitionVerb::kSkipped) verb = TransitionVerb::kFailed;
    Transition t = workflow_transition(ws, verb, 3);
    t.duration_ms = elapsed_ms(start, end);
    if (verb == TransitionVerb::kFailed) {
      t.details = {{"error", "Workflow ended with status " +
                                 std::string(status_name(now))}};
    }
    out_.push_back(std::move(t));
  }

  // The start side of a stage's status change: retried (a restart from a
  // complete status), started.
  void stage_begin(const WorkflowState& ws, const StageState& s,
                   WorkflowStatus old) {
    for (TransitionVerb verb : begin_verbs(old, s.status)) {
      Transition t = stage_transition(ws, s, verb);
      if (verb == TransitionVerb::kStarted) {
        t.details = {{"type", s.type},
                     {"is_synthetic", s.parent_stage_id.has_value()},
                     {"task_count", s.tasks.size()}};
      } else {
        t.details = {{"restarted_from", status_name(old)}};
      }
      out_.push_back(std::move(t));
    }
  }

  // The end side: completed, failed, skipped or canceled.
  void stage_end(const WorkflowState& ws, const StageState& s,
                 WorkflowStatus old, const Json& context) {
    if (old == s.status || !is_complete(s.status)) return;
    const TransitionVerb verb = completion_verb(s.status);
    Transition t = stage_transition(ws, s, verb);
    t.duration_ms = elapsed_ms(s.start_time, s.end_time);
    if (verb == TransitionVerb::kFailed) {
      t.details = {{"error", stage_error(context).value_or("Unknown error")}};
    }
    out_.push_back(std::move(t));
  }

  static std::vector<TransitionVerb> begin_verbs(WorkflowStatus old,
                                                 WorkflowStatus now) {
    std::vector<TransitionVerb> verbs;
    if (old == now) return verbs;
    if (restarts(old, now)) verbs.push_back(TransitionVerb::kRetried);
    if (starts(old, now)) verbs.push_back(TransitionVerb::kStarted);
    return verbs;
  }

  void task_change(const WorkflowState& ws, const StageState& s,
                   const TaskState& task, WorkflowStatus old,
                   const Json& exception_details) {
    for (TransitionVerb verb : begin_verbs(old, task.status)) {
      Transition t = task_transition(ws, s, task, verb);
      t.details =
          verb == TransitionVerb::kStarted
              ? nlohmann::json{{"implementing_class", task.implementing_class},
                               {"stage_id", s.id}}
              : nlohmann::json{{"restarted_from", status_name(old)}};
      out_.push_back(std::move(t));
    }
    if (old == task.status || !is_complete(task.status)) return;
    const TransitionVerb verb = completion_verb(task.status);
    Transition t = task_transition(ws, s, task, verb);
    t.duration_ms = elapsed_ms(task.start_time, task.end_time);
    if (verb == TransitionVerb::kFailed) {
      t.details = {{"exception_details", exception_details.value()}};
    }
    out_.push_back(std::move(t));
  }

  void upsert_task(const WorkflowState& ws, StageState& s,
                   const TaskExecution& task) {
    auto it = std::find_if(s.tasks.begin(), s.tasks.end(),
                           [&](const TaskState& t) { return t.id == task.id; });
    if (it == s.tasks.end()) {
      TaskState& fresh = s.tasks.emplace_back();
      fresh.id = task.id;
      it = s.tasks.end() - 1;
    }
    const WorkflowStatus old = it->status;
    it->name = task.name;
    it->implementing_class = task.implementing_class;
    it->status = task.status;
    it->version = task.version;
    it->start_time = task.start_time;
    it->end_time = task.end_time;
    task_change(ws, s, *it, old, task.task_exception_details);
  }

  void add_stage(WorkflowState& ws, const StageExecution& added) {
    StageState& s = stage(ws, added.id);
    s.ref_id = added.ref_id;
    s.name = added.name;
    s.type = added.type;
    s.parent_stage_id = added.parent_stage_id;
    stage_change(ws, s, added);
  }

  // A stage's new status, version, times and tasks (a StageUpdated or a whole
  // StageExecution): its start-side transitions, its tasks', then its end.
  template <typename Change>
  void stage_change(const WorkflowState& ws, StageState& s,
                    const Change& change) {
    const WorkflowStatus old = s.status;
    s.status = change.status;
    s.version = change.version;
    s.start_time = change.start_time;
    s.end_time = change.end_time;
    stage_begin(ws, s, old);
    for (const TaskExecution& task : change.tasks) upsert_task(ws, s, task);
    stage_end(ws, s, old, change.context);
  }

  TransitionTracker& t_;
  const Event& event_;
  std::vector<Transition>& out_;
};

std::vector<Transition> TransitionTracker::apply(const Event& event) {
  std::vector<Transition> out;
  if (event.lsn != 0) {
    if (event.lsn <= last_lsn_) return out;
    last_lsn_ = event.lsn;
  }
  TransitionBuilder builder(*this, event, out);
  std::visit(builder, event.payload);
  return out;
}

}  // namespace wfstore
