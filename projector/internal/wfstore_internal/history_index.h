// The history indexes of the views (docs/read-models.md#history-indexes):
// their key and value layouts, the writes fold() makes for every event, and
// the reads History's queries plan with. Also the log positions, the sparse
// LSN -> (segment, offset) index that lets a reader seek into the log; it is
// bookkeeping of one copy of the views (not checksummed, not compared by
// verify) written beside the fold by the writer, catch-up and rebuild.
//
// Layouts (big-endian; times i64 with the sign bit flipped):
//
//   workflow_events  (wf surrogate u64, lsn u64) -> type u16
//   entity_events    (kind u8, key u64, lsn u64) -> type u16 check u64*
//                    key: id_hash(id) for stages and tasks (the value ends
//                    with the id's check, keys::id_hashes, one per id of the
//                    event with that hash), the delivery id for deliveries
//                    (no check); workflows use workflow_events
//   type_events      (type u16, lsn u64) -> ""
//   commits          first_lsn u64 -> time i64
//   commit_times     (time i64, first_lsn u64) -> ""
//   actor_commits    (id_hash(actor) u64, first_lsn u64) -> check u64
//   correlation_commits  (id_hash(correlation id) u64, first_lsn u64) ->
//                    check u64
//   event_counts     type u16 -> count u64
//   log_positions    first_lsn u64 -> segment first LSN u64, offset u64
//
// A commit's LSN range runs from its first LSN to the next commit's first
// LSN minus one (the last commit's to the applied LSN). Commit times never
// decrease along the log (the writer stamps max(last, now)), so commit_times
// is in LSN order too.
//
// Thread-safety: the functions keep no state; the views' own rules apply.

#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "wfstore/event.h"

#include "wfstore_internal/view_store.h"

namespace wfstore::history_index {

// ---- written by fold() ----

// Writes `event`'s entries in every history index; the commit-level ones
// (commits, commit_times, actor and correlation) once per commit, on the
// event whose lsn is its commit_id. Throws what the views throw.
void index_event(const Event& event, ViewStore& views);

// ---- keys ----

std::string workflow_key(std::uint64_t wf, std::uint64_t lsn);
std::string entity_key(EntityKind kind, std::uint64_t key, std::uint64_t lsn);
std::string type_key(EventType type, std::uint64_t lsn);
std::string commit_time_key(std::int64_t time_ms, std::uint64_t first_lsn);

// What an entity is indexed under.
struct EntityKey {
  std::uint64_t key = 0;
  // The id's check (keys::id_hashes); unset for deliveries, whose key is
  // their id.
  std::optional<std::uint64_t> check;
};

// The entity_events key of a stage, task or delivery. Throws
// InvalidArgumentError for a workflow (indexed by workflow_events), an empty
// id, or a delivery id that is not a decimal number without leading zeros
// that fits in 64 bits.
EntityKey entity_index_key(const EntityRef& entity);

// The type in an index value (workflow_events, entity_events). Throws
// CorruptionError for a short value.
EventType indexed_type(std::string_view value, Table table);
// Whether an entity_events value holds `key`'s check (always true for a
// delivery). Throws CorruptionError for a malformed value.
bool entity_check_matches(std::string_view value, const EntityKey& key);

// ---- reads ----

// The number of events of `type` folded (event_counts).
std::uint64_t event_count(const ViewReader& views, EventType type);

// A commit as the commits table holds it.
struct CommitEntry {
  std::uint64_t first_lsn = 0;
  std::int64_t time_ms = 0;
};

// The commit that holds `lsn` (the greatest first LSN <= lsn), or nullopt.
std::optional<CommitEntry> commit_holding(const ViewReader& views,
                                          std::uint64_t lsn);
// The first commit after `lsn` (the smallest first LSN > lsn), or nullopt.
std::optional<CommitEntry> commit_after(const ViewReader& views,
                                        std::uint64_t lsn);
// The first commit whose time is >= `time_ms` (commit_times), or nullopt.
std::optional<std::uint64_t> first_commit_at_or_after(const ViewReader& views,
                                                      std::int64_t time_ms);

// ---- log positions (bookkeeping of this copy) ----

// Where a commit record starts in the log.
struct LogPosition {
  std::uint64_t segment_first_lsn = 0;
  std::uint64_t offset = 0;
};

// The greatest indexed commit start <= `lsn` and its position, or nullopt.
// Throws CorruptionError for a malformed entry.
struct IndexedPosition {
  std::uint64_t first_lsn = 0;
  LogPosition position;
};
std::optional<IndexedPosition> log_position_before(const ViewReader& views,
                                                   std::uint64_t lsn);

// Records that the commit starting at `first_lsn` starts at `position`,
// unless the entry before it already points into the same log block of the
// same segment (at most one entry per block). Never checksummed. `before` is
// what log_position_before(views, first_lsn) returns; its writers (the commit
// pipeline, catch-up and rebuild) carry it from commit to commit instead of
// reading it back. Returns the greatest indexed commit start <= first_lsn
// after the call: the next call's `before`. REQUIRES: `before` is that entry.
// Throws what the views throw.
std::optional<IndexedPosition> record_log_position_after(
    ViewStore& views, std::uint64_t first_lsn, const LogPosition& position,
    const std::optional<IndexedPosition>& before);

}  // namespace wfstore::history_index
