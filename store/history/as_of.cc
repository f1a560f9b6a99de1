// Time travel: a workflow or the queue as of an LSN, diffs between two LSNs
// and one entity's history. Every state is replayed (wfstore_internal/
// replay.h: the views' fold and read code over fresh in-memory views) from the
// events the history indexes select, so it costs the workflow's own events
// (the queue's for queue_as_of), not the log's size.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <tuple>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "wfstore/errors.h"
#include "wfstore/history.h"
#include "wfstore/model.h"

#include "events/catalogue/fields.h"
#include "wfstore_internal/replay.h"

namespace wfstore {
namespace {

constexpr std::size_t kNoLimit = std::numeric_limits<std::size_t>::max();

// The last LSN of the state "as of `lsn`": 0 for 0, else the end of the
// commit that holds it. Throws InvalidArgumentError beyond current_lsn().
std::uint64_t as_of_end(const History& history, std::uint64_t lsn,
                        std::string_view what) {
  if (lsn == 0) return 0;
  const std::uint64_t current = history.current_lsn();
  if (lsn > current) {
    throw InvalidArgumentError(fmt::format(
        "{}: LSN {} is beyond the store's last LSN {}", what, lsn, current));
  }
  return history.commit_end(lsn);
}

// The events of workflow `id` through `to_lsn`, in LSN order.
std::vector<Event> workflow_events(const History& history, std::string_view id,
                                   std::uint64_t to_lsn) {
  EventQuery query;
  query.workflow_id = std::string(id);
  query.to_lsn = to_lsn;
  query.limit = kNoLimit;
  return history.events(query);
}

// ---- diff ----

// The names of a model struct's fields in field-table order (the members of
// its JSON), without `nested` (the member that holds child entities).
template <typename T>
std::vector<std::string> field_names(std::string_view nested) {
  std::vector<std::string> names;
  auto collect = [&](std::string_view name, const auto&) {
    if (name != nested) names.emplace_back(name);
  };
  const T value{};
  fields::visit_fields(collect, value);
  return names;
}

const std::vector<std::string>& entity_fields(EntityKind kind) {
  static const std::vector<std::string> kWorkflow =
      field_names<Workflow>("stages");
  static const std::vector<std::string> kStage =
      field_names<StageExecution>("tasks");
  static const std::vector<std::string> kTask = field_names<TaskExecution>("");
  return kind == EntityKind::kWorkflow ? kWorkflow
         : kind == EntityKind::kStage  ? kStage
                                       : kTask;
}

// An entity of the diffed workflow: the workflow (ids empty), a stage (its
// id), or a task (its stage's id and its own: task ids need only be unique
// within their stage).
using EntityKey = std::tuple<EntityKind, std::string, std::string>;

EntityRef entity_ref(const EntityKey& key, std::string_view workflow_id) {
  const auto& [kind, stage, task] = key;
  if (kind == EntityKind::kWorkflow) {
    return {kind, std::string(workflow_id)};
  }
  return {kind, kind == EntityKind::kStage ? stage : task};
}

// Every entity's JSON (workflow_to_json()'s objects without their "stages"
// and "tasks" members) at one point.
using EntityStates = std::map<EntityKey, nlohmann::json>;

// Adds the stage's entity and its tasks' to `states`.
void add_stage_states(const StageExecution& stage, EntityStates& states) {
  Workflow holder;
  holder.stages.push_back(stage);
  nlohmann::json json = std::move(workflow_to_json(holder)["stages"][0]);
  nlohmann::json tasks = std::move(json["tasks"]);
  json.erase("tasks");
  for (nlohmann::json& task : tasks) {
    const std::string id = task["id"].get<std::string>();
    states[{EntityKind::kTask, stage.id, id}] = std::move(task);
  }
  states[{EntityKind::kStage, stage.id, ""}] = std::move(json);
}

// The workflow entity's JSON.
nlohmann::json summary_state(Workflow summary) {
  summary.stages.clear();
  nlohmann::json json = workflow_to_json(summary);
  json.erase("stages");
  return json;
}

EntityStates states_of(const std::optional<Workflow>& workflow) {
  EntityStates states;
  if (!workflow) return states;
  states[{EntityKind::kWorkflow, "", ""}] = summary_state(*workflow);
  for (const StageExecution& stage : workflow->stages) {
    add_stage_states(stage, states);
  }
  return states;
}

// The keys of `states` that belong to stage `stage_id` (the stage and its
// tasks).
std::vector<EntityKey> stage_keys(const EntityStates& states,
                                  const std::string& stage_id) {
  std::vector<EntityKey> keys;
  if (states.count({EntityKind::kStage, stage_id, ""}) != 0) {
    keys.emplace_back(EntityKind::kStage, stage_id, "");
  }
  for (auto it = states.lower_bound({EntityKind::kTask, stage_id, ""});
       it != states.end() && std::get<0>(it->first) == EntityKind::kTask &&
       std::get<1>(it->first) == stage_id;
       ++it) {
    keys.push_back(it->first);
  }
  return keys;
}

const nlohmann::json* find_state(const EntityStates& states,
                                 const EntityKey& key) {
  const auto it = states.find(key);
  return it == states.end() ? nullptr : &it->second;
}

// Replays the events between the two points one at a time and remembers, for
// each (entity, field), the last event that changed it. An entity appearing
// or disappearing is field "".
class ChangeTracker {
 public:
  ChangeTracker(std::string workflow_id, EntityStates states)
      : workflow_id_(std::move(workflow_id)), states_(std::move(states)) {}

  // Folds `event` (already applied to `replay`) into the tracked states,
  // comparing only the entities it touches.
  void apply(const Event& event, const WorkflowReplay& replay) {
    if (event.type() == EventType::kWorkflowStored ||
        event.type() == EventType::kWorkflowDeleted) {
      // Every entity of the workflow appears or disappears.
      EntityStates after = states_of(replay.workflow());
      std::vector<EntityKey> keys;
      for (const auto& [key, json] : states_) keys.push_back(key);
      for (const auto& [key, json] : after) keys.push_back(key);
      update(keys, after, event);
      return;
    }
    const std::vector<EntityRef> touched = event_entities(event.payload);
    const bool names_stage = std::any_of(
        touched.begin(), touched.end(),
        [](const EntityRef& ref) { return ref.kind == EntityKind::kStage; });
    for (const EntityRef& ref : touched) {
      switch (ref.kind) {
        case EntityKind::kWorkflow: {
          if (ref.id != workflow_id_) break;
          EntityStates after;
          if (std::optional<Workflow> summary = replay.summary()) {
            after[{EntityKind::kWorkflow, "", ""}] =
                summary_state(std::move(*summary));
          }
          update({{EntityKind::kWorkflow, "", ""}}, after, event);
          break;
        }
        case EntityKind::kStage:
          refresh_stage(ref.id, replay, event);
          break;
        case EntityKind::kTask:
          // A task changes with its stage, which the event names too; a task
          // named alone is refreshed through the stage that holds it.
          if (names_stage) break;
          for (const auto& [key, json] : states_) {
            if (std::get<0>(key) == EntityKind::kTask &&
                std::get<2>(key) == ref.id) {
              refresh_stage(std::get<1>(key), replay, event);
              break;
            }
          }
          break;
        case EntityKind::kDelivery:
          break;
      }
    }
  }

  // The event that last changed `field` of `key` (field "": its presence),
  // or nullptr.
  const Event* last_change(const EntityKey& key,
                           const std::string& field) const {
    const auto it = changed_by_.find({key, field});
    return it == changed_by_.end() ? nullptr : &it->second;
  }

 private:
  void refresh_stage(const std::string& stage_id, const WorkflowReplay& replay,
                     const Event& event) {
    EntityStates after;
    if (std::optional<StageExecution> stage = replay.stage(stage_id)) {
      add_stage_states(*stage, after);
    }
    std::vector<EntityKey> keys = stage_keys(states_, stage_id);
    for (const auto& [key, json] : after) keys.push_back(key);
    update(keys, after, event);
  }

  // Compares each of `keys` in the tracked states with `after` (where an
  // absent key is an absent entity) and moves the tracked states there.
  void update(const std::vector<EntityKey>& keys, const EntityStates& after,
              const Event& event) {
    for (const EntityKey& key : keys) {
      const nlohmann::json* old_json = find_state(states_, key);
      const nlohmann::json* new_json = find_state(after, key);
      if (old_json == nullptr && new_json == nullptr) continue;
      if ((old_json == nullptr) != (new_json == nullptr)) {
        changed_by_.insert_or_assign({key, ""}, event);
      }
      for (const std::string& field : entity_fields(std::get<0>(key))) {
        if (member(old_json, field) != member(new_json, field)) {
          changed_by_.insert_or_assign({key, field}, event);
        }
      }
      if (new_json == nullptr) {
        states_.erase(key);
      } else {
        states_[key] = *new_json;
      }
    }
  }

  static const nlohmann::json& member(const nlohmann::json* json,
                                      const std::string& field) {
    static const nlohmann::json kNull;
    if (json == nullptr) return kNull;
    const auto it = json->find(field);
    return it == json->end() ? kNull : *it;
  }

  std::string workflow_id_;
  EntityStates states_;
  std::map<std::pair<EntityKey, std::string>, Event> changed_by_;
};

// `a` and `b` merged: `b`'s order, with the items only in `a` placed before
// the first item they precede in `a` that `b` holds too.
std::vector<std::string> merge_order(const std::vector<std::string>& a,
                                     const std::vector<std::string>& b) {
  std::map<std::string_view, std::size_t> in_a;
  for (std::size_t i = 0; i < a.size(); ++i) in_a.emplace(a[i], i);
  std::map<std::string_view, bool> in_b;
  for (const std::string& item : b) in_b.emplace(item, true);
  std::vector<std::string> merged;
  std::size_t next_a = 0;
  auto emit_a_until = [&](std::size_t end) {
    for (; next_a < end; ++next_a) {
      if (in_b.count(a[next_a]) == 0) merged.push_back(a[next_a]);
    }
  };
  for (const std::string& item : b) {
    const auto it = in_a.find(item);
    if (it != in_a.end() && it->second >= next_a) {
      emit_a_until(it->second);
      next_a = it->second + 1;
    }
    merged.push_back(item);
  }
  emit_a_until(a.size());
  return merged;
}

std::vector<std::string> stage_ids(const std::optional<Workflow>& workflow) {
  std::vector<std::string> ids;
  if (workflow) {
    for (const StageExecution& stage : workflow->stages) {
      ids.push_back(stage.id);
    }
  }
  return ids;
}

std::vector<std::string> task_ids(const std::optional<Workflow>& workflow,
                                  std::string_view stage_id) {
  std::vector<std::string> ids;
  if (!workflow) return ids;
  if (const StageExecution* stage = workflow->find_stage(stage_id)) {
    for (const TaskExecution& task : stage->tasks) ids.push_back(task.id);
  }
  return ids;
}

}  // namespace

std::optional<Workflow> History::workflow_as_of(std::string_view workflow_id,
                                                std::uint64_t lsn) const {
  validate_key(workflow_id, "workflow_id");
  const std::uint64_t end = as_of_end(*this, lsn, "workflow_as_of");
  if (end == 0) return std::nullopt;
  return replay_workflow(workflow_events(*this, workflow_id, end), workflow_id);
}

QueueState History::queue_as_of(std::uint64_t lsn) const {
  QueueState state;
  state.lsn = as_of_end(*this, lsn, "queue_as_of");
  if (state.lsn == 0) return state;
  EventQuery query;
  query.types.assign(kQueueEventTypes.begin(), kQueueEventTypes.end());
  query.to_lsn = state.lsn;
  query.limit = kNoLimit;
  ReplayedQueue queue = replay_queue(events(query));
  state.queued.reserve(queue.queued.size());
  for (QueuedMessage& m : queue.queued) {
    state.queued.push_back(
        {m.delivery_id, std::move(m.execution_id), std::move(m.message_type),
         Json::from_cbor(std::move(m.payload_cbor), "payload"), m.deliver_at,
         m.max_attempts, m.attempts, m.lease_until});
  }
  state.dead_letters.reserve(queue.dead_letters.size());
  for (StoredDeadLetter& d : queue.dead_letters) {
    state.dead_letters.push_back(
        {d.id, std::move(d.execution_id), std::move(d.message_type),
         Json::from_cbor(std::move(d.payload_cbor), "payload"), d.attempts,
         std::move(d.error), d.moved_at});
  }
  return state;
}

WorkflowDiff History::diff(std::string_view workflow_id, std::uint64_t from_lsn,
                           std::uint64_t to_lsn) const {
  validate_key(workflow_id, "workflow_id");
  if (from_lsn > to_lsn) {
    throw InvalidArgumentError(
        fmt::format("diff: from LSN {} is after to LSN {}", from_lsn, to_lsn));
  }
  WorkflowDiff diff;
  diff.workflow_id = std::string(workflow_id);
  diff.to_lsn = as_of_end(*this, to_lsn, "diff");
  diff.from_lsn = as_of_end(*this, from_lsn, "diff");
  EventQuery any;
  any.workflow_id = diff.workflow_id;
  if (count(any) == 0) {
    throw InvalidArgumentError(
        fmt::format("diff: workflow '{}' has no events", workflow_id));
  }
  const std::vector<Event> events =
      diff.to_lsn == 0 ? std::vector<Event>()
                       : workflow_events(*this, workflow_id, diff.to_lsn);

  WorkflowReplay replay{diff.workflow_id};
  std::size_t next = 0;
  for (; next < events.size() && events[next].lsn <= diff.from_lsn; ++next) {
    replay.apply(events[next]);
  }
  const std::optional<Workflow> before = replay.workflow();
  const EntityStates start = states_of(before);
  ChangeTracker tracker(diff.workflow_id, start);
  for (; next < events.size(); ++next) {
    replay.apply(events[next]);
    tracker.apply(events[next], replay);
  }
  const std::optional<Workflow> after = replay.workflow();
  const EntityStates end = states_of(after);

  auto add_changes = [&](const EntityKey& key) {
    const nlohmann::json* old_json = find_state(start, key);
    const nlohmann::json* new_json = find_state(end, key);
    auto change = [&](std::string field, nlohmann::json old_value,
                      nlohmann::json new_value) {
      const Event* by = tracker.last_change(key, field);
      diff.changes.push_back(FieldChange{
          entity_ref(key, workflow_id), std::move(field), std::move(old_value),
          std::move(new_value), by == nullptr ? 0 : by->lsn,
          by == nullptr ? 0 : by->timestamp_ms,
          by == nullptr ? EventType::kWorkflowStored : by->type(),
          by == nullptr ? AuditMetadata{} : by->audit});
    };
    if (old_json == nullptr && new_json == nullptr) return;
    if (old_json == nullptr || new_json == nullptr) {
      change("", old_json == nullptr ? nlohmann::json() : *old_json,
             new_json == nullptr ? nlohmann::json() : *new_json);
      return;
    }
    for (const std::string& field : entity_fields(std::get<0>(key))) {
      const auto old_it = old_json->find(field);
      const auto new_it = new_json->find(field);
      const nlohmann::json old_value =
          old_it == old_json->end() ? nlohmann::json() : *old_it;
      const nlohmann::json new_value =
          new_it == new_json->end() ? nlohmann::json() : *new_it;
      if (old_value != new_value) change(field, old_value, new_value);
    }
  };

  add_changes({EntityKind::kWorkflow, "", ""});
  for (const std::string& stage :
       merge_order(stage_ids(before), stage_ids(after))) {
    add_changes({EntityKind::kStage, stage, ""});
    for (const std::string& task :
         merge_order(task_ids(before, stage), task_ids(after, stage))) {
      add_changes({EntityKind::kTask, stage, task});
    }
  }
  return diff;
}

std::vector<Event> History::entity_history(const EntityRef& entity) const {
  validate_key(entity.id, "entity.id");
  EventQuery query;
  if (entity.kind == EntityKind::kWorkflow) {
    query.workflow_id = entity.id;
  } else {
    query.entity = entity;
  }
  query.limit = kNoLimit;
  return events(query);
}

}  // namespace wfstore
