// Salvage of a damaged store (docs/history.md#salvage): salvage_store() copies every
// whole commit of the store's log up to the first damage it cannot pass (the
// hash chain intact), with the whole commits of the side files recovery cut
// off where they continue that chain, into a new store with a new store id,
// rebuilds its views, and reports exactly what was lost: the LSN ranges, the
// segments and bytes, and the workflows the lost events touched where they
// can be told.
//
// Thread-safety: salvage_store opens the stores itself; call it from any
// thread.

#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "wfstore/logger.h"

namespace wfstore {

// LSNs lost: not in the salvaged store although the source shows they
// existed.
struct LostRange {
  std::uint64_t first_lsn = 0;
  std::uint64_t last_lsn = 0;
  // True when whole commits holding these LSNs were found past the damage
  // (read and decoded, their workflows known, but not copied: they do not
  // chain to the salvaged history); false when no readable commit holds them.
  bool readable = false;
  std::uint64_t commits = 0;  // whole commits found (readable ranges)
};

// A workflow that lost events.
struct LostWorkflow {
  std::string workflow_id;
  std::uint64_t events = 0;  // lost events known to name it
  std::uint64_t first_lsn = 0;
  std::uint64_t last_lsn = 0;
  // Where it is known from: "log" (a readable commit past the damage),
  // "views" (the source's workflow_events index), or "log+views".
  std::string known_from;
};

// One piece of evidence of how far the source's history went.
struct LsnEvidence {
  // "log commits" (whole commits found, their durable_lsn included),
  // "segment headers" (valid headers' prev_last_lsn and segment names),
  // "VIEWS_STATE durable_lsn", "views applied_lsn", "views durable_lsn".
  std::string source;
  std::uint64_t lsn = 0;
};

// Damage met in the source (a segment or side file, offset, bytes, why).
struct SalvageDamage {
  std::string file;
  std::uint64_t offset = 0;
  std::uint64_t bytes = 0;
  std::string reason;
};

struct SalvageReport {
  std::string source_store_id;
  std::string store_id;  // the salvaged store's new id
  // The salvaged history: LSN 1..last_lsn, its head commit's hash (the
  // source's hash of that commit, lowercase hex; empty when nothing was
  // salvaged), commits and events.
  std::uint64_t last_lsn = 0;
  std::string head_hash;
  std::uint64_t commits = 0;
  std::uint64_t events = 0;
  // Commits taken from side files, and which side files gave them.
  std::uint64_t commits_from_side_files = 0;
  std::vector<std::string> side_files_used;
  std::vector<std::string> side_files;  // every side file of the source
  // Why the copy stopped after last_lsn.
  std::string stop_reason;

  // The highest LSN any evidence shows existed (>= last_lsn) and the
  // evidence, one entry per source that had any.
  std::uint64_t highest_known_lsn = 0;
  std::vector<LsnEvidence> evidence;
  // last_lsn + 1 .. highest_known_lsn, in pieces (empty: nothing lost).
  std::vector<LostRange> lost;
  std::uint64_t lost_events = 0;  // LSNs in `lost`
  // Workflows whose events were lost, by id; complete only when
  // `workflows_complete` (every lost LSN was read from the log or the
  // source's views).
  std::vector<LostWorkflow> workflows;
  bool workflows_complete = true;
  // Lost events that name no workflow (queue clears, purges), where read.
  std::uint64_t lost_events_without_workflow = 0;
  // Whole commits found but not copied that lie inside the salvaged range
  // (a side file's commits the log superseded, duplicates).
  std::uint64_t discarded_commits = 0;

  std::vector<std::string> segments;          // the source's segment files
  std::vector<std::string> segments_skipped;  // none of whose commits was
                                              // copied
  std::vector<std::string> foreign_segments;  // headers of another store
  std::uint64_t source_bytes = 0;  // of the source's segments, zeros ahead not
  std::uint64_t bytes_lost = 0;    // of the segments, not carried over
  std::vector<SalvageDamage> damages;

  std::uint64_t segments_written = 0;
  std::uint64_t bytes_written = 0;
  double seconds = 0;

  // True when the salvaged store holds every LSN the source shows existed.
  bool nothing_lost() const { return lost.empty(); }
};

// The report as one JSON object: every field above under its own name
// ("evidence" an object of source -> lsn), plus "nothing_lost".
nlohmann::json salvage_report_to_json(const SalvageReport& report);

// The report a salvaged store in `dir` keeps (its SALVAGE file, as
// salvage_report_to_json() wrote it, without "seconds"), or nullopt when the
// store in `dir` was not made by salvage_store. Only reads. Throws
// CorruptionError when the file is not a JSON object, IOError.
std::optional<nlohmann::json> read_salvage_record(
    const std::filesystem::path& dir);

// Salvages the store in `dir` into a new store in `out` (missing or an empty
// directory): the longest chain of whole commits from LSN 1 found in the
// log's segments and side files, each commit record byte for byte (hashes
// and chain as in the source), segment headers with the new store id;
// records its origin (ORIGIN: the source's store id, the last LSN salvaged
// and its commit hash; fork_origin() reads it; with nothing salvaged, LSN 0
// and a zero hash) and the report (SALVAGE: salvage_report_to_json() without
// "seconds"), then rebuilds the new store's views. Never writes to `dir`: it takes no lock file, only an
// advisory lock on an existing `dir/LOCK` opened read-only, held for the
// call so no writer starts meanwhile.
//
// Returns the report. Throws StoreLockedError when a live writer holds
// `dir`'s LOCK; InvalidArgumentError when `dir` is not a store, `out` is
// `dir`, lies inside it or holds it, or `out` exists and is not an empty
// directory; CorruptionError when `dir`'s STORE file is damaged; IOError. On
// an error `out` is removed if this call created it (emptied if it existed)
// and `dir` is unchanged.
SalvageReport salvage_store(const std::filesystem::path& dir,
                            const std::filesystem::path& out,
                            const Logger& logger = {});

}  // namespace wfstore
