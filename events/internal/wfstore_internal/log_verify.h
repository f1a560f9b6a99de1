// Offline integrity check of a whole log: checksums, segment header chain, LSN
// continuity and the SHA-256 hash chain, ending in the head hash.

#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>

#include "wfstore/file_system.h"

#include "wfstore_internal/log_format.h"
#include "wfstore_internal/store_dir.h"

namespace wfstore::log {

struct VerifyReport {
  std::uint64_t segments = 0;
  std::uint64_t commits = 0;
  std::uint64_t first_lsn = 0;  // first LSN of the log (0: no commit)
  std::uint64_t last_lsn = 0;   // last LSN of the log (0: no commit)
  std::uint64_t bytes = 0;      // total size of the segment files
  Hash head_hash{};             // hash of the last commit (zeros: no commit)
};

// Reads every segment of `log_dir` from the first and checks every record
// checksum, every segment header (magic, version, `store_id`, first LSN ==
// file name, the chain of previous first LSN, last LSN and last hash), every
// commit hash, the hash chain and LSN continuity. An incomplete record at the
// end of the last segment (a live writer, or a torn tail not yet recovered) is
// not damage and is not counted. Returns the counts and the head hash. Throws
// CorruptionError naming segment and offset at the first damage, IOError for
// failed reads. Never writes.
VerifyReport verify_log(const std::shared_ptr<FileSystem>& fs,
                        const std::filesystem::path& log_dir,
                        const StoreId& store_id);

}  // namespace wfstore::log
