// Reading a store's history (docs/history.md):
//
// - for_each_event(): every event of a store's log, in LSN order, with its
//   envelope (LSN, commit, time, workflow, audit); what `wfstore log` prints
//   and an exporter sends. It opens the log itself.
// - History: the history API over an open Database: event queries served from
//   the views' history indexes, the event at an LSN, time travel (a workflow
//   or the queue as of an LSN or a time), diffs, fork-and-replay and
//   one-workflow bundles.
//
// LSNs: every event has one; a commit holds a dense range of them. "As of LSN
// n" means after the whole commit that holds n. Times are commit times, epoch
// milliseconds, non-decreasing in LSN order.

#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "wfstore/event.h"
#include "wfstore/logger.h"
#include "wfstore/model.h"

namespace wfstore {

// Calls `visit` with every event of the store in `dir` whose LSN is greater
// than `after_lsn`, in LSN order, until `visit` returns false or the log ends.
// The log ends where it ended when the call began: at the last whole commit
// that opening the store would keep (commits a writer appends during the walk
// are not visited; with Durability::kBuffered, commits written but not yet
// fdatasynced are). Read-only: never writes and takes no lock, so a writer
// may go on.
//
// Returns the LSN of the last event visited, or `after_lsn` when none was:
// pass it as `after_lsn` of a later call to continue where this one stopped.
//
// Damage after the last whole commit (a torn tail, which the writer's next
// open cuts off) ends the walk and is reported through `logger` at kWarning;
// damage before it is corruption.
//
// `event` is valid only during its call to `visit`. Throws
// InvalidArgumentError if `dir` is missing or not a store, CorruptionError
// (naming segment and offset) for a damaged log or an undecodable commit,
// IOError, and what `visit` throws (the walk stops there).
std::uint64_t for_each_event(
    const std::filesystem::path& dir, std::uint64_t after_lsn,
    const std::function<bool(const Event& event)>& visit,
    const Logger& logger = {});

// ---- the history API over an open Database ----

class Database;

// The order of History::events().
enum class EventOrder : std::uint8_t {
  kLsn = 0,        // LSN order
  kTimestamp = 1,  // commit time, then LSN (the same order: times never
                   // decrease along the log)
};

// What History::events() and count() select: every set criterion must hold
// (an AND); unset criteria select everything. Defaults as the reference's
// EventQuery: no filters, limit 1000, offset 0, LSN order ascending.
struct EventQuery {
  // Events whose envelope names this workflow (event_workflow_id()).
  std::optional<std::string> workflow_id;
  // Events that touch this entity (event_entities()).
  std::optional<EntityRef> entity;
  // Events of any of these types; empty: every type.
  std::vector<EventType> types;
  // Events of commits whose audit actor / correlation id equals this.
  std::optional<std::string> actor;
  std::optional<std::string> correlation_id;
  // LSN range: from_lsn exclusive, to_lsn inclusive.
  std::optional<std::uint64_t> from_lsn;
  std::optional<std::uint64_t> to_lsn;
  // Commit time range, epoch milliseconds, both inclusive.
  std::optional<std::int64_t> from_time_ms;
  std::optional<std::int64_t> to_time_ms;
  // At most `limit` events after skipping `offset` matches, in `order`.
  std::size_t limit = 1000;
  std::size_t offset = 0;
  EventOrder order = EventOrder::kLsn;
  bool ascending = true;
};

// Throws InvalidArgumentError for a query History::events() and count()
// refuse (from_lsn >= to_lsn, from_time_ms > to_time_ms, an empty workflow
// id, an unknown entity kind or event type, an entity id that is not a valid
// key), naming what is wrong.
void check_event_query(const EventQuery& query);

// True when `event` meets every criterion of `query` (workflow, entity, types,
// actor, correlation id, LSN and time range; not limit, offset or order): what
// History::events() selects, checked on one event (`wfstore log --follow`
// filters the live events with it). An entity of kind workflow selects the
// events whose envelope names that workflow. Check the query first with
// check_event_query(): a query History::events() refuses matches nothing here.
bool event_matches(const Event& event, const EventQuery& query);

// A delivery of the queue as of an LSN (History::queue_as_of).
struct QueuedDeliveryState {
  std::uint64_t delivery_id = 0;
  std::string execution_id;  // "" when the message has none
  std::string message_type;
  Json payload;  // the message's wire JSON
  std::int64_t deliver_at = 0;
  std::optional<std::int64_t> max_attempts;  // unset: the queue's
  std::int64_t attempts = 0;
  std::optional<std::int64_t> lease_until;  // set while leased
};

// A dead letter as of an LSN.
struct DeadLetterState {
  std::uint64_t delivery_id = 0;
  std::string execution_id;
  std::string message_type;
  Json payload;
  std::int64_t attempts = 0;
  std::string error;
  std::int64_t moved_at = 0;
};

// The queue as of an LSN: queued deliveries by delivery id, dead letters by
// delivery id.
struct QueueState {
  std::uint64_t lsn = 0;
  std::vector<QueuedDeliveryState> queued;
  std::vector<DeadLetterState> dead_letters;
};

// One field of one entity that differs between two points, with the event
// that last changed it between them.
struct FieldChange {
  // The workflow, a stage or a task.
  EntityRef entity;
  // The field's name in workflow_to_json() / stage / task JSON (e.g.
  // "status", "context", "version"), or "" when the whole entity appeared
  // (before is null) or disappeared (after is null).
  std::string field;
  nlohmann::json before;  // null: absent at the first point
  nlohmann::json after;   // null: absent at the second point
  // The last event in (from, to] that changed this field.
  std::uint64_t lsn = 0;
  std::int64_t timestamp_ms = 0;
  EventType type = EventType::kWorkflowStored;
  AuditMetadata audit;
};

// What changed in one workflow between two LSNs: changes ordered workflow
// first, then stages and tasks in stage order, fields in field-table order.
struct WorkflowDiff {
  std::string workflow_id;
  std::uint64_t from_lsn = 0;  // as of (whole commits)
  std::uint64_t to_lsn = 0;
  std::vector<FieldChange> changes;
};

// Where a forked store came from (recorded in the fork's directory).
struct ForkOrigin {
  std::string source_store_id;  // the original's store id
  std::uint64_t lsn = 0;        // the last LSN copied (a commit's end)
  std::string commit_hash;      // that commit's hash, lowercase hex
};

struct ForkReport {
  std::string store_id;    // the fork's new store id
  std::uint64_t last_lsn;  // its log's last LSN: the end of the commit that
                           // holds the requested LSN
  std::uint64_t events = 0;
  std::uint64_t log_bytes = 0;
  double seconds = 0;
};

// What a bundle holds (export_workflow, import_bundle, read_bundle_info).
struct BundleInfo {
  std::string workflow_id;
  std::string source_store_id;
  std::uint64_t events = 0;
  std::uint64_t first_lsn = 0;  // in the source store
  std::uint64_t last_lsn = 0;
  std::uint64_t bytes = 0;
  std::string sha256;  // of the whole file, lowercase hex
};

// The history API of one open store (writer or read-only open). Each call
// reads one consistent point of the views (the LSN they have applied, see
// current_lsn()) and the log beside them; a writer may commit meanwhile.
//
// Lifetime: `database` must outlive the History. Thread-safety: every method
// may be called concurrently. Every method throws IOError for a closed or
// failed store and CorruptionError for damaged views or log.
class History {
 public:
  explicit History(Database& database);

  // The LSN of the last event the views hold (0: none).
  std::uint64_t current_lsn() const;

  // The events `query` selects, served from the views' history indexes (the
  // cost follows the selected events, not the log's size) and read from the
  // log by LSN. Throws InvalidArgumentError for a query with from_lsn >=
  // to_lsn or from_time_ms > to_time_ms, or an entity id that is not a
  // valid key.
  std::vector<Event> events(const EventQuery& query) const;
  // How many events `query` selects, ignoring its limit and offset. Throws
  // as events().
  std::uint64_t count(const EventQuery& query) const;
  // The event at `lsn`, or nullopt when `lsn` is 0 or beyond current_lsn().
  std::optional<Event> event_at(std::uint64_t lsn) const;
  // The last LSN of the commit that holds `lsn`. Throws InvalidArgumentError
  // when `lsn` is 0 or beyond current_lsn().
  std::uint64_t commit_end(std::uint64_t lsn) const;
  // The last LSN of the last commit whose time is <= `time_ms` (0: none is).
  std::uint64_t lsn_at_time(std::int64_t time_ms) const;

  // The workflow as of `lsn` (after the whole commit that holds it): every
  // stage and task with its version, folded by the views' own fold code over
  // the workflow's events only. nullopt when it did not exist then (never
  // stored yet, or deleted). Throws InvalidArgumentError when `lsn` is beyond
  // current_lsn() or `workflow_id` is not a valid key.
  std::optional<Workflow> workflow_as_of(std::string_view workflow_id,
                                         std::uint64_t lsn) const;
  // The queue and dead letters as of `lsn`. Throws as workflow_as_of().
  QueueState queue_as_of(std::uint64_t lsn) const;
  // What changed in the workflow between `from_lsn` and `to_lsn` (both as
  // of). Throws InvalidArgumentError when from_lsn > to_lsn, either is
  // beyond current_lsn(), `workflow_id` is not a valid key, or the workflow
  // has no events at all; NotFoundError
  // is never thrown (a workflow absent at a point diffs as appearing or
  // disappearing).
  WorkflowDiff diff(std::string_view workflow_id, std::uint64_t from_lsn,
                    std::uint64_t to_lsn) const;
  // Every event that touched `entity`, in LSN order (no limit); for a
  // workflow, the workflow's events. Throws InvalidArgumentError when the id
  // is not a valid key.
  std::vector<Event> entity_history(const EntityRef& entity) const;

  // Writes a new, independent store in `out` whose log is this store's log
  // through the commit that holds `lsn`, byte for byte except the segment
  // headers, which carry the fork's new store id; records the fork's origin
  // (fork_origin()) and builds its views. This store is only read. Throws
  // InvalidArgumentError when `lsn` is 0 or beyond current_lsn() or `out`
  // exists and is not an empty directory; on any error `out` is removed if
  // this call created it.
  ForkReport fork(std::uint64_t lsn, const std::filesystem::path& out) const;

  // Writes the whole history of one workflow (its events with their LSNs,
  // times, audit fields and commit hashes) to `file` (created; an existing
  // file is an error), self-contained and checksummed (docs/formats.md).
  // Throws InvalidArgumentError for an unknown workflow or an existing file.
  BundleInfo export_workflow(std::string_view workflow_id,
                             const std::filesystem::path& file) const;

 private:
  Database& database_;
};

// The store id of an open store and, for a fork, where it came from.
std::string store_id(Database& database);
std::optional<ForkOrigin> fork_origin(Database& database);

// A store at a glance (`wfstore stats`).
struct StoreSummary {
  std::string store_id;
  std::optional<ForkOrigin> origin;
  std::uint64_t workflows = 0;  // workflows stored now
  std::uint64_t events = 0;     // events in the views (== applied LSN)
  // Entries per view table, by table name, in table order.
  std::vector<std::pair<std::string, std::uint64_t>> tables;
  // Events per type, in type order, types with none left out.
  std::vector<std::pair<EventType, std::uint64_t>> events_by_type;
  std::uint64_t log_segments = 0;
  std::uint64_t log_bytes = 0;    // the segment files' sizes, zeros ahead too
  std::uint64_t applied_lsn = 0;  // the views'
  std::uint64_t durable_lsn = 0;  // the log's, as the views last recorded it
  std::string view_checksum;      // lowercase hex
  std::uint64_t map_bytes = 0;    // the LMDB map's size
  std::uint64_t map_used_bytes = 0;
};

// Summarizes the store of `database` from one views snapshot and its log
// directory. Throws IOError, CorruptionError.
StoreSummary summarize_store(Database& database);

// Reads and checks a bundle (magic, format version, checksum, every event)
// without importing it. Throws InvalidArgumentError for a file that is not
// a bundle or of another format version, CorruptionError for a damaged or
// truncated one, IOError.
BundleInfo read_bundle_info(const std::filesystem::path& file);

// Imports a bundle into the store of `database` (a writer open) as one atomic
// commit: the workflow's state events replayed in their original order, so
// the workflow reads back as it was at the bundle's end. Throws as
// read_bundle_info(), and InvalidArgumentError when the store already holds
// that workflow, a stage the events add or a claim they take, or when the
// events are not a history the store's own writes make (a stage id, ref id or
// task id twice, a stage event for a stage the workflow does not hold at that
// point, an event before the workflow is stored or a second store of it);
// nothing is changed on any error.
BundleInfo import_bundle(Database& database, const std::filesystem::path& file);

}  // namespace wfstore
