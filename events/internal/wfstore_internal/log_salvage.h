// Salvage of a damaged log (docs/history.md#salvage): every whole commit of the
// source's segments and side files is found, the longest chain of them from
// LSN 1 (dense LSNs, each commit's prev_hash the previous commit's hash) is
// copied into a new store's log, and what could not be copied is described.
// What salvage_store (store/history/salvage.cc) builds a salvaged store with.
//
// Side files (`<segment>.cut-<offset>[.<n>]`, log_recovery.h) hold the bytes
// recovery cut from `<segment>` at `<offset>`; they are read as that segment's
// bytes from that offset on (block framing included), so their whole commits
// join the candidates. A commit of a side file is copied only where it
// extends the chain; where the log itself holds a commit of the same LSN that
// chains (the writer went on after the cut), the log's is taken.

#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "wfstore/file_system.h"

#include "wfstore_internal/log_format.h"
#include "wfstore_internal/log_reader.h"
#include "wfstore_internal/store_dir.h"

namespace wfstore::log {

// A whole commit record found in a source file: its checksums held and its
// stored hash equals the recomputed one. Whether it chains is not judged.
struct FoundCommit {
  std::string file;          // file name in the log directory
  bool side_file = false;    // `file` is a side file
  std::uint64_t offset = 0;  // of its first fragment, in the segment's
                             // coordinates (a side file's bytes start at its
                             // cut offset)
  std::uint64_t framed_bytes = 0;  // bytes of its framed record
  std::uint64_t first_lsn = 0;
  std::uint32_t event_count = 0;
  std::uint64_t durable_lsn = 0;
  Hash prev_hash{};
  Hash hash{};

  std::uint64_t last_lsn() const { return first_lsn + event_count - 1; }
};

// What salvage_log copied and found.
struct LogSalvage {
  // ---- copied ----
  std::uint64_t last_lsn = 0;  // the last LSN copied (0: none)
  Hash last_hash{};            // that commit's hash (zeros: none)
  std::uint64_t commits = 0;
  std::uint64_t events = 0;
  std::uint64_t commits_from_side_files = 0;
  std::vector<std::string> side_files_used;  // sorted
  std::uint64_t segments_written = 0;
  std::uint64_t bytes_written = 0;
  // Why the copy stopped after last_lsn ("the log ends", "no whole commit
  // holds lsn N", ...).
  std::string stop_reason;

  // ---- the source ----
  std::vector<std::string> segments;    // segment file names, sorted
  std::vector<std::string> side_files;  // side file names, sorted
  std::uint64_t source_bytes = 0;       // of the segment files, zeros ahead not
  // Segment files none of whose commits was copied.
  std::vector<std::string> segments_skipped;
  // Segment files whose header names another store (their commits are not
  // candidates).
  std::vector<std::string> foreign_segments;
  // Bytes of the segment files not carried over: after each segment's last
  // copied record, plus damaged bytes passed before it.
  std::uint64_t bytes_lost = 0;
  // Every damage met, in file order (segments, then side files).
  std::vector<Damage> damages;
  // Whole commits not copied: past last_lsn (readable lost history), or at
  // or below it (a side file's commit the log superseded, a duplicate).
  std::vector<FoundCommit> not_copied;
  // The highest LSN the log shows existed: by the whole commits found
  // (their last and durable LSNs), and by the segments (valid headers'
  // prev_last_lsn, names of segments not foreign, minus one).
  std::uint64_t highest_commit_lsn = 0;
  std::uint64_t highest_segment_lsn = 0;
};

// Checks a commit's body before it is copied: returns why it cannot be
// folded, or an empty string.
using BodyCheck = std::function<std::string(const Commit&)>;

// Names of the side files of `log_dir` and the segment name and offset each
// was cut from. Throws IOError.
struct SideFile {
  std::string name;
  std::uint64_t segment_first_lsn = 0;
  std::uint64_t offset = 0;
};
std::vector<SideFile> list_side_files(const FileSystem& fs,
                                      const std::filesystem::path& log_dir);

// Copies the longest chain of whole commits of the log in `from_dir` (store
// `from_id`) and its side files, from LSN 1, into `to_dir` (an existing,
// empty directory) as the log of store `to_id`: each commit record's payload
// byte for byte (so every hash and the chain are the source's), framed anew
// in segments that start where the source's did (a new segment wherever the
// source file changes) with headers naming `to_id`. Every file written is
// fdatasynced and `to_dir` fsynced. A commit `check_body` refuses ends the
// chain. The source is only read: the caller keeps writers out (the LOCK).
// Throws IOError; a source that changes under the walk is CorruptionError.
LogSalvage salvage_log(const std::shared_ptr<FileSystem>& fs,
                       const std::filesystem::path& from_dir,
                       const StoreId& from_id,
                       const std::filesystem::path& to_dir,
                       const StoreId& to_id, const BodyCheck& check_body);

// Reads back a commit salvage_log found in `from_dir`, body included. Throws
// CorruptionError when it no longer reads as found, IOError.
Commit read_found_commit(const FileSystem& fs,
                         const std::filesystem::path& from_dir,
                         const FoundCommit& found);

}  // namespace wfstore::log
