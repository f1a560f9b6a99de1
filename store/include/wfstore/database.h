// Database is one store directory: the append-only log, its single writer with
// group commit, and the LMDB read models folded from the log.
//
// Thread-safety: all methods may be called concurrently, close() included: it
// waits for the commits in flight, and a call racing with it throws IOError.
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

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>

#include "wfstore/file_system.h"
#include "wfstore/logger.h"
#include "wfstore/workflow_store.h"

namespace wfstore {

enum class Durability : std::uint8_t {
  // A commit returns after its group's fdatasync: a machine crash loses nothing
  // acknowledged.
  kSync = 0,
  // A commit returns once written to the log file: a process crash loses
  // nothing, a
  // machine crash may lose the last few milliseconds (a background thread
  // fdatasyncs).
  kBuffered = 1,
};

// The store's source of time. Tests use a fake one.
class Clock {
 public:
  virtual ~Clock() = default;
  // Epoch milliseconds. Called on the store's threads; an exception from it
  // rejects the commits of the group it was read for (IOError, nothing
  // appended) and leaves the store usable.
  virtual std::int64_t now_ms() = 0;
};

// The system clock.
std::shared_ptr<Clock> system_clock();

// Options of the store's queue (one queue per store; DESIGN.md "Queue").
struct QueueOptions {
  // How long a polled delivery stays invisible unless acked, rescheduled or
  // extended (the reference SqliteQueue's default).
  std::chrono::milliseconds lease_duration{60000};
  // Attempts after which a delivery is no longer polled and the DLQ sweep
  // moves it; a message's own max_attempts, when set, wins (Q5). >= 1.
  int max_attempts = 10;
  // Durability of leases, acks, reschedules and lease extensions: losing one
  // loses an attempt increment or redelivers a message, which at-least-once
  // delivery allows. Pushes and dead-letter moves use the store's default.
  Durability lease_durability = Durability::kBuffered;
};

// One committed group of commits, as commit listeners see it.
struct CommitNotice {
  std::uint64_t first_lsn = 0;
  std::uint64_t last_lsn = 0;
  // The group made a delivery due or visible sooner: a push, a reschedule,
  // a dead-letter replay, a cleared lease, a lease extension (which may
  // shorten a lease).
  bool queue_changed = false;
};

// Called on a committing thread after each group's callers were woken, in
// LSN order (a group's notice waits until the listener calls of every earlier
// group returned). Must be quick and must not throw (an exception is logged
// and dropped). A commit, add_commit_listener() or close() of the same store
// made from a listener throws IOError (each would wait for the listener
// itself); remove_commit_listener() must not be called from one.
using CommitListener = std::function<void(const CommitNotice& notice)>;

struct DatabaseOptions {
  // Default durability of commits; see Durability.
  Durability durability = Durability::kSync;
  // How long the background syncer lets buffered commits gather before it
  // fdatasyncs them: it sleeps while nothing is buffered, a buffered commit
  // wakes it, and it syncs this long after. >= 0 (InvalidArgumentError);
  // milliseconds::max() leaves buffered commits to close() and kSync commits.
  std::chrono::milliseconds buffered_sync_interval{5};
  // Time source for event timestamps, pause/resume times and queue times. Null:
  // system.
  std::shared_ptr<Clock> clock;
  // Receives warnings (torn tail dropped, views rebuilt), on any of the
  // store's threads; an exception from it is dropped. Null: stderr.
  Logger logger;
  // Every file operation goes through this. Null: the POSIX file system.
  std::shared_ptr<FileSystem> file_system;
  // Initial LMDB map size (sparse); it grows on demand.
  std::uint64_t map_size = std::uint64_t{64} << 30;
  // Permission bits of every file the store creates (STORE, LOCK,
  // VIEWS_STATE, log segments and their side files, LMDB's data.mdb and
  // lock.mdb); the directories it creates (a missing store directory, log/,
  // views/) get the same bits plus search permission where read is granted.
  // Less the umask. Default 0600 (directories 0700); 0640 lets a group read.
  // Must lie in 0600..0777 with the owner's read and write bits
  // (InvalidArgumentError). With an injected file_system, that file system
  // decides the modes of the files it creates.
  unsigned file_mode = 0600;
  // The queue's options.
  QueueOptions queue;
};

// Counters for tests and `wfstore stats`.
struct DatabaseStats {
  std::uint64_t commits = 0;     // committed (non-empty) commits
  std::uint64_t groups = 0;      // writer groups
  std::uint64_t fdatasyncs = 0;  // log syncs
  std::uint64_t bytes_appended = 0;
  std::uint64_t applied_lsn = 0;  // views
  std::uint64_t durable_lsn = 0;  // log
  std::uint64_t queued_commits =
      0;  // in the writer queue now, the group in flight included
};

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

  class Impl;
  // For wfstore's own tests and tools.
  friend Impl& database_impl(Database& database);

 private:
  explicit Database(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace wfstore
