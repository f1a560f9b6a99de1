// Recovery of the append-only log on open (DESIGN.md "The log", style.md B7):
// the policy that turns what the readers report into a truncated torn tail or a
// CorruptionError.

#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>

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
