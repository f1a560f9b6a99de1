// read_committed_events over one views snapshot and a LogCursor.

#include "wfstore_internal/committed_events.h"

#include <algorithm>
#include <filesystem>
#include <iterator>
#include <thread>
#include <vector>

#include <fmt/format.h>

#include "wfstore/errors.h"

#include "store/database_impl.h"
#include "store/history/log_cursor.h"
#include "wfstore_internal/log_format.h"
#include "wfstore_internal/log_reader.h"
#include "wfstore_internal/view_meta.h"
#include "wfstore_internal/views.h"

namespace wfstore {
namespace {

// The last LSN to read after `after`: at most `max` events, up to `current`
// (the snapshot's applied LSN). Throws InvalidArgumentError when `after` is
// past `current`.
std::uint64_t range_end(Database::Impl& impl, std::uint64_t after,
                        std::size_t max, std::uint64_t current) {
  if (after > current) {
    throw InvalidArgumentError(
        fmt::format("{}: lsn {} is beyond the store's last event (lsn {})",
                    impl.store_dir().dir().string(), after, current));
  }
  return after + std::min<std::uint64_t>(max, current - after);
}

}  // namespace

CommittedEvents read_committed_events(Database& database, std::uint64_t after,
                                      std::size_t max,
                                      bool with_commit_hashes) {
  Database::Impl& impl = database_impl(database);
  const LmdbViews::Snapshot snapshot = impl.core().read();
  CommittedEvents out;
  out.current_lsn = applied_lsn(snapshot);
  const std::uint64_t end = range_end(impl, after, max, out.current_lsn);
  if (end == after) return out;
  out.events.reserve(end - after);
  if (with_commit_hashes) {
    out.commit_hashes.reserve(end - after);
    out.commit_last_lsns.reserve(end - after);
  }
  LogCursor log(snapshot, impl.store_dir(), impl.file_system());
  for (std::uint64_t lsn = after + 1; lsn <= end; ++lsn) {
    out.events.push_back(log.take_event(lsn));
    if (with_commit_hashes) {
      out.commit_hashes.push_back(log.commit_hash());
      out.commit_last_lsns.push_back(log.commit_last_lsn());
    }
  }
  return out;
}

CommittedCommits read_committed_commits(Database& database, std::uint64_t after,
                                        std::size_t max) {
  Database::Impl& impl = database_impl(database);
  const LmdbViews::Snapshot snapshot = impl.core().read();
  CommittedCommits out;
  out.current_lsn = applied_lsn(snapshot);
  const std::uint64_t end = range_end(impl, after, max, out.current_lsn);
  LogCursor log(snapshot, impl.store_dir(), impl.file_system());
  for (std::uint64_t lsn = after + 1; lsn <= end;) {
    out.commits.push_back(log.commit(lsn));
    lsn = out.commits.back().last_lsn() + 1;
  }
  return out;
}

void make_log_durable(Database& database, std::uint64_t lsn) {
  Database::Impl& impl = database_impl(database);
  if (CommitPipeline* pipeline = impl.pipeline()) {
    pipeline->sync();
    return;
  }
  if (lsn == 0 || impl.store_dir().is_replica()) return;
  if (impl.reader_synced_lsn() >= lsn) return;
  // Everything up to the applied LSN is in the log already: one sync covers
  // it, and later calls up to it need none.
  std::uint64_t target = lsn;
  {
    const LmdbViews::Snapshot snapshot = impl.core().read();
    if (meta_u64(snapshot, kMetaDurableLsn).value_or(0) >= lsn) return;
    target = std::max(lsn, applied_lsn(snapshot));
  }
  const std::filesystem::path log_dir = impl.store_dir().log_dir();
  const std::vector<std::uint64_t> firsts =
      log::list_segments(*impl.file_system(), log_dir);
  const auto after = std::upper_bound(firsts.begin(), firsts.end(), target);
  if (after == firsts.begin()) {
    throw IOError(fmt::format("{}: no log segment holds lsn {}",
                              log_dir.string(), target));
  }
  impl.file_system()->sync_file(log_dir /
                                log::segment_file_name(*std::prev(after)));
  impl.raise_reader_synced_lsn(target);
}

StoreFiles store_files(Database& database) {
  Database::Impl& impl = database_impl(database);
  return {impl.store_dir().dir(), impl.file_system(),
          impl.store_dir().id().to_string(), impl.read_only()};
}

void sleep_unless_stopped(std::chrono::milliseconds interval,
                          const std::function<bool()>& stop) {
  constexpr std::chrono::milliseconds kSlice{10};
  std::chrono::milliseconds left = interval;
  while (left.count() > 0) {
    const std::chrono::milliseconds slice = std::min(left, kSlice);
    std::this_thread::sleep_for(slice);
    left -= slice;
    if (stop && stop()) return;
  }
}

}  // namespace wfstore
