// Database: opening a store (recovery rules), the read-only open, close.

#include "wfstore/database.h"

#include <chrono>
#include <cstdio>
#include <map>
#include <optional>
#include <utility>

#include <fmt/format.h>

#include "wfstore/errors.h"

#include "store/database_impl.h"
#include "wfstore_internal/keys.h"
#include "wfstore_internal/raise_to.h"
#include "wfstore_internal/view_recovery.h"

namespace wfstore {
namespace {

class SystemClock final : public Clock {
 public:
  std::int64_t now_ms() override {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
  }
};

Logger stderr_logger() {
  return [](LogLevel level, std::string_view message) {
    std::fprintf(stderr, "wfstore: %s: %.*s\n",
                 std::string(log_level_name(level)).c_str(),
                 static_cast<int>(message.size()), message.data());
  };
}

// Why the views must be rebuilt before they serve the log, or empty when they
// need not. `state` is the store's VIEWS_STATE (nullopt: none, a store whose
// views an earlier build wrote; its meta then holds the shutdown record).
std::string rebuild_reason(const ViewReader& views, std::uint64_t log_end,
                           const std::string& boot_id, const std::string& dir,
                           const std::optional<ViewsState>& state) {
  const std::optional<std::uint64_t> durable = meta_u64(views, kMetaDurableLsn);
  if (durable && log_end < *durable) {
    throw CorruptionError(
        fmt::format("{}: the log ends at lsn {} below the views' durable lsn "
                    "{}: acknowledged commits "
                    "were lost",
                    dir, log_end, *durable));
  }
  if (std::string mismatch = schema_mismatch(views); !mismatch.empty()) {
    return mismatch;
  }
  // New views (no schema version, nothing folded) need no rebuild.
  if (!meta_u64(views, kMetaSchemaVersion)) return {};
  const std::uint64_t applied = meta_u64(views, kMetaAppliedLsn).value_or(0);
  if (log_end < applied) {
    return fmt::format(
        "the log ends at lsn {} below the views' applied lsn {} (a lost "
        "buffered tail)",
        log_end, applied);
  }
  bool clean = false;
  std::string stored_boot;
  if (state) {
    clean = state->clean;
    stored_boot = state->boot_id;
  } else {
    clean = meta_u64(views, kMetaCleanClose).value_or(0) == 1;
    stored_boot = views.get(Table::kMeta, kMetaBootId).value_or("");
  }
  if (!clean && stored_boot != boot_id) {
    return "the views were not closed cleanly before a reboot";
  }
  return {};
}

// Why the views in `views_dir` cannot be trusted at all (they may hold pages
// torn by a machine crash), judged from VIEWS_STATE alone, without reading
// them; empty when they can.
std::string distrust_reason(const std::optional<ViewsState>& state,
                            const std::string& boot_id) {
  if (!state) {
    return "the views have no shutdown record (VIEWS_STATE) outside LMDB";
  }
  if (!state->clean && state->boot_id != boot_id) {
    return "the views were not closed cleanly before a reboot";
  }
  return {};
}

// Writes the bookkeeping meta of a writer's open.
void write_open_meta(LmdbViews::WriteTxn& txn, std::uint64_t durable) {
  txn.put(Table::kMeta, kMetaSchemaVersion,
          keys::encode_u64(kViewSchemaVersion));
  write_clean_close(txn, false);
  txn.put(Table::kMeta, kMetaDurableLsn, keys::encode_u64(durable));
}

}  // namespace

std::shared_ptr<Clock> system_clock() {
  static const std::shared_ptr<Clock> kClock = std::make_shared<SystemClock>();
  return kClock;
}

std::unique_ptr<Database::Impl> Database::Impl::open(
    const std::filesystem::path& dir, const DatabaseOptions& options,
    bool read_only) {
  if (dir.empty()) {
    throw InvalidArgumentError("dir: the store directory path is empty");
  }
  if (options.queue.max_attempts < 1) {
    throw InvalidArgumentError(
        fmt::format("queue.max_attempts must be at least 1 (got {})",
                    options.queue.max_attempts));
  }
  if (options.queue.lease_duration.count() <= 0) {
    throw InvalidArgumentError(
        fmt::format("queue.lease_duration must be positive (got {} ms)",
                    options.queue.lease_duration.count()));
  }
  if (options.buffered_sync_interval.count() < 0) {
    throw InvalidArgumentError(
        fmt::format("buffered_sync_interval must not be negative (got {} ms)",
                    options.buffered_sync_interval.count()));
  }
  if ((options.file_mode & ~0777u) != 0 ||
      (options.file_mode & 0600u) != 0600u) {
    throw InvalidArgumentError(fmt::format(
        "file_mode {:o} must grant the owner read and write and hold only "
        "permission bits (0600..0777)",
        options.file_mode));
  }
  auto impl = std::make_unique<Impl>();
  impl->fs_ = options.file_system ? options.file_system
                                  : posix_file_system(options.file_mode);
  // The store calls the logger on its own threads and inside its failure
  // paths: an exception from it is dropped, never let out of them (it would
  // skip a group's listener turn or end a worker thread).
  impl->logger_ = [logger = options.logger ? options.logger : stderr_logger()](
                      LogLevel level, std::string_view message) noexcept {
    try {
      logger(level, message);
    } catch (...) {
    }
  };
  impl->options_ = options;
  impl->options_.file_system = impl->fs_;
  impl->options_.logger = impl->logger_;
  if (!impl->options_.clock) impl->options_.clock = system_clock();
  impl->read_only_ = read_only;
  const std::string boot_id = current_boot_id();

  if (read_only) {
    impl->store_dir_.emplace(StoreDir::open_existing(impl->fs_, dir, false));
    // VIEWS_STATE is read before the views: a writer's open may meanwhile
    // delete untrusted views and record a state of this boot, which must not
    // vouch for views opened before it.
    const std::optional<ViewsState> state =
        impl->store_dir_->read_views_state();
    if (!LmdbViews::has_environment(impl->store_dir_->views_dir())) {
      throw CorruptionError(fmt::format(
          "{}: the store has no views yet; open it as its writer first",
          dir.string()));
    }
    LmdbViewsOptions views_options;
    views_options.read_only = true;
    impl->views_ =
        LmdbViews::open(impl->store_dir_->views_dir(), views_options);
    {
      const LmdbViews::Snapshot snapshot = impl->views_->begin_read();
      const std::uint64_t applied =
          meta_u64(snapshot, kMetaAppliedLsn).value_or(0);
      std::string reason =
          rebuild_reason(snapshot, applied, boot_id, dir.string(), state);
      if (!meta_u64(snapshot, kMetaSchemaVersion) && applied != 0) {
        reason = "the views have no schema version";
      }
      if (!reason.empty()) {
        throw CorruptionError(
            fmt::format("{}: the views need a rebuild ({}); open the store as "
                        "its writer or run "
                        "'wfstore rebuild'",
                        dir.string(), reason));
      }
    }
    impl->core_ = std::make_unique<StoreCore>(*impl->views_, nullptr,
                                              dir.string(), impl->options_);
    impl->store_ = std::make_unique<WorkflowStoreImpl>(*impl->core_);
    return impl;
  }

  impl->store_dir_.emplace(StoreDir::create_or_open(impl->fs_, dir));
  const StoreDir& store_dir = *impl->store_dir_;
  const std::filesystem::path views_dir = store_dir.views_dir();
  LmdbViewsOptions views_options;
  views_options.map_size = options.map_size;
  views_options.file_mode = options.file_mode;

  // Nothing is changed until the log's repair is checked against what is
  // known to be durable: VIEWS_STATE's durable LSN, and the views' own when
  // they can be trusted (read without the registry or a lock file).
  const std::optional<ViewsState> prior = store_dir.read_views_state();
  const bool views_exist = impl->fs_->exists(views_dir / "data.mdb");
  std::string distrust =
      views_exist ? distrust_reason(prior, boot_id) : std::string();
  std::optional<std::uint64_t> views_durable;
  if (views_exist && (distrust.empty() || !prior)) {
    try {
      if (std::optional<std::map<std::string, std::string>> meta =
              LmdbViews::read_meta_unlocked(views_dir)) {
        if (auto it = meta->find(std::string(kMetaDurableLsn));
            it != meta->end()) {
          views_durable = keys::decode_u64(it->second);
        }
      }
    } catch (const CorruptionError& e) {
      // Views without a shutdown record are rebuilt anyway; only trusted
      // views that fail to read are an error.
      if (distrust.empty()) throw;
      impl->logger_(LogLevel::kWarning,
                    fmt::format("{}: the views' durable lsn is unreadable: {}",
                                dir.string(), e.what()));
    }
  }
  // A buffered writer syncs once per buffered_sync_interval at most, not per
  // commit: its records go through a mapping of the live segment instead of
  // a pwrite() each.
  impl->writer_ = open_log_checked(
      store_dir, impl->fs_, impl->logger_, prior, views_durable,
      /*mapped_writes=*/options.durability == Durability::kBuffered);
  const std::uint64_t durable = impl->writer_->durable_lsn();
  remove_rebuild_leftovers(store_dir);
  if (!distrust.empty()) {
    // Possibly torn pages: the views are deleted before VIEWS_STATE says this
    // boot has them open, so that no later open trusts them.
    remove_views(store_dir);
  }
  store_dir.write_views_state(ViewsState{false, boot_id, durable});

  std::string reason = distrust;
  FoldProgress progress;
  if (impl->fs_->exists(views_dir / "data.mdb")) {
    impl->views_ = LmdbViews::open(views_dir, views_options);
    const LmdbViews::Snapshot snapshot = impl->views_->begin_read();
    reason = rebuild_reason(snapshot, impl->writer_->last_lsn(), boot_id,
                            dir.string(), prior);
    progress = read_progress(snapshot);
  } else if (reason.empty() && impl->writer_->last_lsn() == 0) {
    impl->views_ = LmdbViews::open(views_dir, views_options);
  }
  if (!reason.empty() || !impl->views_) {
    if (!reason.empty()) {
      impl->logger_(LogLevel::kWarning,
                    fmt::format("{}: rebuilding the views from the log: {}",
                                dir.string(), reason));
    }
    impl->views_.reset();
    progress = rebuild_views_swapped(
        store_dir, views_options,
        [durable](LmdbViews::WriteTxn& txn, const FoldProgress&) {
          write_open_meta(txn, durable);
        });
    impl->views_ = LmdbViews::open(views_dir, views_options);
  } else {
    progress = fold_log_into(*impl->views_, impl->fs_, store_dir.log_dir(),
                             store_dir.id(), progress);
  }
  if (progress.applied_lsn != impl->writer_->last_lsn()) {
    throw CorruptionError(fmt::format(
        "{}: the views reached lsn {} but the log ends at lsn {}", dir.string(),
        progress.applied_lsn, impl->writer_->last_lsn()));
  }
  impl->views_->write(
      [&](LmdbViews::WriteTxn& txn) { write_open_meta(txn, durable); });
  impl->views_->sync();

  PipelineOptions pipeline_options;
  pipeline_options.dir = dir.string();
  pipeline_options.durability = options.durability;
  pipeline_options.buffered_sync_interval = options.buffered_sync_interval;
  pipeline_options.clock = options.clock ? options.clock : system_clock();
  pipeline_options.logger = impl->logger_;
  impl->pipeline_ = std::make_unique<CommitPipeline>(
      *impl->writer_, *impl->views_, std::move(pipeline_options),
      PipelineStart{progress.checksum, progress.last_timestamp_ms});
  impl->core_ = std::make_unique<StoreCore>(
      *impl->views_, impl->pipeline_.get(), dir.string(), impl->options_);
  impl->store_ = std::make_unique<WorkflowStoreImpl>(*impl->core_);
  return impl;
}

Database::Impl::~Impl() {
  try {
    close();
  } catch (const Error& e) {
    if (logger_)
      logger_(LogLevel::kError, fmt::format("closing the store: {}", e.what()));
  }
}

void Database::Impl::close() {
  // Before any state changes: close() waits for the commits in flight, and a
  // commit listener runs inside one.
  if (pipeline_ != nullptr)
    pipeline_->check_not_in_listener("closing the store");
  std::scoped_lock lock(close_mu_);
  if (closed_) return;
  closed_ = true;
  if (read_only_) {
    // The views stay open until the Impl goes: a read racing with close()
    // throws IOError or reads a snapshot, never freed memory.
    if (core_) core_->mark_closed();
    store_dir_.reset();
    return;
  }
  if (pipeline_ == nullptr) return;
  // The pipeline and writer live as long as the Impl: close() only ends
  // their use (a call that raced with it throws IOError).
  std::exception_ptr error;
  try {
    pipeline_->close();  // Waits for the commits in flight, syncs.
    const std::uint64_t durable = writer_->durable_lsn();
    const bool clean = durable == writer_->last_lsn();
    views_->write([&](LmdbViews::WriteTxn& txn) {
      txn.put(Table::kMeta, kMetaDurableLsn, keys::encode_u64(durable));
      write_clean_close(txn, clean);
    });
    views_->sync();
    // Marked clean only once the views are flushed (VIEWS_STATE, outside
    // LMDB).
    if (clean) {
      store_dir_->write_views_state(
          ViewsState{true, current_boot_id(), durable});
    }
  } catch (const Error&) {
    // A failed pipeline writes nothing more to the views: their meta stays
    // at the last group they hold, so the reopen folds the log's tail.
    error = std::current_exception();
  }
  try {
    writer_->close();
  } catch (const Error&) {
    if (!error) error = std::current_exception();
  }
  store_dir_.reset();
  if (error) std::rethrow_exception(error);
}

void Database::Impl::simulate_crash_for_testing() {
  std::scoped_lock lock(close_mu_);
  if (closed_) return;
  closed_ = true;
  if (core_) core_->mark_closed();
  if (pipeline_) pipeline_->abandon_for_testing();
  if (writer_) {
    try {
      writer_->close();  // No sync: the page cache keeps what was written.
    } catch (const Error&) {
    }
  }
  store_dir_.reset();
}

void Database::Impl::raise_reader_synced_lsn(std::uint64_t lsn) {
  raise_to(reader_synced_lsn_, lsn);
}

DatabaseStats Database::Impl::stats() const {
  if (pipeline_ != nullptr) return pipeline_->stats();
  DatabaseStats stats;
  if (views_) {
    const LmdbViews::Snapshot snapshot = views_->begin_read();
    stats.applied_lsn = meta_u64(snapshot, kMetaAppliedLsn).value_or(0);
    stats.durable_lsn = meta_u64(snapshot, kMetaDurableLsn).value_or(0);
  }
  return stats;
}

StoreCore& store_core(Database& database) {
  return database_impl(database).core();
}

Database::Database(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Database::~Database() = default;

std::unique_ptr<Database> Database::open(const std::filesystem::path& dir,
                                         const DatabaseOptions& options) {
  return std::unique_ptr<Database>(
      new Database(Impl::open(dir, options, false)));
}

std::unique_ptr<Database> Database::open_read_only(
    const std::filesystem::path& dir, const DatabaseOptions& options) {
  return std::unique_ptr<Database>(
      new Database(Impl::open(dir, options, true)));
}

WorkflowStore& Database::workflow_store() { return impl_->store(); }

DatabaseStats Database::stats() const { return impl_->stats(); }

const DatabaseOptions& Database::options() const { return impl_->options(); }

std::uint64_t Database::add_commit_listener(CommitListener listener) {
  return impl_->core().add_listener(std::move(listener));
}

void Database::remove_commit_listener(std::uint64_t id) {
  impl_->core().remove_listener(id);
}

void Database::close() { impl_->close(); }

}  // namespace wfstore
