// verify_log: a full scan of the log through the Reader, failing at the first
// damage.

#include "wfstore_internal/log_verify.h"

#include <optional>
#include <utility>

#include <fmt/format.h>

#include "wfstore/errors.h"

#include "wfstore_internal/log_reader.h"

namespace wfstore::log {

VerifyReport verify_log(const std::shared_ptr<FileSystem>& fs,
                        const std::filesystem::path& log_dir,
                        const StoreId& store_id) {
  VerifyReport report;
  const std::vector<std::uint64_t> segments = list_segments(*fs, log_dir);
  for (std::uint64_t first : segments) {
    report.bytes +=
        fs->open_readable(log_dir / segment_file_name(first))->size();
  }
  std::optional<Damage> damage;
  Reader reader(fs, log_dir, store_id, 0, [&](const Damage& d) {
    if (!damage) damage = d;
  });
  Commit commit;
  std::uint64_t expected = 0;
  while (reader.next(&commit)) {
    if (damage) break;
    if (report.commits == 0) {
      report.first_lsn = commit.first_lsn;
    } else if (commit.first_lsn != expected) {
      break;  // reported by the reader
    }
    ++report.commits;
    report.last_lsn = commit.last_lsn();
    report.head_hash = commit.hash;
    expected = commit.last_lsn() + 1;
  }
  if (damage) {
    throw CorruptionError(fmt::format("log segment {}: offset {}: {}",
                                      (log_dir / damage->segment).string(),
                                      damage->offset, damage->reason));
  }
  report.segments = reader.segments_read();
  return report;
}

}  // namespace wfstore::log
