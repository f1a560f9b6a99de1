// The options a store is opened with (DatabaseOptions) and the value types
// they and the Database share: how a commit is made durable (Durability), the
// time source (Clock), the queue's options (QueueOptions), what a commit
// listener sees (CommitNotice, CommitListener) and the counters
// (DatabaseStats). wfstore/database.h includes this header; wfstore's own
// headers include it instead when they need these types but not the Database.

#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>

#include "wfstore/file_system.h"
#include "wfstore/logger.h"

namespace wfstore {

enum class Durability : std::uint8_t {
  // A commit returns after its group's fdatasync: a machine crash loses
  // nothing acknowledged.
  kSync = 0,
  // A commit returns once written to the log file: a process crash loses
  // nothing, a machine crash may lose the last few milliseconds (a background
  // thread fdatasyncs).
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

// Options of the store's queue (one queue per store;
// docs/write-path.md#the-queues-leases).
struct QueueOptions {
  // How long a polled delivery stays invisible unless acked, rescheduled or
  // extended (the reference SqliteQueue's default).
  std::chrono::milliseconds lease_duration{60000};
  // Attempts after which a delivery is no longer polled and the DLQ sweep
  // moves it; a message's own max_attempts, when set, wins (Q5 in
  // docs/semantics.md §9). >= 1.
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
  // Time source for event timestamps, pause/resume times and queue times.
  // Null: the system clock.
  std::shared_ptr<Clock> clock;
  // Receives warnings (torn tail dropped, views rebuilt), on any of the
  // store's threads; an exception from it is dropped. Null: stderr.
  Logger logger;
  // Every file operation goes through this. Null: the POSIX file system.
  std::shared_ptr<FileSystem> file_system;
  // Initial LMDB map size. A writer allocates the map's blocks on disk, so
  // that a full disk refuses a commit (IOError) where writing to an
  // unallocated page of the map would kill the process (SIGBUS); the map
  // grows on demand by as much again, at most 256 MiB at a time, leaving 8
  // MiB of the disk to the log. A map the disk has no room for at open
  // shrinks to the pages in use.
  std::uint64_t map_size = std::uint64_t{64} << 20;
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
  // In the writer queue now, the group in flight included.
  std::uint64_t queued_commits = 0;
};

}  // namespace wfstore
