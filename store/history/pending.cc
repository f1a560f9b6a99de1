// Placeholders of the history API while it is being built; each definition
// moves to its own file (history.cc names them) and leaves this file.

#include <stdexcept>

#include <fmt/format.h>

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
// Scanning stand-ins of current_lsn, events and commit_end (they read the
// whole log; the indexed queries replace them).
std::uint64_t History::current_lsn() const {
  return database_.stats().applied_lsn;
}
std::vector<Event> History::events(const EventQuery& query) const {
  const std::uint64_t end = current_lsn();
  std::vector<Event> out;
  std::size_t skipped = 0;
  for_each_event(
      database_impl(database_).store_dir().dir(), query.from_lsn.value_or(0),
      [&](const Event& event) {
        if (event.lsn > end || event.lsn > query.to_lsn.value_or(end))
          return false;
        if (query.workflow_id && event.workflow_id != *query.workflow_id)
          return true;
        if (skipped < query.offset) {
          ++skipped;
          return true;
        }
        out.push_back(event);
        return out.size() < query.limit;
      });
  return out;
}
std::uint64_t History::count(const EventQuery&) const { pending("count"); }
std::optional<Event> History::event_at(std::uint64_t) const {
  pending("event_at");
}
std::uint64_t History::commit_end(std::uint64_t lsn) const {
  const std::uint64_t end = current_lsn();
  if (lsn == 0 || lsn > end) {
    throw InvalidArgumentError(fmt::format("lsn {} is not in 1..{}", lsn, end));
  }
  std::uint64_t last = lsn;
  for_each_event(database_impl(database_).store_dir().dir(), lsn - 1,
                 [&](const Event& event) {
                   if (event.commit_id > lsn) return false;
                   last = event.lsn;
                   return true;
                 });
  return last;
}
std::uint64_t History::lsn_at_time(std::int64_t) const {
  pending("lsn_at_time");
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

// ---- summary.cc ----
StoreSummary summarize_store(Database&) { pending("summarize_store"); }

}  // namespace wfstore
