// KafkaReplica: the consumer's events folded into a views-only directory with
// the store's fold, a batch of whole commits per LMDB transaction.

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "wfstore/file_system.h"
#include "wfstore/kafka_replica.h"

#include "store/commit_pipeline.h"
#include "wfstore_internal/checksum_view_store.h"
#include "wfstore_internal/fold.h"
#include "wfstore_internal/keys.h"
#include "wfstore_internal/lmdb_views.h"
#include "wfstore_internal/store_dir.h"
#include "wfstore_internal/view_meta.h"
#include "wfstore_internal/view_recovery.h"

namespace wfstore {

struct KafkaReplica::State {
  KafkaReplicaOptions options;
  std::shared_ptr<FileSystem> fs = posix_file_system();
  std::optional<StoreDir> store;
  // Opened with the first fold: until then nothing in the directory changes.
  std::unique_ptr<LmdbViews> views;
  // The views cannot be trusted (an unclean close before a reboot, another
  // schema): replaced by fresh ones at the first fold.
  bool discard_views = false;
  FoldProgress progress;
  std::uint64_t folded = 0;
  std::vector<Event> pending;
  // The last LSN of each pending event's commit.
  std::vector<std::uint64_t> pending_last;
  std::unique_ptr<KafkaConsumer> consumer;

  void open_existing_replica() {
    // Looked at without the lock first: a store with a log gets nothing
    // written to it (not even LOCK) and its writer is never kept out.
    if (!StoreDir::open_existing(fs, options.dir, /*lock=*/false)
             .is_replica()) {
      throw InvalidArgumentError(
          fmt::format("{} is a store with a log, not a read replica",
                      options.dir.string()));
    }
    store.emplace(StoreDir::open_existing(fs, options.dir, /*lock=*/true));
    const std::string id = store->id().to_string();
    if (!options.store_id.empty() && options.store_id != id) {
      throw InvalidArgumentError(
          fmt::format("{} is a replica of store {}, not of {}",
                      options.dir.string(), id, options.store_id));
    }
    options.store_id = id;
    const std::optional<ViewsState> state = store->read_views_state();
    if (state && !state->clean && state->boot_id != current_boot_id()) {
      discard_views = true;  // possibly torn pages
      return;
    }
    std::optional<std::map<std::string, std::string>> meta =
        LmdbViews::read_meta_unlocked(store->views_dir());
    if (!meta) return;
    const auto u64 = [&](std::string_view key) -> std::uint64_t {
      const auto it = meta->find(std::string(key));
      return it == meta->end() ? 0 : keys::decode_u64(it->second);
    };
    if (u64(kMetaSchemaVersion) != kViewSchemaVersion) {
      discard_views = true;
      return;
    }
    progress.applied_lsn = u64(kMetaAppliedLsn);
    if (const auto it = meta->find(std::string(kMetaViewChecksum));
        it != meta->end() && it->second.size() == progress.checksum.size()) {
      std::copy(it->second.begin(), it->second.end(),
                progress.checksum.begin());
    }
  }

  // Creates the replica's files for `store_id` and opens its views for
  // writing (first fold only).
  void open_for_writing(const std::string& store_id) {
    if (!store) {
      const std::optional<StoreId> id = StoreId::parse(store_id);
      if (!id) throw InvalidArgumentError("bad store id " + store_id);
      store.emplace(StoreDir::create_replica(fs, options.dir, *id));
    }
    if (discard_views) {
      remove_views(*store);
      progress = FoldProgress{};
      discard_views = false;
    }
    store->write_views_state(
        ViewsState{false, current_boot_id(), progress.applied_lsn});
    views = LmdbViews::open(store->views_dir(), LmdbViewsOptions{});
    views->write([](LmdbViews::WriteTxn& txn) {
      txn.put(Table::kMeta, kMetaSchemaVersion,
              keys::encode_u64(kViewSchemaVersion));
    });
  }

  // Folds the first `count` pending events in one transaction.
  void fold_pending(std::size_t count) {
    if (count == 0) return;
    if (!views) open_for_writing(consumer->store_id());
    FoldProgress next = progress;
    views->write([&](LmdbViews::WriteTxn& txn) {
      ChecksumViewStore cs(txn, progress.checksum);
      std::vector<Event> commit;
      const auto flush = [&] {
        if (commit.empty()) return;
        fold_events(commit, cs);
        next.applied_lsn = commit.back().lsn;
        next.last_timestamp_ms = commit.back().timestamp_ms;
        commit.clear();
      };
      for (std::size_t i = 0; i < count; ++i) {
        if (!commit.empty() &&
            pending[i].commit_id != commit.front().commit_id) {
          flush();
        }
        commit.push_back(std::move(pending[i]));
      }
      flush();
      next.checksum = cs.checksum();
      write_checksum(txn, next.checksum);
      txn.put(Table::kMeta, kMetaLastTimestamp,
              keys::encode_i64(next.last_timestamp_ms));
    });
    progress = next;
    folded += count;
    pending.erase(pending.begin(),
                  pending.begin() + static_cast<std::ptrdiff_t>(count));
    pending_last.erase(
        pending_last.begin(),
        pending_last.begin() + static_cast<std::ptrdiff_t>(count));
  }

  // Takes `batch` and folds every commit that is now whole: the pending
  // events up to the last one that ends its commit (its LSN is its commit's
  // last). The rest waits for the commit's remaining events, so a reader
  // never sees a commit in part.
  void take(std::vector<ReceivedEvent>& batch) {
    for (ReceivedEvent& e : batch) {
      pending_last.push_back(e.commit_last_lsn);
      pending.push_back(std::move(e.event));
    }
    std::size_t whole = pending.size();
    while (whole > 0 && pending[whole - 1].lsn != pending_last[whole - 1]) {
      --whole;
    }
    fold_pending(whole);
  }

  void close_views() {
    if (!views) return;
    views->sync();
    views.reset();
    store->write_views_state(
        ViewsState{true, current_boot_id(), progress.applied_lsn});
  }

  ReplicaProgress report() const {
    return ReplicaProgress{progress.applied_lsn, folded,
                           to_hex(progress.checksum)};
  }
};

KafkaReplica::KafkaReplica(KafkaReplicaOptions options)
    : state_(std::make_unique<State>()) {
  State& s = *state_;
  s.options = std::move(options);
  if (s.options.dir.empty()) {
    throw InvalidArgumentError("replica: dir: the path is empty");
  }
  if (s.fs->exists(s.options.dir / kStoreFileName)) {
    s.open_existing_replica();
  } else if (s.fs->exists(s.options.dir)) {
    // Empty, or what a creation killed before STORE left.
    for (const std::string& name : s.fs->list_dir(s.options.dir)) {
      if (name != kLockFileName && name != kStoreTempFileName &&
          name != kReplicaFileName && name != kReplicaTempFileName) {
        throw InvalidArgumentError(fmt::format(
            "{} is neither a read replica nor empty", s.options.dir.string()));
      }
    }
  }
  KafkaConsumerOptions consumer;
  consumer.brokers = s.options.brokers;
  consumer.topic = s.options.topic;
  consumer.store_id = s.options.store_id;
  consumer.start_after_lsn = s.progress.applied_lsn;
  consumer.metadata_timeout = s.options.metadata_timeout;
  consumer.stall_timeout = s.options.stall_timeout;
  s.consumer = std::make_unique<KafkaConsumer>(std::move(consumer));
}

KafkaReplica::~KafkaReplica() {
  try {
    state_->close_views();
  } catch (const Error&) {
    // The views stay marked unclean; the next open judges them.
  }
}

ReplicaProgress KafkaReplica::replicate_until_caught_up() {
  State& s = *state_;
  try {
    s.consumer->consume_until_caught_up(
        [&](std::vector<ReceivedEvent>& batch) { s.take(batch); });
  } catch (const KafkaGapError&) {
    s.close_views();
    throw;
  }
  s.close_views();
  return s.report();
}

ReplicaProgress KafkaReplica::run(const std::function<bool()>& stop) {
  State& s = *state_;
  try {
    s.consumer->run([&](std::vector<ReceivedEvent>& batch) { s.take(batch); },
                    stop);
  } catch (const KafkaGapError&) {
    s.close_views();
    throw;
  }
  s.close_views();
  return s.report();
}

ReplicaProgress KafkaReplica::progress() const { return state_->report(); }

}  // namespace wfstore
