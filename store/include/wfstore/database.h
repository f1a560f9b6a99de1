// Database is one store directory: the append-only log, its single writer with
// group commit, and the LMDB read models folded from the log.
//
// Thread-safety: all methods may be called concurrently, close() included: it
// waits for the commits in flight, and a call racing with it throws IOError.
// Processes: not usable across fork(); in the child, a call that reads or
// writes the views throws IOError (open the store again there).
// The Database must outlive every object obtained from it (the WorkflowStore,
// ranges, listeners, a Queue and its QueueProcessor); they may outlive
// close(), after which their calls throw IOError.
//
// Failures: a failed log write, log fdatasync (the background syncer's
// included) or view commit fails the store: every later call, reads
// included, throws IOError until it is reopened, and the reopen recovers the
// log and folds into the views every record it holds.
//
// An IOError from a write means its outcome is unknown: the commit may be in
// the log (written whole, e.g. an earlier record of a group that then hit
// ENOSPC, or a record whose fdatasync failed) and reappear after reopening;
// what reappears is whole, never half-applied. Any other error from a write
// means nothing was changed.

#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>

#include "wfstore/options.h"
#include "wfstore/workflow_store.h"

namespace wfstore {

class Database {
 public:
  // Opens or creates the store in `dir` as its one writer: recovers the log,
  // catches the views up (or rebuilds them, with a warning). A missing `dir`
  // is created with options.file_mode's directory mode (0700). The log's
  // repair is planned and checked against the durable LSN recorded outside
  // LMDB (VIEWS_STATE) and in the views before any file changes: a log that
  // would end below it is CorruptionError and every file is left as it was.
  // Throws StoreLockedError, CorruptionError, IOError, InvalidArgumentError
  // (an empty `dir`, not a store, newer format, bad file_mode).
  static std::unique_ptr<Database> open(const std::filesystem::path& dir,
                                        const DatabaseOptions& options = {});
  // Opens `dir` for reading only; never writes. Serves the views as they are.
  // Throws CorruptionError (views need a rebuild), IOError,
  // InvalidArgumentError.
  static std::unique_ptr<Database> open_read_only(
      const std::filesystem::path& dir, const DatabaseOptions& options = {});

  Database(const Database&) = delete;
  Database& operator=(const Database&) = delete;
  // Best effort close; call close() to observe errors.
  ~Database();

  // The store; valid while this Database lives.
  WorkflowStore& workflow_store();

  DatabaseStats stats() const;

  // The options the store was opened with (clock and file system filled in).
  const DatabaseOptions& options() const;

  // Registers `listener` for every later committed group; returns its id.
  // Throws IOError for a read-only store.
  std::uint64_t add_commit_listener(CommitListener listener);
  // Unregisters listener `id`; once this returns, the listener is not running
  // and will not be called again. REQUIRES: not called from a listener.
  // Unknown ids are ignored.
  void remove_commit_listener(std::uint64_t id);

  // Rejects new calls (they throw IOError), wakes blocked polls (they throw
  // IOError), waits for the commits in flight and their listener calls, syncs,
  // stops the background syncer, marks a clean close and releases the LOCK.
  // Idempotent. Throws IOError (a failed final sync, or a store that failed
  // earlier: then no clean close is marked and the reopen recovers).
  void close();

  // Defined inside wfstore (store/database_impl.h).
  class Impl;

 private:
  explicit Database(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace wfstore
