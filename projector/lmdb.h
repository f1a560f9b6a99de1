// RAII wrapper over LMDB: environments shared through a process-wide registry,
// transactions that abort unless committed, cursors, and check(), the one
// translation point from LMDB return codes to wfstore exceptions. The only file
// of the project that includes lmdb.h.

#pragma once

#include <array>
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include <lmdb.h>
#include <sys/types.h>

#include "wfstore/errors.h"

#include "wfstore_internal/view_store.h"

namespace wfstore::lmdb {

// Thrown by put/commit when the map is full (MDB_MAP_FULL). The transaction is
// finished (aborted); grow the environment with Env::grow() and redo the
// transaction's work.
using MapFullError = wfstore::MapFullError;

// Throws nothing if rc is MDB_SUCCESS. Otherwise throws CorruptionError for
// MDB_CORRUPTED, MDB_PAGE_NOTFOUND and MDB_INVALID, MapFullError for
// MDB_MAP_FULL, and IOError for every other code; the message is "{path}:
// {what}: {mdb_strerror(rc)}". MDB_NOTFOUND is not an error: callers test for
// it before calling check().
void check(int rc, std::string_view what, const std::string& path);

// Options of an environment. Only the first opener of a directory in a process
// decides them; later opens share its environment.
struct EnvOptions {
  // Initial map size in bytes. A writer with write_map allocates the map's
  // blocks on disk (Env::open); growth adds map_growth(size). Default 64 MiB.
  std::uint64_t map_size = std::uint64_t{64} << 20;
  // MDB_RDONLY: never creates or writes the data file; fails if the directory
  // or the environment is missing.
  bool read_only = false;
  // Reader slots shared by all threads and processes (mdb_env_set_maxreaders).
  unsigned max_readers = 1024;
  // Named databases (mdb_env_set_maxdbs).
  unsigned max_dbs = 32;
  // Writer only: MDB_WRITEMAP (default). Off only to measure its effect.
  bool write_map = true;
  // Writer only: permission bits of data.mdb and lock.mdb when created
  // (mdb_env_open's mode, less the umask).
  unsigned file_mode = 0600;
  // Writer with write_map only: how far beyond the map's used end a
  // background thread faults the map's pages in ahead of the writes
  // (MapPrefaulter), so a commit that grows the data writes to mapped pages;
  // 0: none.
  std::uint64_t prefault_bytes = std::uint64_t{4} << 20;
};

// Reads every key and value of the named database `name` of the environment
// in `dir` through a private MDB_RDONLY | MDB_NOLOCK environment that is not
// shared through the registry: it writes no byte of data.mdb or lock.mdb. For
// checks made while holding the store's LOCK (no writer can be active).
// Returns nullopt if the database does not exist. Throws IOError (a missing
// environment included), CorruptionError.
std::optional<std::map<std::string, std::string>> read_database_unlocked(
    const std::filesystem::path& dir, const std::string& name);

// Test hooks: how many registry environments (MDB_env handles) this process
// has open now, and the most it had open at once since the last reset.
int live_envs_for_testing();
int peak_live_envs_for_testing();
void reset_peak_live_envs_for_testing();
// Test hooks: `hook` runs in the deleter of every registry environment after
// its last user let go and before it is closed (empty: none); and how many
// opens are waiting for such a close to finish.
void set_env_close_hook_for_testing(std::function<void()> hook);
int waiting_opens_for_testing();

// The bytes a growth adds to a map of `size` bytes: as much again, at most
// 256 MiB, at least 1 MiB (a growth allocates what it adds on disk, so a
// larger store grows in steps). A growth of a writer's allocated map takes
// less when the disk has less beyond 8 MiB (kept for the log), and none when
// that leaves under 1 MiB.
std::uint64_t map_growth(std::uint64_t size) noexcept;

// Orders two keys exactly as LMDB's default comparison does (bytes as
// unsigned, a key before its extensions), 8 bytes at a time: the views' keys
// are mostly 8- and 16-byte big-endian numbers, for which a call to memcmp
// costs more than the comparison. Every named table's handle uses it (set when
// the handle opens); since the order is LMDB's own, a file reads alike through
// either. Returns <0, 0 or >0. Thread-safe.
int compare_keys(const MDB_val* a, const MDB_val* b) noexcept;

// The environment flags a writer opens with: MDB_NOTLS | MDB_NOSYNC |
// MDB_WRITEMAP | MDB_NOMETASYNC. Read-only opens use MDB_NOTLS | MDB_RDONLY.
unsigned writer_flags();

// The lock between an environment's transactions (shared) and the resizes of
// its map (exclusive): mdb_env_set_mapsize needs a moment with no transaction
// active in the process. It counts the shared holds of each thread, so that
// - a thread that holds it shared takes it again at once, while other threads
//   wait behind a resize that is waiting (a stream of short readers cannot
//   starve a resize, and a thread never waits for itself);
// - a resize asked for by a thread that holds it shared fails with IOError
//   instead of waiting for itself forever.
// A hold counts for the thread that took it until it is released, on
// whichever thread.
//
// Thread-safe.
class ResizeLock {
 public:
  // One shared hold; releases it when destroyed. Movable.
  class Hold {
   public:
    Hold() = default;
    ~Hold() { release(); }
    Hold(Hold&& other) noexcept
        : lock_(std::exchange(other.lock_, nullptr)), owner_(other.owner_) {}
    Hold& operator=(Hold&& other) noexcept {
      if (this != &other) {
        release();
        lock_ = std::exchange(other.lock_, nullptr);
        owner_ = other.owner_;
      }
      return *this;
    }
    Hold(const Hold&) = delete;
    Hold& operator=(const Hold&) = delete;

    bool held() const noexcept { return lock_ != nullptr; }
    void release() noexcept;

   private:
    friend class ResizeLock;
    Hold(ResizeLock* lock, std::thread::id owner)
        : lock_(lock), owner_(owner) {}
    ResizeLock* lock_ = nullptr;
    std::thread::id owner_;
  };

  // Takes the lock shared for the calling thread. Waits while a resize runs
  // or waits, unless this thread already holds it shared.
  Hold lock_shared();

  // Takes the lock exclusively for a resize, waiting until no thread holds it
  // shared. Throws IOError naming `path` if the calling thread holds it shared.
  void lock(const std::string& path);
  // Takes it exclusively only if no thread holds it; never waits.
  bool try_lock();
  void unlock() noexcept;

  // The number of shared holds the calling thread has.
  int held_by_this_thread() const;
  // The number of resizes waiting in lock().
  int resizes_waiting() const;

 private:
  void unlock_shared(std::thread::id owner) noexcept;

  // The position of `thread`'s entry in holders_, or holders_.size().
  // REQUIRES: mu_ held.
  std::size_t find_holder(std::thread::id thread) const;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  // The shared holds per holding thread: a flat list, since few threads hold
  // at once and a read must not allocate. Guarded by mu_.
  std::vector<std::pair<std::thread::id, int>> holders_;
  int shared_ = 0;           // Guarded by mu_.
  int resizes_waiting_ = 0;  // Guarded by mu_.
  bool exclusive_ = false;   // Guarded by mu_.
};

class MapPrefaulter;

// One MDB_env, shared by every open of its directory in this process (a
// process-wide registry keyed by the directory's device and inode, so every
// path to it shares one). An open that finds the directory's environment
// being closed waits until the close has finished, so a process never has two
// MDB_env handles of one environment (closing a second descriptor of lock.mdb
// would drop the process's fcntl locks on it). Holds a ResizeLock that
// transactions take shared for their lifetime and grow() takes exclusively,
// because mdb_env_set_mapsize needs a moment with no transaction active in
// the process.
//
// Thread-safe. The environment closes when the last shared_ptr goes away.
class Env {
 public:
  // Returns the environment of `dir`, opening it (and for a writer creating
  // `dir`) if this process has none. A writer open creates data.mdb/lock.mdb if
  // missing; it reaps stale reader slots.
  //
  // A writer with a write map allocates the blocks of lock.mdb (before
  // mdb_env_open, which writes its header through a mapping) and of
  // data.mdb's whole map (fallocate), and each growth those of what it adds,
  // so that no write through the maps needs the file system to find room: a
  // write to a page without a block raises SIGBUS where write() would return
  // ENOSPC. A full disk then refuses a growth (IOError) instead. When the
  // whole map cannot be allocated at open (leaving 8 MiB free for the log),
  // the map shrinks to the pages in use. A file system that cannot allocate
  // ahead (EOPNOTSUPP) is used as before, without the guarantee; so is one
  // that copies on write (btrfs), whose overwrites need new blocks anyway.
  //
  // Throws IOError if `dir` cannot be opened or created, if a writer open
  // meets an environment this process opened read-only, for a read-only open
  // of a missing environment, or when a writer's lock.mdb or the pages in use
  // cannot be allocated;
  // CorruptionError for a damaged one; InvalidArgumentError for a writer open
  // whose options.file_mode is outside 0600..0777 (posix_file_system()).
  static std::shared_ptr<Env> open(const std::filesystem::path& dir,
                                   const EnvOptions& options);

  // Only the registry constructs environments.
  class Passkey {
    friend class Registry;
    Passkey() = default;
  };
  // Takes ownership of `env`, created but possibly not yet opened.
  Env(Passkey, MDB_env* env, std::string path, bool read_only, dev_t dev,
      ino_t ino);
  ~Env();
  Env(const Env&) = delete;
  Env& operator=(const Env&) = delete;

  MDB_env* get() const noexcept { return env_; }
  // The canonical directory path, for messages.
  const std::string& path() const noexcept { return path_; }
  bool read_only() const noexcept { return read_only_; }
  // The current map size in bytes. Waits while a resize runs. Throws
  // IOError.
  std::uint64_t map_size() const;
  // Bytes of the map in use as of the last commit. Waits while a resize
  // runs. Throws IOError.
  std::uint64_t used_size() const;

  // Grows the map by map_growth() (less when the disk has less room beyond
  // the log's 8 MiB) if it is still `seen_map_size`, else does nothing
  // (another thread grew it already). Waits until no transaction of this
  // process is active; new transactions of other threads wait for the
  // growth. Throws IOError when the disk has no room for 1 MiB more (the map
  // is then unchanged), and when the calling thread holds a transaction of
  // this environment (growth would wait for it forever).
  // `use_reserve`: the growth may take the 8 MiB too, for writes whose
  // records are in the log already (they cannot be refused).
  void grow(std::uint64_t seen_map_size, bool use_reserve = false);

  // As grow(), but only if no transaction of this process is active: never
  // waits. Returns false when it did not grow (transactions active, already
  // grown past `seen_map_size`, or no room). Throws IOError.
  bool try_grow(std::uint64_t seen_map_size);

  // Shrinks the map to `size` bytes (at least the pages in use) if it is
  // larger, giving back what growths allocated beyond: for a commit refused
  // for want of room, whose growths no one needs. Same locking as grow().
  // Throws IOError.
  void shrink(std::uint64_t size);

  // Adopts the map size another process grew the environment to
  // (MDB_MAP_RESIZED). Same locking as grow().
  void adopt_map_size();

  // The number of transactions of this environment the calling thread holds
  // (began and not yet ended).
  int transactions_held_by_this_thread() const {
    return resize_lock_.held_by_this_thread();
  }

  // Flushes the map to disk (mdb_env_sync with force). Throws IOError.
  void sync();

  // Called after each write transaction commits: wakes the prefaulter when
  // the used end nears the pages it has faulted in. Never throws.
  void note_write_commit() noexcept;
  // Bytes of the map the prefaulter has faulted in since the open (0 without
  // one).
  std::uint64_t prefaulted_bytes() const noexcept;

  // The handles of the named databases `names`, opened in one transaction (and
  // created in it if `create` and the environment is writable), cached for the
  // environment's life. A database that does not exist and is not created is
  // nullopt. REQUIRES: the calling thread holds no transaction. Throws IOError,
  // CorruptionError.
  std::vector<std::optional<MDB_dbi>> dbis(
      const std::vector<std::string>& names, bool create);

  ResizeLock& resize_lock() noexcept { return resize_lock_; }

  // A read transaction handle that was reset (mdb_txn_reset) and kept for
  // reuse, or nullptr if none is kept. The caller renews it (mdb_txn_renew)
  // and owns it. Renewing keeps the handle's reader slot, so a read skips
  // mdb_txn_begin's allocation and its search of the reader table under the
  // lock file's mutex.
  MDB_txn* take_reset_reader() noexcept;
  // Resets `txn`, an active read transaction of this environment, and keeps
  // it for take_reset_reader(), or aborts it when kMaxResetReaders are kept
  // already. Each kept handle holds a reader slot, at no snapshot (it holds
  // back no page reuse); the slots of a process that died keeping some are
  // reaped by a writer's open, or by a read that finds the reader table full
  // (Txn). The table's 1024 slots so hold up to 128 processes' full sets.
  void keep_reader(MDB_txn* txn) noexcept;
  // Whether this process is a child of fork() and the environment its
  // parent's: it then begins no transaction (Txn throws IOError) and ends
  // inherited ones without touching the shared lock file.
  bool inherited_across_fork() const noexcept;
  static constexpr std::size_t kMaxResetReaders = 8;

 private:
  MDB_env* env_;
  std::string path_;
  bool read_only_;
  // The process's fork generation at open (inherited_across_fork()).
  unsigned fork_generation_;
  // The opening process: only it closes the environment (~Env, which checks
  // the fork generation too: a child in a new pid namespace may have the same
  // pid; a child made without fork handlers has the same generation).
  pid_t opened_by_;
  dev_t dev_;
  ino_t ino_;
  friend class Registry;
  // mdb_env_info. REQUIRES: the resize lock held (shared or exclusively).
  MDB_envinfo info_unlocked() const;
  // The prefaulter's chunk lock, which a resize takes before it remaps (empty
  // without a prefaulter).
  std::unique_lock<std::mutex> pause_prefaulter();
  // At a writer's open with a write map: allocates the map (see open()).
  // Throws IOError.
  void allocate_at_open();
  // Grows the map from `current` by map_growth(), or by what the disk has
  // room for. REQUIRES: the resize lock held exclusively, the prefaulter
  // paused. Returns false, the map unchanged and `why` set, when the disk
  // has no room. Throws IOError.
  bool enlarge_map_unlocked(std::uint64_t current, bool use_reserve,
                            std::string& why);

  mutable ResizeLock resize_lock_;
  // Whether growths allocate what they add (a writer with a write map on a
  // file system that can allocate ahead). Written at open and under the
  // resize lock held exclusively.
  std::atomic<bool> allocates_map_{false};

  // Started by the registry for a writer with a write map; stopped first by
  // ~Env.
  std::unique_ptr<MapPrefaulter> prefaulter_;
  std::mutex dbi_mu_;
  std::map<std::string, MDB_dbi> dbi_cache_;  // Guarded by dbi_mu_.
  // The kept reset readers: a slot holds one or nullptr. Taken and filled by
  // atomic exchange, so a read takes no lock for them.
  std::array<std::atomic<MDB_txn*>, kMaxResetReaders> reset_readers_{};
};

// A transaction that aborts unless commit() was called. Holds the environment's
// resize lock shared until it ends (counted for the thread that began it).
// Read transactions use MDB_NOTLS: they may move between threads but not be
// used by two at once; keep them short, since they block map growth, and
// never hold one while waiting for a commit. A read transaction renews a
// handle the environment kept (Env::take_reset_reader) when there is one, and
// its end (abort) hands the handle back, reset; commit() frees it. In a child
// of fork(), a transaction of an environment inherited from the parent cannot
// begin (IOError), and one inherited ends without touching the lock file (its
// handle leaks).
//
// Not thread-safe. REQUIRES: the Env outlives the Txn.
class Txn {
 public:
  // Begins a transaction (read-only if `read_only`). A read transaction that
  // meets MDB_MAP_RESIZED adopts the new map size and retries. Throws IOError,
  // CorruptionError.
  Txn(Env& env, bool read_only);
  ~Txn() { abort(); }
  Txn(Txn&& other) noexcept;
  Txn& operator=(Txn&& other) noexcept;
  Txn(const Txn&) = delete;
  Txn& operator=(const Txn&) = delete;

  // Commits. The Txn is finished either way. Throws MapFullError, IOError.
  void commit();
  // Aborts if still active; idempotent.
  void abort() noexcept;
  bool active() const noexcept { return txn_ != nullptr; }

  MDB_txn* get() const noexcept { return txn_; }
  Env& env() const noexcept { return *env_; }

  // The value for `key`, or nullopt if absent. The view is valid until the next
  // write in this transaction or its end. Throws IOError, CorruptionError.
  std::optional<std::string_view> get(MDB_dbi dbi, std::string_view key) const;
  // Throws MapFullError (the transaction is then aborted), IOError.
  void put(MDB_dbi dbi, std::string_view key, std::string_view value);
  // Returns false if `key` was absent. Throws IOError.
  bool del(MDB_dbi dbi, std::string_view key);
  // Deletes every key of `dbi` (mdb_drop without deleting the database). Throws
  // IOError.
  void clear(MDB_dbi dbi);
  // The number of entries of `dbi` (mdb_stat). Throws IOError.
  std::uint64_t entries(MDB_dbi dbi) const;

 private:
  [[noreturn]] void fail(int rc, std::string_view what);

  Env* env_;
  MDB_txn* txn_ = nullptr;
  bool read_only_ = false;
  ResizeLock::Hold hold_;
};

// A cursor over one database of a transaction. The views it returns are valid
// until the next write in the transaction or its end.
//
// Not thread-safe. REQUIRES: destroyed before its transaction ends.
class Cursor {
 public:
  // Throws IOError.
  Cursor(const Txn& txn, MDB_dbi dbi);
  ~Cursor();
  Cursor(const Cursor&) = delete;
  Cursor& operator=(const Cursor&) = delete;

  // Positions the cursor (MDB_FIRST, MDB_LAST, MDB_NEXT, MDB_PREV, ...;
  // MDB_SET_RANGE seeks to the first key >= `key`). Returns false at the end
  // (MDB_NOTFOUND). Throws IOError, CorruptionError.
  bool move(MDB_cursor_op op, std::string_view key = {});
  std::string_view key() const noexcept;
  std::string_view value() const noexcept;

 private:
  const Txn& txn_;
  MDB_cursor* cursor_ = nullptr;
  MDB_val key_{0, nullptr};
  MDB_val value_{0, nullptr};
};

}  // namespace wfstore::lmdb
