// Placeholders of the history API while it is being built; each definition
// moves to its own file (history.cc names them) and leaves this file.

#include <algorithm>
#include <iterator>
#include <stdexcept>
#include <string>
#include <variant>

#include "wfstore/database.h"
#include "wfstore/errors.h"
#include "wfstore/history.h"

#include "store/database_impl.h"
#include "wfstore_internal/overloaded.h"
#include "wfstore_internal/store_core.h"
#include "wfstore_internal/views.h"

namespace wfstore {
namespace {
[[noreturn]] void pending(const char* what) {
  throw std::logic_error(std::string(what) + " is not built yet");
}
}  // namespace

// ---- query.cc (event queries) ----
std::optional<Event> History::event_at(std::uint64_t) const {
  pending("event_at");
}
std::uint64_t History::lsn_at_time(std::int64_t) const {
  pending("lsn_at_time");
}
std::string_view entity_kind_name(EntityKind) { pending("entity_kind_name"); }
std::optional<EntityKind> find_entity_kind(std::string_view) {
  pending("find_entity_kind");
}

// ---- scanning stand-ins of query.cc ----
// current_lsn, events, count, commit_end and event_entities as plain walks of
// the whole log, until the indexed versions replace them.
namespace {

void add_entity(std::vector<EntityRef>& out, EntityKind kind,
                std::string_view id) {
  if (id.empty()) return;
  EntityRef ref{kind, std::string(id)};
  for (const EntityRef& seen : out) {
    if (seen == ref) return;
  }
  out.push_back(std::move(ref));
}

void add_stage(std::vector<EntityRef>& out, const StageExecution& stage) {
  add_entity(out, EntityKind::kStage, stage.id);
  for (const TaskExecution& task : stage.tasks) {
    add_entity(out, EntityKind::kTask, task.id);
  }
}

void add_delivery(std::vector<EntityRef>& out, std::uint64_t delivery) {
  add_entity(out, EntityKind::kDelivery, std::to_string(delivery));
}

bool selects(const EventQuery& query, const Event& event) {
  if (query.workflow_id && event.workflow_id != *query.workflow_id) {
    return false;
  }
  if (query.from_lsn && event.lsn <= *query.from_lsn) return false;
  if (query.to_lsn && event.lsn > *query.to_lsn) return false;
  if (query.from_time_ms && event.timestamp_ms < *query.from_time_ms) {
    return false;
  }
  if (query.to_time_ms && event.timestamp_ms > *query.to_time_ms) return false;
  if (query.actor && event.audit.actor != *query.actor) return false;
  if (query.correlation_id &&
      event.audit.correlation_id != *query.correlation_id) {
    return false;
  }
  if (!query.types.empty() && std::find(query.types.begin(), query.types.end(),
                                        event.type()) == query.types.end()) {
    return false;
  }
  if (query.entity) {
    const std::vector<EntityRef> touched = event_entities(event.payload);
    if (std::find(touched.begin(), touched.end(), *query.entity) ==
        touched.end()) {
      return false;
    }
  }
  return true;
}

// Every event up to current_lsn() that `query` selects, in LSN order.
std::vector<Event> scan_log(Database& database, std::uint64_t current,
                            const EventQuery& query) {
  if (query.from_lsn && query.to_lsn && *query.from_lsn >= *query.to_lsn) {
    throw InvalidArgumentError("event query: from_lsn >= to_lsn");
  }
  if (query.from_time_ms && query.to_time_ms &&
      *query.from_time_ms > *query.to_time_ms) {
    throw InvalidArgumentError("event query: from_time_ms > to_time_ms");
  }
  std::vector<Event> out;
  for_each_event(database_impl(database).store_dir().dir(), 0,
                 [&](const Event& event) {
                   if (event.lsn > current) return false;
                   if (selects(query, event)) out.push_back(event);
                   return true;
                 });
  return out;
}

}  // namespace

std::vector<EntityRef> event_entities(const EventPayload& payload) {
  std::vector<EntityRef> out;
  add_entity(out, EntityKind::kWorkflow, event_workflow_id(payload));
  std::visit(
      Overloaded{
          [&](const WorkflowStored& e) {
            for (const StageExecution& stage : e.workflow.stages) {
              add_stage(out, stage);
            }
          },
          [&](const StageAdded& e) { add_stage(out, e.stage); },
          [&](const StageUpdated& e) {
            add_entity(out, EntityKind::kStage, e.stage_id);
            for (const TaskExecution& task : e.tasks) {
              add_entity(out, EntityKind::kTask, task.id);
            }
          },
          [&](const StageRemoved& e) {
            add_entity(out, EntityKind::kStage, e.stage_id);
          },
          [&](const ClaimAcquired& e) {
            add_entity(out, EntityKind::kStage, e.stage_id);
          },
          [&](const ClaimTransferred& e) {
            add_entity(out, EntityKind::kStage, e.from_stage_id);
            add_entity(out, EntityKind::kStage, e.to_stage_id);
          },
          [&](const MessagePushed& e) { add_delivery(out, e.delivery_id); },
          [&](const MessageLeased& e) { add_delivery(out, e.delivery_id); },
          [&](const MessageAcked& e) { add_delivery(out, e.delivery_id); },
          [&](const MessageRescheduled& e) {
            add_delivery(out, e.delivery_id);
          },
          [&](const MessageLeaseExtended& e) {
            add_delivery(out, e.delivery_id);
          },
          [&](const MessageDeadLettered& e) {
            add_delivery(out, e.delivery_id);
          },
          [&](const DeadLetterReplayed& e) {
            add_delivery(out, e.delivery_id);
            add_delivery(out, e.new_delivery_id);
          },
          [&](const auto&) {},
      },
      payload);
  return out;
}

std::uint64_t History::current_lsn() const {
  return applied_lsn(store_core(database_).read());
}

std::vector<Event> History::events(const EventQuery& query) const {
  std::vector<Event> all = scan_log(database_, current_lsn(), query);
  if (!query.ascending) std::reverse(all.begin(), all.end());
  const std::size_t first = std::min(query.offset, all.size());
  const std::size_t last = first + std::min(query.limit, all.size() - first);
  return {std::make_move_iterator(all.begin() + static_cast<long>(first)),
          std::make_move_iterator(all.begin() + static_cast<long>(last))};
}

std::uint64_t History::count(const EventQuery& query) const {
  return scan_log(database_, current_lsn(), query).size();
}

std::uint64_t History::commit_end(std::uint64_t lsn) const {
  const std::uint64_t current = current_lsn();
  if (lsn == 0 || lsn > current) {
    throw InvalidArgumentError("commit_end: LSN " + std::to_string(lsn) +
                               " is not in the log");
  }
  std::optional<std::uint64_t> commit;
  std::uint64_t end = lsn;
  for_each_event(database_impl(database_).store_dir().dir(), lsn - 1,
                 [&](const Event& event) {
                   if (event.lsn > current) return false;
                   if (!commit) commit = event.commit_id;
                   if (event.commit_id != *commit) return false;
                   end = event.lsn;
                   return true;
                 });
  return end;
}

// ---- fork.cc and bundle.cc ----
ForkReport History::fork(std::uint64_t, const std::filesystem::path&) const {
  pending("fork");
}
std::string store_id(Database&) { pending("store_id"); }
std::optional<ForkOrigin> fork_origin(Database&) { pending("fork_origin"); }
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

// ---- summary.cc ----
StoreSummary summarize_store(Database&) { pending("summarize_store"); }

}  // namespace wfstore
