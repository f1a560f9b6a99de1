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

}  // namespace

std::uint64_t for_each_event(
    const std::filesystem::path& dir, std::uint64_t after_lsn,
    const std::function<bool(const Event& event)>& visit,
    const Logger& logger) {
  std::shared_ptr<FileSystem> fs = posix_file_system();
  const StoreDir store = StoreDir::open_existing(fs, dir, /*lock=*/false);
  if (after_lsn == UINT64_MAX) return after_lsn;
  // The last LSN an open would keep: damage before it is corruption, damage
  // after it a torn tail.
  const std::uint64_t end =
      fs->exists(store.log_dir())
          ? log::plan_log_recovery(*fs, store.log_dir(), store.id().bytes)
                .last_lsn
          : 0;
  std::optional<log::Damage> damage;
  log::Reader reader(fs, store.log_dir(), store.id(), after_lsn + 1,
                     [&damage](const log::Damage& d) {
                       if (!damage) damage = d;
                     });
  std::uint64_t read_to = after_lsn;  // the commits read cover up to here
  std::uint64_t last = after_lsn;
  log::Commit commit;
  while (reader.next(&commit) && commit.first_lsn <= end) {
    if (damage) throw CorruptionError(describe(*damage));
    read_to = commit.last_lsn();
    if (read_to <= after_lsn) continue;
    const DecodedCommit decoded = decode_commit_body(
        commit.first_lsn, commit.timestamp_ms, commit.event_count, commit.body);
    for (const Event& event : decoded.events) {
      if (event.lsn <= after_lsn) continue;
      last = event.lsn;
      if (!visit(event)) return last;
    }
  }
  if (damage) {
    if (read_to < end) throw CorruptionError(describe(*damage));
    if (logger) {
      logger(LogLevel::kWarning,
             "history ends at a torn tail: " + describe(*damage));
    }
  }
  return last;
}

}  // namespace wfstore
