// The view-store interface that decide() and fold() are written against: named
// tables of byte keys and values, point reads, ordered range scans, puts and
// deletes. Implemented by LMDB (lmdb_views.h), memory (memory_view_store.h), an
// overlay of pending writes over a snapshot (overlay_view_store.h), and a
// checksumming decorator (checksum_view_store.h).

#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "wfstore/errors.h"

namespace wfstore {

// The LMDB map is full. The write transaction that met it is aborted; grow the
// map (LmdbViews::grow_map) and redo the transaction's work, or let
// LmdbViews::write() do both.
class MapFullError : public IOError {
 public:
  using IOError::IOError;
};

// Every table of the read models (docs/read-models.md). The numbers are
// stable: they are folded into the view checksum. Never renumber; add at the
// end.
enum class Table : std::uint8_t {
  kIds = 1,                // id hash -> (surrogate, string) pairs (keys.h)
  kWorkflows = 2,          // workflow -> summary record
  kStages = 3,             // stage -> record with its tasks in order
  kStageOrder = 4,         // (workflow, position) -> stage
  kByApplication = 5,      // (application, workflow)
  kByPipelineConfig = 6,   // (pipeline config id, workflow)
  kByStartTime = 7,        // (start time descending, NULLs last, workflow)
  kProcessedMessages = 8,  // hash of the message id -> (id, record) entries
  kProcessedByTime = 9,    // (processed time, message)
  kQueueMessages = 10,     // delivery id -> message
  kQueueReady = 11,        // (attempt class, deliver_at, delivery id)
  kQueueLeases = 12,       // (lease expiry, delivery id)
  kQueueTaskIndex = 13,  // (task, delivery id) for has_pending_message_for_task
  kDeadLetters = 14,     // delivery id -> dead letter
  kClaims = 15,          // claim key -> holder
  kWorkflowEvents = 16,  // (workflow, LSN)
  kMeta = 17,  // ASCII names -> checkpoints, counters, flags (not checksummed)
  kEntityEvents = 18,        // (entity kind, entity key, LSN)
  kTypeEvents = 19,          // (event type, LSN)
  kCommits = 20,             // commit first LSN -> commit time
  kCommitTimes = 21,         // (commit time, first LSN)
  kActorCommits = 22,        // (actor hash, first LSN)
  kCorrelationCommits = 23,  // (correlation id hash, first LSN)
  kEventCounts = 24,         // event type -> events of that type
  kLogPositions = 25,  // first LSN -> log segment and offset (not checksummed)
};

inline constexpr std::size_t kTableCount = 25;

// Every table, in number order.
inline constexpr std::array<Table, kTableCount> kAllTables = {
    Table::kIds,
    Table::kWorkflows,
    Table::kStages,
    Table::kStageOrder,
    Table::kByApplication,
    Table::kByPipelineConfig,
    Table::kByStartTime,
    Table::kProcessedMessages,
    Table::kProcessedByTime,
    Table::kQueueMessages,
    Table::kQueueReady,
    Table::kQueueLeases,
    Table::kQueueTaskIndex,
    Table::kDeadLetters,
    Table::kClaims,
    Table::kWorkflowEvents,
    Table::kMeta,
    Table::kEntityEvents,
    Table::kTypeEvents,
    Table::kCommits,
    Table::kCommitTimes,
    Table::kActorCommits,
    Table::kCorrelationCommits,
    Table::kEventCounts,
    Table::kLogPositions,
};

// False for the tables that hold bookkeeping of one copy of the views rather
// than a function of the log: meta and the log positions. They are left out
// of the view checksum and of verify's comparison with a rebuild (a replica
// without a log has no log positions, yet the same checksum).
constexpr bool is_checksummed(Table table) noexcept {
  return table != Table::kMeta && table != Table::kLogPositions;
}

// 0-based position of `table` in kAllTables.
constexpr std::size_t table_index(Table table) noexcept {
  return static_cast<std::size_t>(table) - 1;
}

// The table's name: "ids", "workflows", ..., "meta" (the LMDB database name).
// Throws InvalidArgumentError for a value outside the enum.
const char* table_name(Table table);

// Largest key any view store accepts (LMDB's default maximum key size).
inline constexpr std::size_t kMaxKeySize = 511;

// Throws InvalidArgumentError naming the table unless 1 <= key.size() <=
// kMaxKeySize.
void check_view_key(Table table, std::string_view key);

// Called by scan() with each key and value in order; returns false to stop the
// scan. The views are valid only during the call.
using ScanFn =
    std::function<bool(std::string_view key, std::string_view value)>;

// Called by get_with() with the value, or nullopt if the key is absent. The
// value is valid only during the call.
using ValueFn = std::function<void(std::optional<std::string_view> value)>;

// Read access to the views. Keys are ordered bytewise (unsigned, shorter prefix
// first), as LMDB orders them; keys are 1..kMaxKeySize bytes.
//
// Implementations state their own thread-safety.
class ViewReader {
 public:
  virtual ~ViewReader() = default;

  // The value stored under `key` in `table`, or nullopt if absent. Throws
  // IOError, CorruptionError.
  virtual std::optional<std::string> get(Table table,
                                         std::string_view key) const = 0;

  // get() without the copy: calls fn once with the value stored under `key`
  // in `table`, or nullopt if absent. REQUIRES: fn does not write to this
  // store. The default calls get(). Throws IOError, CorruptionError, and
  // whatever fn throws.
  virtual void get_with(Table table, std::string_view key,
                        const ValueFn& fn) const;

  // Whether `key` is present in `table`. Throws IOError, CorruptionError.
  bool contains(Table table, std::string_view key) const;

  // Calls fn for each key in [from_key, to_key) of `table` in ascending key
  // order, or descending if `reverse`, until fn returns false. An empty
  // from_key means "from the first key", an empty to_key "to the end".
  // REQUIRES: fn does not write to this store. Throws IOError, CorruptionError,
  // and whatever fn throws.
  virtual void scan(Table table, std::string_view from_key,
                    std::string_view to_key, const ScanFn& fn,
                    bool reverse = false) const = 0;

 protected:
  ViewReader() = default;
  ViewReader(const ViewReader&) = default;
  ViewReader(ViewReader&&) = default;
  ViewReader& operator=(const ViewReader&) = default;
  ViewReader& operator=(ViewReader&&) = default;
};

// Read and write access to the views.
class ViewStore : public ViewReader {
 public:
  // Stores `value` under `key`, replacing any previous value. Throws
  // InvalidArgumentError for a bad key, IOError (MapFullError when the LMDB map
  // is full).
  virtual void put(Table table, std::string_view key,
                   std::string_view value) = 0;

  // Removes `key` if present. Throws InvalidArgumentError for a bad key,
  // IOError.
  virtual void del(Table table, std::string_view key) = 0;
};

// Every (key, value) of `table` in key order: the ordered dump that views are
// compared by. Throws what scan() throws.
std::vector<std::pair<std::string, std::string>> dump_table(
    const ViewReader& reader, Table table);

}  // namespace wfstore
