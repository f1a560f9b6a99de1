// Database::Impl: the parts of an open store and the open and close rules of
// docs/write-path.md#opening-and-recovery and docs/read-models.md. wfstore's
// modules reach the store through its StoreCore
// (wfstore_internal/store_core.h); tests reach the pipeline, writer and views
// through this header.

#pragma once

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>

#include "wfstore/database.h"

#include "store/commit_pipeline.h"
#include "store/workflow_store_impl.h"
#include "wfstore_internal/lmdb_views.h"
#include "wfstore_internal/log_writer.h"
#include "wfstore_internal/store_core.h"
#include "wfstore_internal/store_dir.h"

namespace wfstore {

class Database::Impl {
 public:
  // The writer open (read_only false) or a read-only open.
  static std::unique_ptr<Impl> open(const std::filesystem::path& dir,
                                    const DatabaseOptions& options,
                                    bool read_only);
  ~Impl();
  Impl(const Impl&) = delete;
  Impl& operator=(const Impl&) = delete;

  // Rejects new calls, waits for the commits in flight, syncs, marks a clean
  // close and releases the LOCK. The pipeline, writer and views stay
  // allocated until the Impl is destroyed, so a call racing with close()
  // throws IOError instead of touching freed memory. Idempotent. Throws
  // IOError (a failed final sync, or a writer that failed before).
  void close();
  // Stops the writer as a killed process would: waits for the commits in
  // flight, then no sync and no clean-close mark; the LOCK is released and
  // later calls throw IOError. Views stay open for inspection (tests).
  void simulate_crash_for_testing();
  DatabaseStats stats() const;

  // Null for a read-only open; otherwise valid as long as the Impl (after
  // close() every call on it throws IOError).
  CommitPipeline* pipeline() { return pipeline_.get(); }
  // Null for a read-only open; the writer is closed after close() (tests).
  log::Writer* writer() { return writer_.get(); }
  LmdbViews& views() { return *views_; }
  StoreCore& core() { return *core_; }
  WorkflowStoreImpl& store() { return *store_; }
  const StoreDir& store_dir() const { return *store_dir_; }
  const std::shared_ptr<FileSystem>& file_system() const { return fs_; }
  bool read_only() const { return read_only_; }
  // The options as opened, with the file system, logger and clock filled in.
  const DatabaseOptions& options() const { return options_; }

  // A read-only open: the LSN up to which make_log_durable made the log
  // durable itself (committed_events.h). Thread-safe.
  std::uint64_t reader_synced_lsn() const { return reader_synced_lsn_.load(); }
  void raise_reader_synced_lsn(std::uint64_t lsn);

  // The Impl of `database` (a nested class reaches the Database's members).
  static Impl& of(Database& database) { return *database.impl_; }

  Impl() = default;

 private:
  DatabaseOptions options_;
  std::shared_ptr<FileSystem> fs_;
  Logger logger_;
  bool read_only_ = false;
  std::optional<StoreDir> store_dir_;
  std::unique_ptr<log::Writer> writer_;
  std::unique_ptr<LmdbViews> views_;
  std::unique_ptr<CommitPipeline> pipeline_;
  std::unique_ptr<StoreCore> core_;
  std::unique_ptr<WorkflowStoreImpl> store_;
  std::atomic<std::uint64_t> reader_synced_lsn_{0};
  std::mutex close_mu_;
  bool closed_ = false;  // Guarded by close_mu_.
};

// The Impl of `database`, for tests and maintenance code inside wfstore.
inline Database::Impl& database_impl(Database& database) {
  return Database::Impl::of(database);
}

}  // namespace wfstore
