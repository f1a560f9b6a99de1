// FaultFileSystem: a FileSystem over real files that counts calls, injects
// failures (failed, short and out-of-space writes, failed syncs and renames),
// and simulates a machine crash (power_cut) that keeps exactly what was made
// durable plus a random, out-of-order subset of the rest.
//
// Thread-safety: safe for concurrent use, like every FileSystem. Its handles
// follow file_system.h's contract: a WritableFile's sync() may run beside
// its append() or size() on another thread (its bookkeeping is under one
// lock, the base's fdatasync outside it); nothing else overlaps on a handle.

#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "wfstore/file_system.h"

namespace wfstore::testutil {

namespace fault_detail {
struct Shared;
}  // namespace fault_detail

// Counters of calls made through a FaultFileSystem, injected failures included.
struct FaultStats {
  std::uint64_t appends = 0;  // WritableFile::append and write_at calls
  std::uint64_t bytes_appended =
      0;  // bytes that reached the file (short writes count)
  std::uint64_t file_syncs = 0;  // WritableFile::sync calls (fdatasync)
  std::uint64_t dir_syncs = 0;   // FileSystem::sync_dir calls
  std::uint64_t truncates = 0;   // WritableFile::truncate calls
  std::uint64_t renames = 0;     // FileSystem::rename calls
  std::uint64_t removes = 0;     // FileSystem::remove calls
};

// Selects the files a fault applies to; an empty predicate selects every file.
using PathPredicate = std::function<bool(const std::filesystem::path&)>;

// A predicate selecting paths whose file name ends with `suffix` (e.g. ".log").
PathPredicate name_ends_with(std::string suffix);

class FaultFileSystem final : public FileSystem {
 public:
  // Page size of the power-cut model: unsynced data survives or is lost in
  // aligned pages of this many bytes.
  static constexpr std::uint64_t kPageSize = 4096;

  // Wraps `base`, which holds the real files (posix_file_system() by default).
  explicit FaultFileSystem(
      std::shared_ptr<FileSystem> base = posix_file_system());
  ~FaultFileSystem() override;
  FaultFileSystem(const FaultFileSystem&) = delete;
  FaultFileSystem& operator=(const FaultFileSystem&) = delete;

  FaultStats stats() const;
  void reset_stats();

  // Faults. `n` counts matching calls from now, 1 = the next one; each fault
  // fires once except enospc_after, which stays until clear_faults(). Setting a
  // fault again replaces it. An injected failure throws IOError naming the
  // operation and the file.

  // The n-th append writes nothing and throws ("Input/output error
  // (injected)").
  void fail_nth_write(std::uint64_t n, PathPredicate only = {});
  // The n-th append writes its first `keep` bytes (fewer if the data is
  // shorter), then throws ("short write (injected)").
  void short_write_nth(std::uint64_t n, std::size_t keep,
                       PathPredicate only = {});
  // After `bytes` more bytes, appends fail: the one that crosses the limit
  // writes up to it, then it and every later append throw ("No space left on
  // device (injected)").
  void enospc_after(std::uint64_t bytes, PathPredicate only = {});
  // The n-th WritableFile::sync throws; the data stays unsynced.
  void fail_nth_sync(std::uint64_t n, PathPredicate only = {});
  // The n-th sync_dir throws; the directory's pending creations and renames
  // stay pending. The predicate sees the directory's path.
  void fail_nth_sync_dir(std::uint64_t n, PathPredicate only = {});
  // The n-th rename throws and renames nothing. The predicate sees the target
  // path.
  void fail_nth_rename(std::uint64_t n, PathPredicate only = {});
  // Removes every pending fault.
  void clear_faults();

  // Off: sync() and sync_dir() update the crash model without calling the
  // base's fdatasync/fsync, which makes loops of power cuts fast (only
  // power_cut() can tell the difference). On by default.
  void set_real_syncs(bool on);
  // Off: its files say !supports_write_at(), as a file system that only
  // appends (the log writer then writes no zeros ahead). On by default.
  void set_positioned_writes(bool on);

  // Calls `hook(path)` before each WritableFile::sync, without holding any lock
  // of this object (the hook may block while other threads append). Empty to
  // remove.
  void set_sync_hook(std::function<void(const std::filesystem::path&)> hook);

  // Simulates a machine crash and reboot. For every file written through this
  // object: the bytes covered by its last successful sync() survive, except
  // that each page that write_at() overwrote since that sync keeps the new
  // bytes or gets back what it held at the sync; of the
  // unsynced aligned kPageSize pages after them, each survives or is lost
  // independently (so a later page may survive while an earlier one is lost);
  // lost bytes inside the surviving length read as zeros; the length is the end
  // of the last surviving page or the synced length, whichever is larger. In
  // every directory, the creations, renames and removals since its last
  // successful sync_dir() persist up to a random point of their order and the
  // rest are undone (a created file vanishes, a renamed file goes back, a
  // replaced or removed file comes back with its own durable content). The
  // random choices come from `seed`. Afterwards every handle opened before is
  // dead (each call but path() throws IOError; its locks are released) and
  // everything on disk counts as durable. Model limits: truncate() is durable
  // at once; creating directories is durable at once; a rename across
  // directories is a removal in one and a creation in the other. REQUIRES: no
  // thread is using a handle of this object.
  void power_cut(std::uint32_t seed);
  // Simulates a crash of the process only: every handle opened before is dead
  // and its locks are released, but all written data and names survive.
  void crash_process();

  std::unique_ptr<WritableFile> open_writable(
      const std::filesystem::path& path) override;
  std::unique_ptr<ReadableFile> open_readable(
      const std::filesystem::path& path) const override;
  std::string read_file(const std::filesystem::path& path) const override;
  void rename(const std::filesystem::path& from,
              const std::filesystem::path& to) override;
  void remove(const std::filesystem::path& path) override;
  void create_directories(const std::filesystem::path& path) override;
  void sync_dir(const std::filesystem::path& path) override;
  // As WritableFile::sync for the file at `path` (counted and failed by
  // fail_nth_sync alike): what was written to it so far is durable.
  void sync_file(const std::filesystem::path& path) override;
  bool exists(const std::filesystem::path& path) const override;
  std::vector<std::string> list_dir(
      const std::filesystem::path& dir) const override;
  std::unique_ptr<FileLock> try_lock(
      const std::filesystem::path& path) override;

 private:
  std::shared_ptr<fault_detail::Shared> shared_;
};

}  // namespace wfstore::testutil
