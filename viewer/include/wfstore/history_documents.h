// The JSON documents that `wfstore show/diff/history/stats --json` print and
// the viewer (`wfstore serve`, wfstore/viewer.h) serves, built in one place;
// and the points in history that their arguments and queries name (an LSN or
// an ISO-8601 time with a zone).
//
// Thread-safety: the functions are thread-safe as the History and Database
// calls they make (every one may run concurrently). Lifetime: nothing is kept
// past a call.

#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "wfstore/errors.h"
#include "wfstore/event.h"
#include "wfstore/history.h"
#include "wfstore/model.h"

namespace wfstore {

class Database;

// ---- points in history ----

// A point in history as an argument names it: an LSN or a time.
struct PointArg {
  bool is_lsn = true;
  std::uint64_t lsn = 0;     // when is_lsn
  std::int64_t time_ms = 0;  // epoch milliseconds, when !is_lsn
};

// The forms a point takes, for messages and --help.
inline constexpr std::string_view kPointForms =
    "an LSN (a decimal number, e.g. 42) or an ISO-8601 time with a zone "
    "(2026-12-05T10:00:00Z, 2026-12-05T10:00:00.123Z, "
    "2026-12-05T10:00:00+01:00; a space may replace the T)";

// Parses a decimal number of 0..2^64-1 (digits only: no sign, no base
// prefix; leading zeros are decimal). nullopt for anything else.
std::optional<std::uint64_t> parse_decimal_u64(std::string_view text);

// Parses an ISO-8601 time with a zone: YYYY-MM-DD, 'T' or a space,
// HH:MM:SS, optionally '.' and 1 to 9 fraction digits (below a millisecond
// dropped), then 'Z' or +HH:MM / -HH:MM. Returns epoch milliseconds, or
// nullopt for anything else (no zone, a date or field out of range, another
// layout).
std::optional<std::int64_t> parse_iso_time_ms(std::string_view text);

// Parses a point: a bare decimal number is an LSN, else an ISO-8601 time as
// parse_iso_time_ms() reads it. nullopt for anything else.
std::optional<PointArg> parse_point(std::string_view text);

// A point that names an LSN beyond the store's last one.
class PointNotFoundError : public NotFoundError {
 public:
  explicit PointNotFoundError(const std::string& message)
      : NotFoundError(ErrorCode::kInvalidArgument, message) {}
};

// The LSN the point `text` names in `history`: an LSN as given, a time as
// the last LSN of the last commit at or before it (0: none is). Throws
// InvalidArgumentError ("'x' is not <kPointForms>") when `text` is no point,
// PointNotFoundError for an LSN beyond history.current_lsn(), and what
// History throws.
std::uint64_t resolve_point(const History& history, std::string_view text);

// The point `text` names as a state is read "as of" it: the last LSN of the
// commit resolve_point() names (0: before the first commit), so what is
// read never holds part of a commit. Throws as resolve_point().
std::uint64_t resolve_as_of(const History& history, std::string_view text);

// ---- documents ----

// The audit fields as event_to_json() prints them:
// {"actor", "correlation_id", "causation_id", "source"}.
nlohmann::json audit_to_json(const AuditMetadata& audit);

// A workflow now or as of a point, as `wfstore show` reads it.
struct WorkflowAsOf {
  std::optional<Workflow> workflow;  // nullopt: it did not exist then
  std::uint64_t as_of_lsn = 0;       // a commit's end (0: an empty store)
};

// The workflow `workflow_id` now (`at` empty: the views, read between two
// equal LSNs, else as of the later one) or as of the point `at` (the end of
// the commit it names). Throws InvalidArgumentError for an id that is not a
// valid key or a malformed point, PointNotFoundError as resolve_point(), and
// what History and the store throw.
WorkflowAsOf read_workflow_as_of(Database& database,
                                 std::string_view workflow_id,
                                 std::string_view at);

// `wfstore show --json`: workflow_to_json(workflow) plus "as_of_lsn".
nlohmann::json workflow_document(const Workflow& workflow,
                                 std::uint64_t as_of_lsn);

// `wfstore diff --json`: {"workflow_id", "from_lsn", "to_lsn", "changes":
// [{"entity": {"kind", "id"}, "field", "before", "after", "lsn",
// "timestamp", "type", "audit"}...]}.
nlohmann::json diff_document(const WorkflowDiff& diff);

// True when the store holds at least one event of `workflow_id`. Throws
// InvalidArgumentError for an id that is not a valid key, and as
// History::events().
bool has_workflow_events(const History& history, std::string_view workflow_id);

// What an event did, as one line of `wfstore history` shows it: the entity
// it is about ("stage:<id>", "workflow:<id>", "delivery:<n>" or "-") and a
// short summary of the change ("status RUNNING, version 3, task t1 ...").
struct EventSummary {
  std::string entity;
  std::string what;
};
EventSummary summarize_event(const Event& event);

// What a salvaged store's SALVAGE record says, in brief: its
// "source_store_id", "last_lsn", "highest_known_lsn", "lost_events" and
// "nothing_lost" members (null: no record, not a salvage).
nlohmann::json salvage_brief(const std::optional<nlohmann::json>& record);

// `wfstore stats --json`: `summary` (summarize_store()) with the brief of
// `salvage_record` (read_salvage_record()) and, in a build with Kafka, the
// store's export positions with their lag ("exports"). Throws IOError,
// CorruptionError.
nlohmann::json stats_document(
    Database& database, const StoreSummary& summary,
    const std::optional<nlohmann::json>& salvage_record);
// The same for the store open in `database`, whose directory is `dir`.
nlohmann::json stats_document(Database& database,
                              const std::filesystem::path& dir);

}  // namespace wfstore
