// The LMDB wrapper: error translation, the process-wide environment registry,
// map growth.

#include "projector/lmdb.h"

#include <algorithm>
#include <atomic>
#include <bit>
#include <cerrno>
#include <condition_variable>
#include <cstdint>
#include <cstring>
#include <map>
#include <system_error>
#include <tuple>
#include <utility>

#include <fcntl.h>
#include <fmt/format.h>
#include <pthread.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "wfstore/file_system.h"

#include "projector/map_prefault.h"
#include "wfstore_internal/raise_to.h"

namespace wfstore::lmdb {
namespace {

MDB_val to_val(std::string_view s) noexcept {
  return MDB_val{s.size(), const_cast<char*>(s.data())};
}

std::string_view from_val(const MDB_val& v) noexcept {
  return {static_cast<const char*>(v.mv_data), v.mv_size};
}

[[noreturn]] void throw_error(int rc, std::string_view what,
                              const std::string& path) {
  std::string message = fmt::format("{}: {}: {}", path, what, mdb_strerror(rc));
  switch (rc) {
    case MDB_CORRUPTED:
    case MDB_PAGE_NOTFOUND:
    case MDB_INVALID:
      throw CorruptionError(message);
    case MDB_MAP_FULL:
      throw MapFullError(message);
    default:
      throw IOError(message);
  }
}

constexpr std::uint64_t kMiB = std::uint64_t{1} << 20;
constexpr std::uint64_t kMaxMapGrowth = std::uint64_t{256} << 20;
// What a growth leaves free on the disk, for the log and the store's other
// files: a commit refused by the views then still has room in the log.
constexpr std::uint64_t kDiskReserve = std::uint64_t{8} << 20;
// LMDB's lock file: a 192-byte header, then 64 bytes per reader slot beyond
// the first (MDB_txninfo and MDB_reader; LmdbTest checks LMDB agrees).
constexpr std::uint64_t kLockHeaderBytes = 192;
constexpr std::uint64_t kLockReaderBytes = 64;

// Allocates the blocks of [offset, offset + length) of `fd` (fallocate mode
// 0: the file's size is unchanged inside it). Returns 0 or the errno.
int allocate(int fd, std::uint64_t offset, std::uint64_t length) {
  if (length == 0) return 0;
  for (;;) {
    if (::fallocate(fd, 0, static_cast<off_t>(offset),
                    static_cast<off_t>(length)) == 0) {
      return 0;
    }
    if (errno != EINTR) return errno;
  }
}

bool no_room(int err) { return err == ENOSPC || err == EDQUOT; }

// Bytes an unprivileged write may still take on the file system of `fd`
// (f_bavail). Throws IOError.
std::uint64_t free_bytes(int fd, const std::string& path) {
  struct statvfs st {};
  if (::fstatvfs(fd, &st) != 0) {
    throw IOError(fmt::format("{}: fstatvfs: {}", path,
                              std::generic_category().message(errno)));
  }
  return static_cast<std::uint64_t>(st.f_bavail) * st.f_frsize;
}

// Makes lock.mdb in `dir` at least as long as LMDB's lock file for
// `max_readers` with every block allocated (creating it with `mode` if
// missing), before mdb_env_open: LMDB writes its header and each reader's
// slot through a shared mapping, where a page without a block raises SIGBUS
// on a full disk. No descriptor of it is open in this process yet, so
// closing this one drops no lock. Throws IOError when the disk has no room.
void allocate_lock_file(const std::string& dir, unsigned max_readers,
                        unsigned mode) {
  const std::string path = dir + "/lock.mdb";
  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC,
                        static_cast<mode_t>(mode));
  if (fd < 0) return;  // mdb_env_open reports it
  struct stat st {};
  int err = 0;
  if (::fstat(fd, &st) == 0) {
    const std::uint64_t want =
        kLockHeaderBytes +
        std::uint64_t{max_readers > 0 ? max_readers - 1 : 0} * kLockReaderBytes;
    err =
        allocate(fd, 0, std::max(want, static_cast<std::uint64_t>(st.st_size)));
  }
  ::close(fd);
  if (no_room(err)) {
    throw IOError(fmt::format("{}: no room on the disk for lock.mdb: {}", dir,
                              std::generic_category().message(err)));
  }
}

// The file system cannot allocate ahead (ZFS, some network and FUSE file
// systems): the map is used as before, without the guarantee.
bool cannot_allocate_ahead(int err) {
  return err == EOPNOTSUPP || err == ENOSYS;
}

}  // namespace

std::uint64_t map_growth(std::uint64_t size) noexcept {
  return std::max(kMiB, std::min(size, kMaxMapGrowth));
}

void check(int rc, std::string_view what, const std::string& path) {
  if (rc != MDB_SUCCESS) throw_error(rc, what, path);
}

unsigned writer_flags() {
  return MDB_NOTLS | MDB_NOSYNC | MDB_WRITEMAP | MDB_NOMETASYNC;
}

namespace {

std::atomic<int> live_envs{0};
std::atomic<int> peak_live_envs{0};
std::atomic<int> waiting_opens{0};
std::mutex close_hook_mu;
std::function<void()> close_hook;  // Guarded by close_hook_mu.

void count_env_opened() {
  raise_to(peak_live_envs, live_envs.fetch_add(1) + 1);
}

// Counts the fork()s this process came out of as the child. LMDB forbids
// using an environment across fork(): its reader slots (in the shared lock
// file) carry the opener's pid, so a child's reads would share or free the
// parent's. An environment inherited across a fork begins no transaction in
// the child, and ends the ones it inherited without touching the lock file.
std::atomic<unsigned> fork_generation{0};

void count_fork_in_child() noexcept {
  fork_generation.fetch_add(1, std::memory_order_relaxed);
}

// Registers count_fork_in_child once per process. Throws IOError naming
// `path` if it cannot (pthread_atfork fails only without memory).
void count_forks(const std::string& path) {
  static const int kRegistered =
      ::pthread_atfork(nullptr, nullptr, count_fork_in_child);
  if (kRegistered != 0) {
    throw IOError(fmt::format(
        "{}: pthread_atfork: {}", path,
        std::error_code(kRegistered, std::generic_category()).message()));
  }
}

unsigned current_fork_generation() {
  return fork_generation.load(std::memory_order_relaxed);
}

}  // namespace

void set_env_close_hook_for_testing(std::function<void()> hook) {
  std::scoped_lock lock(close_hook_mu);
  close_hook = std::move(hook);
}

int compare_keys(const MDB_val* a, const MDB_val* b) noexcept {
  const auto* x = static_cast<const unsigned char*>(a->mv_data);
  const auto* y = static_cast<const unsigned char*>(b->mv_data);
  const std::size_t common = std::min(a->mv_size, b->mv_size);
  std::size_t i = 0;
  for (; i + 8 <= common; i += 8) {
    std::uint64_t u = 0;
    std::uint64_t v = 0;
    std::memcpy(&u, x + i, 8);
    std::memcpy(&v, y + i, 8);
    if (u != v) {
      if constexpr (std::endian::native == std::endian::little) {
        u = __builtin_bswap64(u);
        v = __builtin_bswap64(v);
      }
      return u < v ? -1 : 1;
    }
  }
  for (; i < common; ++i) {
    if (x[i] != y[i]) return x[i] < y[i] ? -1 : 1;
  }
  return a->mv_size < b->mv_size ? -1 : (a->mv_size > b->mv_size ? 1 : 0);
}

int waiting_opens_for_testing() { return waiting_opens.load(); }

int live_envs_for_testing() { return live_envs.load(); }
int peak_live_envs_for_testing() { return peak_live_envs.load(); }
void reset_peak_live_envs_for_testing() {
  peak_live_envs.store(live_envs.load());
}

// The process-wide registry: one MDB_env per directory per process, keyed by
// the directory's device and inode. An entry stays until its environment is
// closed: the weak_ptr expires when the last user lets go, before the deleter
// has closed the MDB_env, and an open that meets such an entry waits for the
// deleter to finish (it erases the entry and notifies), so the process never
// has two MDB_env handles of one environment at once. Entries inherited
// through fork() belong to the parent (their pid differs) and are ignored,
// never closed.
class Registry {
 public:
  static Registry& instance() {
    static Registry* registry = new Registry();  // never destroyed: deleters
                                                 // may run at exit
    return *registry;
  }

  std::shared_ptr<Env> open(const std::filesystem::path& dir,
                            const EnvOptions& options) {
    std::error_code ec;
    if (!options.read_only) {
      posix_file_system(options.file_mode)->create_directories(dir);
    }
    const std::filesystem::path canonical = std::filesystem::canonical(dir, ec);
    if (ec)
      throw IOError(
          fmt::format("{}: open views: {}", dir.string(), ec.message()));
    struct stat st {};
    if (::stat(canonical.c_str(), &st) != 0) {
      throw IOError(fmt::format("{}: stat: {}", canonical.string(),
                                std::generic_category().message(errno)));
    }
    if (!S_ISDIR(st.st_mode)) {
      throw IOError(
          fmt::format("{}: open views: not a directory", canonical.string()));
    }
    const Key key{st.st_dev, st.st_ino};
    const pid_t pid = ::getpid();

    std::unique_lock lock(mu_);
    for (;;) {
      auto it = entries_.find(key);
      if (it == entries_.end() || it->second.pid != pid) break;
      if (std::shared_ptr<Env> env = it->second.env.lock()) {
        if (env->read_only() && !options.read_only) {
          // `env` may become the last reference: drop it unlocked, since its
          // deleter takes mu_.
          lock.unlock();
          env.reset();
          throw IOError(
              fmt::format("{}: open views for writing: this process has them "
                          "open read-only; close those first",
                          canonical.string()));
        }
        return env;
      }
      // The last user let go and the deleter is closing it: wait.
      waiting_opens.fetch_add(1);
      closed_.wait(lock);
      waiting_opens.fetch_sub(1);
    }
    std::shared_ptr<Env> env = create(canonical.string(), key, options);
    entries_[key] = Entry{env, env.get(), pid};
    return env;
  }

 private:
  using Key = std::pair<dev_t, ino_t>;
  struct Entry {
    std::weak_ptr<Env> env;
    const Env* raw;
    pid_t pid;
  };

  // Opens a new environment. REQUIRES: mu_ held and no entry of this process
  // for `key`.
  std::shared_ptr<Env> create(const std::string& path, const Key& key,
                              const EnvOptions& options) {
    count_forks(path);
    MDB_env* raw = nullptr;
    check(mdb_env_create(&raw), "mdb_env_create", path);
    auto env = std::make_unique<Env>(Env::Passkey{}, raw, path,
                                     options.read_only, key.first, key.second);
    check(mdb_env_set_maxreaders(raw, options.max_readers),
          "mdb_env_set_maxreaders", path);
    check(mdb_env_set_maxdbs(raw, options.max_dbs), "mdb_env_set_maxdbs", path);
    unsigned flags = MDB_NOTLS | MDB_RDONLY;
    if (!options.read_only && options.write_map) {
      allocate_lock_file(path, options.max_readers, options.file_mode);
    }
    if (!options.read_only) {
      check(mdb_env_set_mapsize(raw, options.map_size), "mdb_env_set_mapsize",
            path);
      flags = writer_flags();
      if (!options.write_map) flags &= ~static_cast<unsigned>(MDB_WRITEMAP);
    }
    check(mdb_env_open(raw, path.c_str(), flags,
                       static_cast<mdb_mode_t>(options.file_mode)),
          "mdb_env_open", path);
    if (!options.read_only) {
      int dead = 0;
      check(mdb_reader_check(raw, &dead), "mdb_reader_check", path);
      if (options.write_map) env->allocate_at_open();
      if (options.write_map && options.prefault_bytes > 0) {
        try {
          env->prefaulter_ =
              std::make_unique<MapPrefaulter>(raw, options.prefault_bytes);
        } catch (const std::system_error&) {
          // No thread to be had: the environment works without one.
        }
      }
    }
    return std::shared_ptr<Env>(env.release(), [this](Env* e) { release(e); });
  }

  // The deleter: closes the environment, then erases its entry and wakes the
  // opens waiting for it.
  void release(Env* e) {
    const Key key{e->dev_, e->ino_};
    const pid_t pid = ::getpid();
    std::function<void()> hook;
    {
      std::scoped_lock hook_lock(close_hook_mu);
      hook = close_hook;
    }
    if (hook) hook();
    delete e;
    std::scoped_lock lock(mu_);
    auto it = entries_.find(key);
    if (it != entries_.end() && it->second.raw == e && it->second.pid == pid) {
      entries_.erase(it);
    }
    closed_.notify_all();
  }

  std::mutex mu_;
  std::condition_variable closed_;
  std::map<Key, Entry> entries_;  // Guarded by mu_.
};

std::optional<std::map<std::string, std::string>> read_database_unlocked(
    const std::filesystem::path& dir, const std::string& name) {
  const std::string path = dir.string();
  MDB_env* raw = nullptr;
  check(mdb_env_create(&raw), "mdb_env_create", path);
  const std::unique_ptr<MDB_env, void (*)(MDB_env*)> env(raw, mdb_env_close);
  check(mdb_env_set_maxdbs(raw, 64), "mdb_env_set_maxdbs", path);
  check(mdb_env_open(raw, path.c_str(), MDB_RDONLY | MDB_NOLOCK | MDB_NOTLS, 0),
        "mdb_env_open", path);
  MDB_txn* txn = nullptr;
  check(mdb_txn_begin(raw, nullptr, MDB_RDONLY, &txn), "mdb_txn_begin", path);
  const std::unique_ptr<MDB_txn, void (*)(MDB_txn*)> txn_guard(txn,
                                                               mdb_txn_abort);
  MDB_dbi dbi = 0;
  const int rc = mdb_dbi_open(txn, name.c_str(), 0, &dbi);
  if (rc == MDB_NOTFOUND) return std::nullopt;
  check(rc, "mdb_dbi_open " + name, path);
  check(mdb_set_compare(txn, dbi, compare_keys), "mdb_set_compare " + name,
        path);
  MDB_cursor* cursor = nullptr;
  check(mdb_cursor_open(txn, dbi, &cursor), "mdb_cursor_open", path);
  const std::unique_ptr<MDB_cursor, void (*)(MDB_cursor*)> cursor_guard(
      cursor, mdb_cursor_close);
  std::map<std::string, std::string> out;
  MDB_val key{0, nullptr};
  MDB_val value{0, nullptr};
  for (int op = MDB_FIRST;; op = MDB_NEXT) {
    const int got =
        mdb_cursor_get(cursor, &key, &value, static_cast<MDB_cursor_op>(op));
    if (got == MDB_NOTFOUND) break;
    check(got, "mdb_cursor_get", path);
    out.emplace(std::string(from_val(key)), std::string(from_val(value)));
  }
  return out;
}

std::shared_ptr<Env> Env::open(const std::filesystem::path& dir,
                               const EnvOptions& options) {
  return Registry::instance().open(dir, options);
}

Env::Env(Passkey, MDB_env* env, std::string path, bool read_only, dev_t dev,
         ino_t ino)
    : env_(env),
      path_(std::move(path)),
      read_only_(read_only),
      fork_generation_(current_fork_generation()),
      opened_by_(getpid()),
      dev_(dev),
      ino_(ino) {
  count_env_opened();
}

Env::~Env() {
  // A child must not close its parent's environment, nor free the kept
  // readers: either would release the parent's reader slots. Neither check
  // tells every child alone: the fork generation misses one made without fork
  // handlers (_Fork(), a raw clone), the pid one forked into a new pid
  // namespace that numbers it as its parent was numbered.
  if (!inherited_across_fork() && getpid() == opened_by_) {
    prefaulter_.reset();  // its thread reads the map
    for (std::atomic<MDB_txn*>& slot : reset_readers_) {
      if (MDB_txn* txn = slot.exchange(nullptr)) mdb_txn_abort(txn);
    }
    mdb_env_close(env_);
  } else {
    // The prefaulter's thread is the parent's: a child has none to join.
    (void)prefaulter_.release();
  }
  live_envs.fetch_sub(1);
}

void Env::note_write_commit() noexcept {
  if (prefaulter_ != nullptr) prefaulter_->note_write_commit();
}

std::uint64_t Env::prefaulted_bytes() const noexcept {
  return prefaulter_ != nullptr ? prefaulter_->prefaulted_bytes() : 0;
}

bool Env::inherited_across_fork() const noexcept {
  return fork_generation.load(std::memory_order_relaxed) != fork_generation_;
}

MDB_txn* Env::take_reset_reader() noexcept {
  for (std::atomic<MDB_txn*>& slot : reset_readers_) {
    if (slot.load(std::memory_order_relaxed) == nullptr) continue;
    if (MDB_txn* txn = slot.exchange(nullptr, std::memory_order_acquire)) {
      return txn;
    }
  }
  return nullptr;
}

void Env::keep_reader(MDB_txn* txn) noexcept {
  mdb_txn_reset(txn);
  for (std::atomic<MDB_txn*>& slot : reset_readers_) {
    MDB_txn* empty = nullptr;
    if (slot.load(std::memory_order_relaxed) == nullptr &&
        slot.compare_exchange_strong(empty, txn, std::memory_order_release,
                                     std::memory_order_relaxed)) {
      return;
    }
  }
  mdb_txn_abort(txn);
}

MDB_envinfo Env::info_unlocked() const {
  MDB_envinfo info{};
  check(mdb_env_info(env_, &info), "mdb_env_info", path_);
  return info;
}

std::uint64_t Env::map_size() const {
  // mdb_env_info reads the meta pages, which a resize unmaps.
  const ResizeLock::Hold hold = resize_lock_.lock_shared();
  return info_unlocked().me_mapsize;
}

std::uint64_t Env::used_size() const {
  const ResizeLock::Hold hold = resize_lock_.lock_shared();
  const MDB_envinfo info = info_unlocked();
  MDB_stat stat{};
  check(mdb_env_stat(env_, &stat), "mdb_env_stat", path_);
  return (std::uint64_t{info.me_last_pgno} + 1) * stat.ms_psize;
}

void ResizeLock::Hold::release() noexcept {
  if (lock_ != nullptr) std::exchange(lock_, nullptr)->unlock_shared(owner_);
}

std::size_t ResizeLock::find_holder(std::thread::id thread) const {
  std::size_t i = 0;
  while (i < holders_.size() && holders_[i].first != thread) ++i;
  return i;
}

ResizeLock::Hold ResizeLock::lock_shared() {
  const std::thread::id self = std::this_thread::get_id();
  std::unique_lock lock(mu_);
  std::size_t i = find_holder(self);
  if (i == holders_.size()) {
    cv_.wait(lock, [&] { return !exclusive_ && resizes_waiting_ == 0; });
    i = holders_.size();
    holders_.emplace_back(self, 0);
  }
  ++holders_[i].second;
  ++shared_;
  return Hold(this, self);
}

void ResizeLock::unlock_shared(std::thread::id owner) noexcept {
  std::scoped_lock lock(mu_);
  const std::size_t i = find_holder(owner);
  if (i < holders_.size() && --holders_[i].second == 0) {
    // Order does not matter: move the last entry into the freed one.
    holders_[i] = holders_.back();
    holders_.pop_back();
  }
  // Only a resize waits for the last shared hold to go.
  if (--shared_ == 0 && resizes_waiting_ != 0) cv_.notify_all();
}

void ResizeLock::lock(const std::string& path) {
  std::unique_lock lock(mu_);
  if (find_holder(std::this_thread::get_id()) < holders_.size()) {
    throw IOError(fmt::format(
        "{}: cannot grow the map: this thread holds a transaction of the "
        "views, which the growth would wait for forever",
        path));
  }
  ++resizes_waiting_;
  cv_.wait(lock, [&] { return shared_ == 0 && !exclusive_; });
  --resizes_waiting_;
  exclusive_ = true;
}

bool ResizeLock::try_lock() {
  std::scoped_lock lock(mu_);
  if (shared_ != 0 || exclusive_) return false;
  exclusive_ = true;
  return true;
}

void ResizeLock::unlock() noexcept {
  {
    std::scoped_lock lock(mu_);
    exclusive_ = false;
  }
  cv_.notify_all();
}

int ResizeLock::held_by_this_thread() const {
  std::scoped_lock lock(mu_);
  const std::size_t i = find_holder(std::this_thread::get_id());
  return i < holders_.size() ? holders_[i].second : 0;
}

int ResizeLock::resizes_waiting() const {
  std::scoped_lock lock(mu_);
  return resizes_waiting_;
}

namespace {

// Unlocks a ResizeLock taken exclusively.
struct ExclusiveGuard {
  ResizeLock& lock;
  ~ExclusiveGuard() { lock.unlock(); }
};

}  // namespace

std::unique_lock<std::mutex> Env::pause_prefaulter() {
  return prefaulter_ != nullptr ? prefaulter_->pause()
                                : std::unique_lock<std::mutex>();
}

void Env::allocate_at_open() {
  int fd = -1;
  check(mdb_env_get_fd(env_, &fd), "mdb_env_get_fd", path_);
  const MDB_envinfo info = info_unlocked();
  MDB_stat stat{};
  check(mdb_env_stat(env_, &stat), "mdb_env_stat", path_);
  const std::uint64_t used =
      (std::uint64_t{info.me_last_pgno} + 1) * stat.ms_psize;
  // What the whole map still needs, against what the disk has beyond its
  // reserve; the pages in use have their blocks already.
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    throw IOError(fmt::format("{}: fstat data.mdb: {}", path_,
                              std::generic_category().message(errno)));
  }
  // The pages in use first (they have their blocks: this costs nothing),
  // which also tells whether the file system can allocate ahead.
  int err = allocate(fd, 0, used);
  if (cannot_allocate_ahead(err)) return;
  const std::uint64_t have = static_cast<std::uint64_t>(st.st_blocks) * 512;
  const std::uint64_t need =
      info.me_mapsize > have ? info.me_mapsize - have : 0;
  if (err == 0) {
    if (need > 0 && need + kDiskReserve > free_bytes(fd, path_)) {
      err = ENOSPC;
    } else {
      err = allocate(fd, 0, info.me_mapsize);
    }
    if (no_room(err)) {
      // No room for the whole map: it shrinks to the pages in use (LMDB
      // truncates data.mdb to its map, which frees what was allocated
      // beyond), and each growth then needs room.
      check(mdb_env_set_mapsize(env_, used), "mdb_env_set_mapsize", path_);
      err = 0;
    }
  }
  if (err != 0) {
    throw IOError(fmt::format("{}: allocating data.mdb's blocks: {}", path_,
                              std::generic_category().message(err)));
  }
  allocates_map_.store(true);
}

bool Env::enlarge_map_unlocked(std::uint64_t current, bool use_reserve,
                               std::string& why) {
  int fd = -1;
  check(mdb_env_get_fd(env_, &fd), "mdb_env_get_fd", path_);
  std::uint64_t step = map_growth(current);
  if (allocates_map_.load()) {
    const std::uint64_t free = free_bytes(fd, path_);
    const std::uint64_t reserve = use_reserve ? 0 : kDiskReserve;
    const std::uint64_t room = free > reserve ? free - reserve : 0;
    // Whole MiB, or for writes that cannot be refused whatever pages are
    // left (their growth is a commit's last pages).
    const std::uint64_t unit = use_reserve ? kLockReaderBytes * 64 : kMiB;
    step = std::min(step, room / unit * unit);
    if (step == 0) {
      why = fmt::format(
          "{} bytes free on the disk, of which {} are kept for "
          "the log",
          free, reserve);
      return false;
    }
  }
  const std::uint64_t next = current + step;
  check(mdb_env_set_mapsize(env_, next), "mdb_env_set_mapsize", path_);
  if (!allocates_map_.load()) return true;
  const int err = allocate(fd, current, step);
  if (err == 0) return true;
  if (cannot_allocate_ahead(err)) {
    allocates_map_.store(false);
    return true;
  }
  // Back to the size it had: LMDB truncates data.mdb to its map, which frees
  // whatever this growth allocated.
  check(mdb_env_set_mapsize(env_, current), "mdb_env_set_mapsize", path_);
  if (!no_room(err)) {
    throw IOError(fmt::format("{}: allocating data.mdb from {} to {} bytes: {}",
                              path_, current, next,
                              std::generic_category().message(err)));
  }
  why = fmt::format("{} bytes more: {}", step,
                    std::generic_category().message(err));
  return false;
}

void Env::grow(std::uint64_t seen_map_size, bool use_reserve) {
  resize_lock_.lock(path_);
  const ExclusiveGuard guard{resize_lock_};
  const std::uint64_t current = info_unlocked().me_mapsize;
  if (current != seen_map_size) return;
  const std::unique_lock<std::mutex> paused = pause_prefaulter();
  std::string why;
  if (!enlarge_map_unlocked(current, use_reserve, why)) {
    throw IOError(fmt::format(
        "{}: no room on the disk to grow the views' map past {} bytes ({})",
        path_, current, why));
  }
}

bool Env::try_grow(std::uint64_t seen_map_size) {
  if (!resize_lock_.try_lock()) return false;
  const ExclusiveGuard guard{resize_lock_};
  const std::uint64_t current = info_unlocked().me_mapsize;
  if (current != seen_map_size) return false;
  const std::unique_lock<std::mutex> paused = pause_prefaulter();
  std::string why;
  return enlarge_map_unlocked(current, /*use_reserve=*/false, why);
}

void Env::shrink(std::uint64_t size) {
  resize_lock_.lock(path_);
  const ExclusiveGuard guard{resize_lock_};
  if (size >= info_unlocked().me_mapsize) return;
  const std::unique_lock<std::mutex> paused = pause_prefaulter();
  // LMDB keeps the map at least as long as the pages in use.
  check(mdb_env_set_mapsize(env_, size), "mdb_env_set_mapsize", path_);
}

void Env::adopt_map_size() {
  resize_lock_.lock(path_);
  const ExclusiveGuard guard{resize_lock_};
  const std::unique_lock<std::mutex> paused = pause_prefaulter();
  check(mdb_env_set_mapsize(env_, 0), "mdb_env_set_mapsize", path_);
}

void Env::sync() {
  if (read_only_) return;
  check(mdb_env_sync(env_, 1), "mdb_env_sync", path_);
}

std::vector<std::optional<MDB_dbi>> Env::dbis(
    const std::vector<std::string>& names, bool create) {
  std::scoped_lock lock(dbi_mu_);
  std::vector<std::optional<MDB_dbi>> handles(names.size());
  bool all_cached = true;
  for (std::size_t i = 0; i < names.size(); ++i) {
    auto it = dbi_cache_.find(names[i]);
    if (it != dbi_cache_.end()) {
      handles[i] = it->second;
    } else {
      all_cached = false;
    }
  }
  if (all_cached) return handles;
  const bool write = create && !read_only_;
  for (;;) {
    const std::uint64_t seen_map = write ? map_size() : 0;
    try {
      Txn txn(*this, !write);
      for (std::size_t i = 0; i < names.size(); ++i) {
        if (handles[i]) continue;
        MDB_dbi dbi = 0;
        const int rc = mdb_dbi_open(txn.get(), names[i].c_str(),
                                    write ? MDB_CREATE : 0, &dbi);
        if (rc == MDB_NOTFOUND) continue;
        check(rc, "mdb_dbi_open " + names[i], path_);
        check(mdb_set_compare(txn.get(), dbi, compare_keys),
              "mdb_set_compare " + names[i], path_);
        handles[i] = dbi;
      }
      // Committing (also a read transaction) keeps the handles open for the
      // environment.
      txn.commit();
      break;
    } catch (const MapFullError&) {
      // Creating the tables needs pages the map has no room for (the Txn
      // is aborted, and with it the handles it opened).
      std::fill(handles.begin(), handles.end(), std::nullopt);
      for (std::size_t i = 0; i < names.size(); ++i) {
        auto it = dbi_cache_.find(names[i]);
        if (it != dbi_cache_.end()) handles[i] = it->second;
      }
      grow(seen_map);
    }
  }
  for (std::size_t i = 0; i < names.size(); ++i) {
    if (handles[i]) dbi_cache_[names[i]] = *handles[i];
  }
  return handles;
}

Txn::Txn(Env& env, bool read_only) : env_(&env), read_only_(read_only) {
  if (env.inherited_across_fork()) {
    throw IOError(fmt::format(
        "{}: the views' environment was inherited across fork(); open the "
        "store again in the child process",
        env.path()));
  }
  bool reaped = false;
  for (;;) {
    hold_ = env.resize_lock().lock_shared();
    if (read_only) {
      if (MDB_txn* kept = env.take_reset_reader(); kept != nullptr) {
        if (mdb_txn_renew(kept) == MDB_SUCCESS) {
          txn_ = kept;
          return;
        }
        // Whatever failed (a map another process grew, a panic), a fresh
        // begin meets it again and handles it.
        mdb_txn_abort(kept);
      }
    }
    const int rc =
        mdb_txn_begin(env.get(), nullptr, read_only ? MDB_RDONLY : 0, &txn_);
    if (rc == MDB_READERS_FULL && !reaped) {
      // Slots of processes that died without closing the environment (each
      // kept up to Env::kMaxResetReaders): free them and try once more.
      reaped = true;
      int dead = 0;
      if (mdb_reader_check(env.get(), &dead) == MDB_SUCCESS && dead > 0) {
        txn_ = nullptr;
        hold_.release();
        continue;
      }
    }
    if (rc == MDB_MAP_RESIZED) {
      // Another process grew the map: adopt its size (needs no transaction
      // active here; throws IOError if this thread holds another one).
      txn_ = nullptr;
      hold_.release();
      env.adopt_map_size();
      continue;
    }
    if (rc != MDB_SUCCESS) {
      txn_ = nullptr;
      hold_.release();
      throw_error(rc, "mdb_txn_begin", env.path());
    }
    return;
  }
}

Txn::Txn(Txn&& other) noexcept
    : env_(other.env_),
      txn_(std::exchange(other.txn_, nullptr)),
      read_only_(other.read_only_),
      hold_(std::move(other.hold_)) {}

Txn& Txn::operator=(Txn&& other) noexcept {
  if (this != &other) {
    abort();
    env_ = other.env_;
    txn_ = std::exchange(other.txn_, nullptr);
    read_only_ = other.read_only_;
    hold_ = std::move(other.hold_);
  }
  return *this;
}

void Txn::commit() {
  // LMDB frees the handle even when the commit fails.
  MDB_txn* txn = std::exchange(txn_, nullptr);
  if (env_->inherited_across_fork()) {
    // Begun before the fork: the parent's to end (its slot, its writer lock).
    hold_.release();
    throw IOError(fmt::format(
        "{}: a transaction inherited across fork() cannot commit in the child",
        env_->path()));
  }
  const int rc = mdb_txn_commit(txn);
  // Before the hold goes: it reads the meta pages, which a resize unmaps.
  if (rc == MDB_SUCCESS && !read_only_) env_->note_write_commit();
  hold_.release();
  check(rc, "mdb_txn_commit", env_->path());
}

void Txn::abort() noexcept {
  if (txn_ != nullptr) {
    MDB_txn* txn = std::exchange(txn_, nullptr);
    if (env_->inherited_across_fork()) {
      // Begun before the fork: ending it here would free the parent's reader
      // slot or writer lock. The handle's memory is the child's to leak.
    } else if (read_only_) {
      env_->keep_reader(txn);
    } else {
      mdb_txn_abort(txn);
    }
  }
  hold_.release();
}

void Txn::fail(int rc, std::string_view what) {
  // After a failed write LMDB allows nothing but abort on the transaction.
  abort();
  throw_error(rc, what, env_->path());
}

std::optional<std::string_view> Txn::get(MDB_dbi dbi,
                                         std::string_view key) const {
  MDB_val k = to_val(key);
  MDB_val v{0, nullptr};
  const int rc = mdb_get(txn_, dbi, &k, &v);
  if (rc == MDB_NOTFOUND) return std::nullopt;
  check(rc, "mdb_get", env_->path());
  return from_val(v);
}

void Txn::put(MDB_dbi dbi, std::string_view key, std::string_view value) {
  MDB_val k = to_val(key);
  MDB_val v = to_val(value);
  const int rc = mdb_put(txn_, dbi, &k, &v, 0);
  if (rc != MDB_SUCCESS) fail(rc, "mdb_put");
}

bool Txn::del(MDB_dbi dbi, std::string_view key) {
  MDB_val k = to_val(key);
  const int rc = mdb_del(txn_, dbi, &k, nullptr);
  if (rc == MDB_NOTFOUND) return false;
  if (rc != MDB_SUCCESS) fail(rc, "mdb_del");
  return true;
}

void Txn::clear(MDB_dbi dbi) {
  const int rc = mdb_drop(txn_, dbi, 0);
  if (rc != MDB_SUCCESS) fail(rc, "mdb_drop");
}

std::uint64_t Txn::entries(MDB_dbi dbi) const {
  MDB_stat stat{};
  check(mdb_stat(txn_, dbi, &stat), "mdb_stat", env_->path());
  return stat.ms_entries;
}

Cursor::Cursor(const Txn& txn, MDB_dbi dbi) : txn_(txn) {
  check(mdb_cursor_open(txn.get(), dbi, &cursor_), "mdb_cursor_open",
        txn.env().path());
}

Cursor::~Cursor() {
  if (cursor_ != nullptr) mdb_cursor_close(cursor_);
}

bool Cursor::move(MDB_cursor_op op, std::string_view key) {
  if (op == MDB_SET_RANGE || op == MDB_SET || op == MDB_SET_KEY)
    key_ = to_val(key);
  const int rc = mdb_cursor_get(cursor_, &key_, &value_, op);
  if (rc == MDB_NOTFOUND) return false;
  check(rc, "mdb_cursor_get", txn_.env().path());
  return true;
}

std::string_view Cursor::key() const noexcept { return from_val(key_); }

std::string_view Cursor::value() const noexcept { return from_val(value_); }

}  // namespace wfstore::lmdb
