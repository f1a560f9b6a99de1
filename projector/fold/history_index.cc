// The history indexes: what fold() writes for every event and commit, and
// the reads the history queries plan with; the log positions beside them.

#include "wfstore_internal/history_index.h"

#include <algorithm>
#include <charconv>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "wfstore/errors.h"

#include "wfstore_internal/keys.h"
#include "wfstore_internal/log_format.h"
#include "wfstore_internal/view_records.h"

namespace wfstore::history_index {
namespace {

std::string type_value(EventType type) {
  records::RecordWriter value;
  value.u16(static_cast<std::uint16_t>(type));
  return value.take();
}

std::string audit_value(std::uint64_t check) { return keys::encode_u64(check); }

// The commit-level entries of the commit `event` starts.
void index_commit(const Event& event, ViewStore& views) {
  views.put(Table::kCommits, keys::encode_u64(event.commit_id),
            keys::encode_i64(event.timestamp_ms));
  views.put(Table::kCommitTimes,
            commit_time_key(event.timestamp_ms, event.commit_id), "");
  if (!event.audit.actor.empty()) {
    const keys::IdHashes h = keys::id_hashes(event.audit.actor);
    views.put(Table::kActorCommits, keys::make_key({h.hash, event.commit_id}),
              audit_value(h.check));
  }
  if (!event.audit.correlation_id.empty()) {
    const keys::IdHashes h = keys::id_hashes(event.audit.correlation_id);
    views.put(Table::kCorrelationCommits,
              keys::make_key({h.hash, event.commit_id}), audit_value(h.check));
  }
}

// The first entry of `table` in [from, to) (or the last, `reverse`).
std::optional<std::pair<std::string, std::string>> first_in(
    const ViewReader& views, Table table, std::string_view from,
    std::string_view to, bool reverse) {
  std::optional<std::pair<std::string, std::string>> out;
  views.scan(
      table, from, to,
      [&](std::string_view key, std::string_view value) {
        out.emplace(std::string(key), std::string(value));
        return false;
      },
      reverse);
  return out;
}

CommitEntry commit_entry(const std::pair<std::string, std::string>& row) {
  return CommitEntry{keys::decode_u64(row.first), keys::decode_i64(row.second)};
}

}  // namespace

std::string workflow_key(std::uint64_t wf, std::uint64_t lsn) {
  return keys::make_key({wf, lsn});
}

std::string entity_key(EntityKind kind, std::uint64_t key, std::uint64_t lsn) {
  records::RecordWriter out;
  out.u8(static_cast<std::uint8_t>(kind));
  out.u64(key);
  out.u64(lsn);
  return out.take();
}

std::string type_key(EventType type, std::uint64_t lsn) {
  records::RecordWriter out;
  out.u16(static_cast<std::uint16_t>(type));
  out.u64(lsn);
  return out.take();
}

std::string commit_time_key(std::int64_t time_ms, std::uint64_t first_lsn) {
  std::string key = keys::encode_i64(time_ms);
  keys::append_u64(key, first_lsn);
  return key;
}

EntityKey entity_index_key(const EntityRef& entity) {
  if (entity.id.empty()) {
    throw InvalidArgumentError(fmt::format("entity query: the {} id is empty",
                                           entity_kind_name(entity.kind)));
  }
  switch (entity.kind) {
    case EntityKind::kStage:
    case EntityKind::kTask: {
      const keys::IdHashes h = keys::id_hashes(entity.id);
      return EntityKey{h.hash, h.check};
    }
    case EntityKind::kDelivery: {
      const std::string& id = entity.id;
      std::uint64_t value = 0;
      const auto [end, error] =
          std::from_chars(id.data(), id.data() + id.size(), value);
      if (error != std::errc() || end != id.data() + id.size() ||
          (id.size() > 1 && id[0] == '0')) {
        throw InvalidArgumentError(fmt::format(
            "entity query: delivery id '{}' is not a decimal number", id));
      }
      return EntityKey{value, std::nullopt};
    }
    case EntityKind::kWorkflow:
      break;
  }
  throw InvalidArgumentError(
      fmt::format("entity query: kind {} has no entity index key",
                  static_cast<int>(entity.kind)));
}

EventType indexed_type(std::string_view value, Table table) {
  records::RecordReader reader(value, table);
  return static_cast<EventType>(reader.u16());
}

bool entity_check_matches(std::string_view value, const EntityKey& key) {
  if (!key.check) return true;
  records::RecordReader reader(value, Table::kEntityEvents);
  reader.u16();
  const std::string_view checks = reader.rest();
  if (checks.empty() || checks.size() % 8 != 0) {
    throw CorruptionError(fmt::format(
        "views table entity_events: value of {} bytes", value.size()));
  }
  for (std::size_t i = 0; i < checks.size(); i += 8) {
    if (keys::decode_u64(checks.substr(i, 8)) == *key.check) return true;
  }
  return false;
}

void index_event(const Event& event, ViewStore& views) {
  const EventType type = event.type();
  const std::string value = type_value(type);
  const std::string workflow_id = event_workflow_id(event.payload);
  if (!workflow_id.empty()) {
    const std::uint64_t wf = keys::intern_id(views, workflow_id);
    views.put(Table::kWorkflowEvents, workflow_key(wf, event.lsn), value);
  }
  // One entry per (kind, key): ids of one event whose hashes collide share
  // it, each check appended.
  std::vector<std::pair<std::string, std::string>> entries;
  for (const EntityRef& entity : event_entities(event.payload)) {
    if (entity.kind == EntityKind::kWorkflow) continue;
    const EntityKey key = entity_index_key(entity);
    std::string index_key = entity_key(entity.kind, key.key, event.lsn);
    auto it = std::find_if(entries.begin(), entries.end(),
                           [&](const auto& e) { return e.first == index_key; });
    if (it == entries.end()) {
      entries.emplace_back(std::move(index_key), value);
      it = entries.end() - 1;
    }
    if (key.check) keys::append_u64(it->second, *key.check);
  }
  for (const auto& [index_key, entry] : entries) {
    views.put(Table::kEntityEvents, index_key, entry);
  }
  views.put(Table::kTypeEvents, type_key(type, event.lsn), "");
  // `value` is the event's type: the key of its count.
  const std::optional<std::string> count =
      views.get(Table::kEventCounts, value);
  views.put(Table::kEventCounts, value,
            keys::encode_u64((count ? keys::decode_u64(*count) : 0) + 1));
  if (event.lsn == event.commit_id) index_commit(event, views);
}

std::uint64_t event_count(const ViewReader& views, EventType type) {
  const std::optional<std::string> count =
      views.get(Table::kEventCounts, type_value(type));
  return count ? keys::decode_u64(*count) : 0;
}

std::optional<CommitEntry> commit_holding(const ViewReader& views,
                                          std::uint64_t lsn) {
  if (lsn == 0) return std::nullopt;
  const auto row =
      first_in(views, Table::kCommits, "",
               lsn == UINT64_MAX ? std::string() : keys::encode_u64(lsn + 1),
               /*reverse=*/true);
  if (!row) return std::nullopt;
  return commit_entry(*row);
}

std::optional<CommitEntry> commit_after(const ViewReader& views,
                                        std::uint64_t lsn) {
  if (lsn == UINT64_MAX) return std::nullopt;
  const auto row = first_in(views, Table::kCommits, keys::encode_u64(lsn + 1),
                            "", /*reverse=*/false);
  if (!row) return std::nullopt;
  return commit_entry(*row);
}

std::optional<std::uint64_t> first_commit_at_or_after(const ViewReader& views,
                                                      std::int64_t time_ms) {
  const auto row = first_in(views, Table::kCommitTimes,
                            commit_time_key(time_ms, 0), "", false);
  if (!row) return std::nullopt;
  keys::KeyReader reader(row->first);
  reader.i64();
  return reader.u64();
}

std::optional<IndexedPosition> record_log_position_after(
    ViewStore& views, std::uint64_t first_lsn, const LogPosition& position,
    const std::optional<IndexedPosition>& before) {
  if (before) {
    if (before->first_lsn == first_lsn) return before;
    if (before->position.segment_first_lsn == position.segment_first_lsn &&
        before->position.offset / log::kBlockSize ==
            position.offset / log::kBlockSize) {
      return before;
    }
  }
  views.put(Table::kLogPositions, keys::encode_u64(first_lsn),
            keys::make_key({position.segment_first_lsn, position.offset}));
  return IndexedPosition{first_lsn, position};
}

std::optional<IndexedPosition> log_position_before(const ViewReader& views,
                                                   std::uint64_t lsn) {
  if (lsn == 0) return std::nullopt;
  const auto row =
      first_in(views, Table::kLogPositions, "",
               lsn == UINT64_MAX ? std::string() : keys::encode_u64(lsn + 1),
               /*reverse=*/true);
  if (!row) return std::nullopt;
  keys::KeyReader value(row->second);
  IndexedPosition out;
  out.first_lsn = keys::decode_u64(row->first);
  out.position.segment_first_lsn = value.u64();
  out.position.offset = value.u64();
  value.expect_done();
  return out;
}

}  // namespace wfstore::history_index
