// Recovery of the append-only log on open (docs/formats.md#the-log,
// docs/write-path.md#opening-and-recovery): the policy that turns what the
// readers report into a truncated torn tail or a CorruptionError. Recovery is
// split into a plan, which only reads, and its application, so a caller can
// compare where the repaired log would end with what it knows to be durable
// before any byte changes.
//
// Side files: bytes cut from a segment are first copied to
// `<log_dir>/<segment>.cut-<offset>` (fdatasynced, directory fsynced), and a
// fresh last segment with a torn header is renamed to `<segment>.cut-0`. When
// that name already holds other bytes (an earlier repair cut at the same
// offset, and the writer appended over it), `.<n>` is added (`.1`, `.2`, ...):
// no repair replaces another's side file. The readers ignore these names;
// nothing deletes them, so salvage can read them.

#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>

#include "wfstore/file_system.h"
#include "wfstore/logger.h"

#include "wfstore_internal/log_format.h"

namespace wfstore::log {

// The state of a recovered log: its last segment open for appending (null when
// the log has no segment), that segment's first LSN, and the last commit's LSN
// and hash.
struct RecoveredLog {
  std::unique_ptr<WritableFile> file;
  std::uint64_t segment_first_lsn = 0;
  std::uint64_t last_lsn = 0;
  Hash last_hash{};
};

// Infix of a side file's name: `<segment file name>.cut-<offset>`.
inline constexpr std::string_view kCutInfix = ".cut-";

// The side file name for bytes cut from `segment` (a file name) at `offset`.
std::string cut_file_name(const std::string& segment, std::uint64_t offset);

// What recovery of a log would do, and where the log would then end.
struct RecoveryPlan {
  // The last segment to append to (empty: the log has no segment left).
  std::filesystem::path last_segment;
  std::uint64_t segment_first_lsn = 0;
  // The last commit's LSN and hash once the plan is applied (0 and zeros for
  // an empty log).
  std::uint64_t last_lsn = 0;
  Hash last_hash{};
  // Where last_segment's last whole record ends: it is truncated there (what
  // follows is zeros the writer wrote ahead, or a torn tail).
  std::uint64_t end = 0;
  // A torn tail of last_segment, copied to a side file before the truncate:
  // bytes [cut_offset, cut_offset + cut_bytes), which end with the block of
  // the last non-zero byte (the zeros after it were written ahead); none when
  // cut_bytes is 0.
  std::uint64_t cut_offset = 0;
  std::uint64_t cut_bytes = 0;
  std::string cut_reason;
  // A fresh segment whose header is torn and that holds no vouched data, to be
  // set aside (empty: none), and why.
  std::filesystem::path set_aside_segment;
  std::string set_aside_reason;
};

// Checks every segment header of `log_dir` (magic, version, store UUID, first
// LSN == file name, prev_first_lsn == the previous file) and scans the last
// segment fully; returns the repair recovery would make. Reads only: a
// CorruptionError (damage recovery must not repair, naming segment and offset)
// or IOError leaves every file as it was.
RecoveryPlan plan_log_recovery(const FileSystem& fs,
                               const std::filesystem::path& log_dir,
                               const Uuid& store_uuid);

// Applies `plan` (from plan_log_recovery of the same, unchanged log): sets a
// torn fresh segment aside, copies a torn tail to its side file and truncates
// it (a warning names the bytes dropped and the side file), truncates zeros
// written ahead after the last record (silently), and returns the
// last segment open for appending, fdatasynced. Throws IOError.
RecoveredLog apply_log_recovery(FileSystem& fs,
                                const std::filesystem::path& log_dir,
                                const RecoveryPlan& plan, const Logger& logger);

// plan_log_recovery followed by apply_log_recovery.
//
// Checks every segment header of `log_dir` (magic, version, store UUID, first
// LSN == file name, prev_first_lsn == the previous file), scans the last
// segment fully and repairs a torn tail: damage after the last point a valid
// record vouches for as durable is truncated (fdatasync, warning naming the
// bytes dropped); a last segment whose header is torn and that holds no vouched
// data is removed. Anything else is a CorruptionError naming segment and
// offset. The returned file is fdatasynced. Throws IOError.
RecoveredLog recover_log(FileSystem& fs, const std::filesystem::path& log_dir,
                         const Uuid& store_uuid, const Logger& logger);

}  // namespace wfstore::log
