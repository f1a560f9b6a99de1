// Placeholders of the history API while it is being built; each definition
// moves to its own file (history.cc names them) and leaves this file.

#include <algorithm>
#include <stdexcept>

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
// Log-scanning stand-ins of the event queries, replaced by the views' history
// indexes (STAND-IN: dropped when query.cc lands).
namespace {
const std::filesystem::path& stand_in_dir(Database& database) {
  return Database::Impl::of(database).store_dir().dir();
}
bool stand_in_matches(const EventQuery& q, const Event& e) {
  if (q.workflow_id && e.workflow_id != *q.workflow_id) return false;
  if (q.entity) pending("events by entity");
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
std::vector<Event> stand_in_matching(Database& database, const EventQuery& q,
                                     std::uint64_t last) {
  if (q.from_lsn && q.to_lsn && *q.from_lsn >= *q.to_lsn)
    throw InvalidArgumentError("from_lsn must be below to_lsn");
  if (q.from_time_ms && q.to_time_ms && *q.from_time_ms > *q.to_time_ms)
    throw InvalidArgumentError("from_time_ms must not be after to_time_ms");
  std::vector<Event> out;
  for_each_event(stand_in_dir(database), 0, [&](const Event& e) {
    if (e.lsn > last) return false;
    if (stand_in_matches(q, e)) out.push_back(e);
    return true;
  });
  return out;
}
}  // namespace

std::uint64_t History::current_lsn() const {
  return database_.stats().applied_lsn;
}
std::vector<Event> History::events(const EventQuery& query) const {
  std::vector<Event> all = stand_in_matching(database_, query, current_lsn());
  if (!query.ascending) std::reverse(all.begin(), all.end());
  std::vector<Event> out;
  for (std::size_t i = query.offset; i < all.size() && out.size() < query.limit;
       ++i)
    out.push_back(std::move(all[i]));
  return out;
}
std::uint64_t History::count(const EventQuery& query) const {
  return stand_in_matching(database_, query, current_lsn()).size();
}
std::optional<Event> History::event_at(std::uint64_t lsn) const {
  if (lsn == 0 || lsn > current_lsn()) return std::nullopt;
  std::optional<Event> found;
  for_each_event(stand_in_dir(database_), lsn - 1, [&](const Event& e) {
    if (e.lsn == lsn) found = e;
    return false;
  });
  return found;
}
std::uint64_t History::commit_end(std::uint64_t lsn) const {
  const std::uint64_t last = current_lsn();
  if (lsn == 0 || lsn > last)
    throw InvalidArgumentError("lsn " + std::to_string(lsn) + " is not held");
  std::uint64_t commit = 0;
  std::uint64_t end = lsn;
  for_each_event(stand_in_dir(database_), lsn - 1, [&](const Event& e) {
    if (commit == 0) commit = e.commit_id;
    if (e.commit_id != commit || e.lsn > last) return false;
    end = e.lsn;
    return true;
  });
  return end;
}
std::uint64_t History::lsn_at_time(std::int64_t time_ms) const {
  const std::uint64_t last = current_lsn();
  std::uint64_t at = 0;
  for_each_event(stand_in_dir(database_), 0, [&](const Event& e) {
    if (e.timestamp_ms > time_ms || e.lsn > last) return false;
    at = e.lsn;
    return true;
  });
  return at;
}
std::vector<EntityRef> event_entities(const EventPayload&) {
  pending("event_entities");
}
std::string_view entity_kind_name(EntityKind) { pending("entity_kind_name"); }
std::optional<EntityKind> find_entity_kind(std::string_view) {
  pending("find_entity_kind");
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
