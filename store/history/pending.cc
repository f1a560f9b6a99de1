// Placeholders of the history API while it is being built; each definition
// moves to its own file (history.cc names them) and leaves this file.

#include <algorithm>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <variant>

#include "wfstore/database.h"
#include "wfstore/errors.h"
#include "wfstore/history.h"

#include "store/database_impl.h"

namespace wfstore {
namespace {
[[noreturn]] void pending(const char* what) {
  throw std::logic_error(std::string(what) + " is not built yet");
}
}  // namespace

// ---- query.cc (event queries) ----
// STAND-INS of the event queries for the tool's tests: they scan the log with
// for_each_event and are replaced by the indexed queries (query.cc).
namespace {
std::filesystem::path stand_in_dir(Database& database) {
  return database_impl(database).store_dir().dir();
}
bool stand_in_matches(const EventQuery& q, const Event& e) {
  if (q.workflow_id && e.workflow_id != *q.workflow_id) return false;
  if (q.entity) {
    const std::vector<EntityRef> touched = event_entities(e.payload);
    if (std::find(touched.begin(), touched.end(), *q.entity) == touched.end())
      return false;
  }
  if (!q.types.empty() &&
      std::find(q.types.begin(), q.types.end(), e.type()) == q.types.end())
    return false;
  if (q.actor && e.audit.actor != *q.actor) return false;
  if (q.correlation_id && e.audit.correlation_id != *q.correlation_id)
    return false;
  if (q.from_lsn && e.lsn <= *q.from_lsn) return false;
  if (q.to_lsn && e.lsn > *q.to_lsn) return false;
  if (q.from_time_ms && e.timestamp_ms < *q.from_time_ms) return false;
  if (q.to_time_ms && e.timestamp_ms > *q.to_time_ms) return false;
  return true;
}
std::vector<Event> stand_in_all(Database& database, std::uint64_t end) {
  std::vector<Event> all;
  if (end == 0) return all;
  for_each_event(stand_in_dir(database), 0, [&](const Event& e) {
    if (e.lsn > end) return false;
    all.push_back(e);
    return true;
  });
  return all;
}
void stand_in_check(const EventQuery& q) {
  if (q.from_lsn && q.to_lsn && *q.from_lsn >= *q.to_lsn)
    throw InvalidArgumentError("from_lsn must be below to_lsn");
  if (q.from_time_ms && q.to_time_ms && *q.from_time_ms > *q.to_time_ms)
    throw InvalidArgumentError("from_time_ms must not be above to_time_ms");
}
}  // namespace

std::uint64_t History::current_lsn() const {
  return database_.stats().applied_lsn;
}
std::vector<Event> History::events(const EventQuery& query) const {
  stand_in_check(query);
  std::vector<Event> matched;
  for (Event& e : stand_in_all(database_, current_lsn())) {
    if (stand_in_matches(query, e)) matched.push_back(std::move(e));
  }
  if (!query.ascending) std::reverse(matched.begin(), matched.end());
  std::vector<Event> out;
  for (std::size_t i = query.offset;
       i < matched.size() && out.size() < query.limit; ++i) {
    out.push_back(matched[i]);
  }
  return out;
}
std::uint64_t History::count(const EventQuery& query) const {
  stand_in_check(query);
  std::uint64_t n = 0;
  for (const Event& e : stand_in_all(database_, current_lsn())) {
    if (stand_in_matches(query, e)) ++n;
  }
  return n;
}
std::optional<Event> History::event_at(std::uint64_t lsn) const {
  if (lsn == 0 || lsn > current_lsn()) return std::nullopt;
  for (Event& e : stand_in_all(database_, lsn)) {
    if (e.lsn == lsn) return std::move(e);
  }
  return std::nullopt;
}
std::uint64_t History::commit_end(std::uint64_t lsn) const {
  const std::uint64_t end = current_lsn();
  if (lsn == 0 || lsn > end)
    throw InvalidArgumentError("lsn " + std::to_string(lsn) + " out of range");
  std::uint64_t last = lsn;
  for (const Event& e : stand_in_all(database_, end)) {
    if (e.commit_id <= lsn) last = e.lsn;
  }
  return last;
}
std::uint64_t History::lsn_at_time(std::int64_t time_ms) const {
  std::uint64_t last = 0;
  for (const Event& e : stand_in_all(database_, current_lsn())) {
    if (e.timestamp_ms <= time_ms) last = e.lsn;
  }
  return last;
}
std::vector<EntityRef> event_entities(const EventPayload& payload) {
  std::vector<EntityRef> out;
  const auto add = [&](EntityKind kind, const std::string& id) {
    if (id.empty()) return;
    const EntityRef ref{kind, id};
    if (std::find(out.begin(), out.end(), ref) == out.end()) out.push_back(ref);
  };
  const std::string wf = event_workflow_id(payload);
  add(EntityKind::kWorkflow, wf);
  std::visit(
      [&](const auto& p) {
        using T = std::decay_t<decltype(p)>;
        if constexpr (std::is_same_v<T, WorkflowStored>) {
          for (const StageExecution& s : p.workflow.stages) {
            add(EntityKind::kStage, s.id);
            for (const TaskExecution& t : s.tasks) add(EntityKind::kTask, t.id);
          }
        } else if constexpr (std::is_same_v<T, StageAdded>) {
          add(EntityKind::kStage, p.stage.id);
          for (const TaskExecution& t : p.stage.tasks)
            add(EntityKind::kTask, t.id);
        } else if constexpr (std::is_same_v<T, StageUpdated>) {
          add(EntityKind::kStage, p.stage_id);
          for (const TaskExecution& t : p.tasks) add(EntityKind::kTask, t.id);
        } else if constexpr (std::is_same_v<T, StageRemoved>) {
          add(EntityKind::kStage, p.stage_id);
        } else if constexpr (requires { p.delivery_id; }) {
          add(EntityKind::kDelivery, std::to_string(p.delivery_id));
        }
      },
      payload);
  return out;
}
std::string_view entity_kind_name(EntityKind kind) {
  switch (kind) {
    case EntityKind::kWorkflow:
      return "workflow";
    case EntityKind::kStage:
      return "stage";
    case EntityKind::kTask:
      return "task";
    case EntityKind::kDelivery:
      return "delivery";
  }
  return "unknown";
}
std::optional<EntityKind> find_entity_kind(std::string_view name) {
  for (EntityKind k : {EntityKind::kWorkflow, EntityKind::kStage,
                       EntityKind::kTask, EntityKind::kDelivery}) {
    if (entity_kind_name(k) == name) return k;
  }
  return std::nullopt;
}

// ---- as_of.cc (time travel) ----
std::optional<Workflow> History::workflow_as_of(std::string_view,
                                                std::uint64_t) const {
  pending("workflow_as_of");
}
QueueState History::queue_as_of(std::uint64_t) const { pending("queue_as_of"); }
WorkflowDiff History::diff(std::string_view, std::uint64_t,
                           std::uint64_t) const {
  pending("diff");
}
std::vector<Event> History::entity_history(const EntityRef&) const {
  pending("entity_history");
}

// ---- fork.cc and bundle.cc ----
ForkReport History::fork(std::uint64_t, const std::filesystem::path&) const {
  pending("fork");
}
// STAND-INS of store_id and fork_origin (fork.cc defines them): the store
// id from STORE, and no origin.
std::string store_id(Database& database) {
  return database_impl(database).store_dir().id().to_string();
}
std::optional<ForkOrigin> fork_origin(Database&) { return std::nullopt; }
BundleInfo History::export_workflow(std::string_view,
                                    const std::filesystem::path&) const {
  pending("export_workflow");
}
BundleInfo read_bundle_info(const std::filesystem::path&) {
  pending("read_bundle_info");
}
BundleInfo import_bundle(Database&, const std::filesystem::path&) {
  pending("import_bundle");
}

}  // namespace wfstore
