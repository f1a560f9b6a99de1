// for_each_event: where the log ends comes from the read-only recovery plan
// (what an open would keep); the commits up to there are read through the
// Reader and decoded into events.

#include "wfstore/history.h"

#include <memory>
#include <optional>
#include <string>

#include <fmt/format.h>

#include "wfstore/errors.h"
#include "wfstore/file_system.h"

#include "events/log/log_recovery.h"
#include "wfstore_internal/event_codec.h"
#include "wfstore_internal/log_reader.h"
#include "wfstore_internal/store_dir.h"

namespace wfstore {
namespace {

std::string describe(const log::Damage& damage) {
  return fmt::format("log segment {} offset {}: {}", damage.segment,
                     damage.offset, damage.reason);
}

// The type of the whole record that starts at `offset` of `path` (or at the
// next block, when `offset` is in a block's trailer), or nullopt when there
// is none yet or it is damaged. A live writer may have finished, since
// recovery was planned, a record the plan took for a torn tail or a torn
// segment header.
std::optional<log::RecordType> whole_record_at(
    const FileSystem& fs, const std::filesystem::path& path,
    std::uint64_t offset) {
  if (!fs.exists(path)) return std::nullopt;
  const std::unique_ptr<ReadableFile> file = fs.open_readable(path);
  bool damaged = false;
  log::SegmentReader reader(*file, path.filename().string(),
                            [&damaged](const log::Damage&) { damaged = true; });
  std::uint64_t start = offset;
  const std::uint64_t left = log::kBlockSize - start % log::kBlockSize;
  if (left < log::kHeaderSize) start += left;
  reader.seek(offset);
  std::string payload;
  log::RecordType type = log::RecordType::kZero;
  std::uint64_t at = 0;
  if (!reader.read(&payload, &type, &at) || damaged || at != start) {
    return std::nullopt;
  }
  return type;
}

}  // namespace

std::uint64_t for_each_event(
    const std::filesystem::path& dir, std::uint64_t after_lsn,
    const std::function<bool(const Event& event)>& visit,
    const Logger& logger) {
  std::shared_ptr<FileSystem> fs = posix_file_system();
  const StoreDir store = StoreDir::open_existing(fs, dir, /*lock=*/false);
  if (after_lsn == UINT64_MAX) return after_lsn;
  // Where an open would end the log: damage before it is corruption, a torn
  // tail after it is only reported.
  const log::RecoveryPlan plan =
      fs->exists(store.log_dir())
          ? log::plan_log_recovery(*fs, store.log_dir(), store.id().bytes)
          : log::RecoveryPlan{};
  const std::uint64_t end = plan.last_lsn;
  std::optional<log::Damage> damage;
  log::Reader reader(fs, store.log_dir(), store.id(), after_lsn + 1,
                     [&damage](const log::Damage& d) {
                       if (!damage) damage = d;
                     });
  std::uint64_t read_to = after_lsn;  // the commits read cover up to here
  std::uint64_t last = after_lsn;
  log::Commit commit;
  CommitDecoder decoder;
  // Nothing after `end` is read: a live writer may be writing there.
  while (read_to < end && reader.next(&commit) && commit.first_lsn <= end) {
    if (damage) throw CorruptionError(describe(*damage));
    read_to = commit.last_lsn();
    if (read_to <= after_lsn) continue;
    const DecodedCommit decoded = decoder.decode(
        commit.first_lsn, commit.timestamp_ms, commit.event_count, commit.body);
    for (const Event& event : decoded.events) {
      if (event.lsn <= after_lsn) continue;
      last = event.lsn;
      if (!visit(event)) return last;
    }
  }
  if (damage) throw CorruptionError(describe(*damage));
  if (!logger) return last;
  if (!plan.set_aside_segment.empty()) {
    if (whole_record_at(*fs, plan.set_aside_segment, 0) ==
        log::RecordType::kSegmentHeader) {
      return last;
    }
    logger(LogLevel::kWarning,
           fmt::format("history ends before a torn segment: log segment {}: {}",
                       plan.set_aside_segment.filename().string(),
                       plan.set_aside_reason));
  } else if (plan.cut_bytes > 0 &&
             !whole_record_at(*fs, plan.last_segment, plan.cut_offset)) {
    logger(LogLevel::kWarning,
           "history ends at a torn tail: " +
               describe(log::Damage{plan.last_segment.filename().string(),
                                    plan.cut_offset, plan.cut_bytes,
                                    plan.cut_reason}));
  }
  return last;
}

}  // namespace wfstore
