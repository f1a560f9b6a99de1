// Catch-up of the views from the log: folding the log's commits after an LSN
// into a view store, the progress recorded in meta, and the log's floor.

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "wfstore/errors.h"

#include "wfstore_internal/event_codec.h"
#include "wfstore_internal/fold.h"
#include "wfstore_internal/history_index.h"
#include "wfstore_internal/keys.h"
#include "wfstore_internal/log_reader.h"
#include "wfstore_internal/view_recovery.h"

namespace wfstore {
namespace {

// Events folded per LMDB transaction during catch-up and rebuild.
constexpr std::uint64_t kEventsPerTxn = 20000;

// Reads the commits after `after_lsn` (up to `up_to_lsn` when non-zero) and
// calls `fn` with each one's decoded events, in LSN order.
template <typename Fn>
void for_each_commit(std::shared_ptr<FileSystem> fs,
                     const std::filesystem::path& log_dir,
                     const StoreId& store_id, std::uint64_t after_lsn,
                     std::uint64_t up_to_lsn, Fn&& fn) {
  std::string damage;
  log::Reader reader(std::move(fs), log_dir, store_id, after_lsn + 1,
                     [&damage](const log::Damage& d) {
                       if (damage.empty()) {
                         damage = fmt::format("segment {} offset {}: {}",
                                              d.segment, d.offset, d.reason);
                       }
                     });
  log::Commit commit;
  CommitDecoder decoder;
  std::uint64_t expected = after_lsn + 1;
  while (reader.next(&commit)) {
    if (!damage.empty())
      throw CorruptionError(fmt::format("log damaged: {}", damage));
    if (commit.last_lsn() <= after_lsn) continue;
    if (up_to_lsn != 0 && commit.first_lsn > up_to_lsn) break;
    if (commit.first_lsn != expected) {
      throw CorruptionError(fmt::format(
          "segment {} offset {}: commit at lsn {} where lsn {} was expected",
          commit.segment, commit.offset, commit.first_lsn, expected));
    }
    DecodedCommit decoded = decoder.decode(
        commit.first_lsn, commit.timestamp_ms, commit.event_count, commit.body);
    expected = commit.last_lsn() + 1;
    fn(std::move(decoded.events), commit);
  }
  if (!damage.empty())
    throw CorruptionError(fmt::format("log damaged: {}", damage));
}

// Records where `commit` starts in the views' log positions. `last`: the
// greatest entry so far, carried from commit to commit (the fold is the views'
// only writer), so no commit reads it back.
void record_position(ViewStore& views, const log::Commit& commit,
                     std::optional<history_index::IndexedPosition>& last) {
  const std::optional<std::uint64_t> segment =
      log::parse_segment_file_name(commit.segment);
  if (!segment) return;
  last = history_index::record_log_position_after(
      views, commit.first_lsn, {*segment, commit.offset}, last);
}

}  // namespace

FoldProgress read_progress(const ViewReader& views) {
  FoldProgress progress;
  progress.applied_lsn = meta_u64(views, kMetaAppliedLsn).value_or(0);
  progress.checksum = read_checksum(views);
  progress.last_timestamp_ms = meta_i64(views, kMetaLastTimestamp).value_or(0);
  return progress;
}

std::string schema_mismatch(const ViewReader& views) {
  const std::optional<std::uint64_t> schema =
      meta_u64(views, kMetaSchemaVersion);
  if (!schema) {
    if (meta_u64(views, kMetaAppliedLsn).value_or(0) == 0) return {};
    return "the views have no schema version";
  }
  if (*schema != kViewSchemaVersion) {
    return fmt::format("view schema version {} differs from this build's {}",
                       *schema, kViewSchemaVersion);
  }
  return {};
}

FoldProgress fold_log_into(ViewStore& views, std::shared_ptr<FileSystem> fs,
                           const std::filesystem::path& log_dir,
                           const StoreId& store_id, FoldProgress start,
                           std::uint64_t up_to_lsn) {
  ChecksumViewStore cs(views, start.checksum);
  FoldProgress progress = start;
  std::optional<history_index::IndexedPosition> last_position =
      history_index::log_position_before(views, UINT64_MAX);
  for_each_commit(std::move(fs), log_dir, store_id, start.applied_lsn,
                  up_to_lsn,
                  [&](std::vector<Event>&& events, const log::Commit& commit) {
                    fold_events(events, cs);
                    record_position(views, commit, last_position);
                    progress.applied_lsn = commit.last_lsn();
                    progress.last_timestamp_ms = commit.timestamp_ms;
                    progress.events += events.size();
                  });
  progress.checksum = cs.checksum();
  write_checksum(views, progress.checksum);
  views.put(Table::kMeta, kMetaLastTimestamp,
            keys::encode_i64(progress.last_timestamp_ms));
  return progress;
}

FoldProgress fold_log_into(LmdbViews& views, std::shared_ptr<FileSystem> fs,
                           const std::filesystem::path& log_dir,
                           const StoreId& store_id, FoldProgress start) {
  FoldProgress committed = start;
  std::optional<history_index::IndexedPosition> committed_position =
      history_index::log_position_before(views.begin_read(), UINT64_MAX);
  std::vector<std::vector<Event>> batch;
  std::vector<std::int64_t> batch_times;
  std::vector<log::Commit> batch_commits;  // positions only: no bodies
  std::uint64_t batch_events = 0;
  const auto flush = [&] {
    if (batch.empty()) return;
    FoldProgress next;
    std::optional<history_index::IndexedPosition> next_position;
    views.write([&](LmdbViews::WriteTxn& txn) {
      ChecksumViewStore cs(txn, committed.checksum);
      next = committed;
      next_position = committed_position;
      for (std::size_t i = 0; i < batch.size(); ++i) {
        fold_events(batch[i], cs);
        record_position(txn, batch_commits[i], next_position);
        next.applied_lsn = batch[i].back().lsn;
        next.last_timestamp_ms = batch_times[i];
        next.events += batch[i].size();
      }
      next.checksum = cs.checksum();
      write_checksum(txn, next.checksum);
      txn.put(Table::kMeta, kMetaLastTimestamp,
              keys::encode_i64(next.last_timestamp_ms));
    });
    committed = next;
    committed_position = next_position;
    batch.clear();
    batch_times.clear();
    batch_commits.clear();
    batch_events = 0;
  };
  for_each_commit(std::move(fs), log_dir, store_id, start.applied_lsn, 0,
                  [&](std::vector<Event>&& events, const log::Commit& commit) {
                    batch_events += events.size();
                    batch.push_back(std::move(events));
                    batch_times.push_back(commit.timestamp_ms);
                    log::Commit position;
                    position.first_lsn = commit.first_lsn;
                    position.segment = commit.segment;
                    position.offset = commit.offset;
                    batch_commits.push_back(std::move(position));
                    if (batch_events >= kEventsPerTxn) flush();
                  });
  flush();
  return committed;
}

namespace {
std::atomic<std::uint64_t> roll_bytes_for_testing{0};
}  // namespace

void set_log_roll_bytes_for_testing(std::uint64_t bytes) {
  roll_bytes_for_testing.store(bytes);
}

std::unique_ptr<log::Writer> open_log_checked(
    const StoreDir& store, const std::shared_ptr<FileSystem>& fs,
    const Logger& logger, const std::optional<ViewsState>& state,
    std::optional<std::uint64_t> views_durable_lsn, bool mapped_writes) {
  std::uint64_t floor = views_durable_lsn.value_or(0);
  if (state) floor = std::max(floor, state->durable_lsn);
  log::WriterOptions writer_options;
  writer_options.logger = logger;
  writer_options.mapped_writes = mapped_writes;
  if (const std::uint64_t roll = roll_bytes_for_testing.load(); roll != 0) {
    writer_options.roll_bytes = roll;
  }
  writer_options.check_recovered_end = [&store, floor](std::uint64_t end) {
    if (end < floor) {
      throw CorruptionError(fmt::format(
          "{}: the log ends at lsn {} below the views' durable lsn {}: "
          "acknowledged commits were lost (nothing was changed)",
          store.dir().string(), end, floor));
    }
  };
  return log::Writer::open(fs, store.log_dir(), store.id(),
                           std::move(writer_options));
}

}  // namespace wfstore
