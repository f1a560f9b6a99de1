// MapPrefaulter (map_prefault.h).

#include "projector/map_prefault.h"

#include <algorithm>
#include <cstdint>
#include <cstdio>  // sscanf
#include <fstream>
#include <sstream>
#include <string>

#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23  // Linux 5.14; older kernels answer EINVAL
#endif

namespace wfstore::lmdb {
namespace {

constexpr std::uint64_t kChunkBytes = std::uint64_t{1} << 20;

// Reads one byte of each page of [at, at + bytes): a page LMDB may begin to
// write meanwhile is read, never written, and the byte is discarded, so the
// race is with no value anyone uses (hidden from ThreadSanitizer for that).
__attribute__((no_sanitize("thread"))) void touch_pages(
    const char* at, std::uint64_t bytes, std::uint64_t page_size) {
  for (std::uint64_t off = 0; off < bytes; off += page_size) {
    (void)*static_cast<const volatile char*>(at + off);
  }
}

// The address of the shared writable mapping of the file open as `fd` that
// starts at its offset 0 and is `length` bytes long (LMDB's map), or nullptr.
// Matched by inode and name: on overlayfs or btrfs the device /proc/self/maps
// shows is not fstat's.
void* find_map(int fd, std::uint64_t length) {
  struct stat st {};
  if (::fstat(fd, &st) != 0) return nullptr;
  std::ifstream maps("/proc/self/maps");
  std::string line;
  while (std::getline(maps, line)) {
    // start-end perms offset major:minor inode path
    std::istringstream fields(line);
    std::string range, perms, offset, device, path;
    unsigned long long inode = 0;
    if (!(fields >> range >> perms >> offset >> device >> inode >> path)) {
      continue;
    }
    const std::size_t dash = range.find('-');
    if (inode != st.st_ino || perms.size() < 4 || perms[1] != 'w' ||
        perms[3] != 's' || std::stoull(offset, nullptr, 16) != 0 ||
        !path.ends_with("/data.mdb") || dash == std::string::npos) {
      continue;
    }
    const std::uint64_t start = std::stoull(range.substr(0, dash), nullptr, 16);
    const std::uint64_t end = std::stoull(range.substr(dash + 1), nullptr, 16);
    if (end - start != length) continue;
    // The kernel names the map's address only as a number.
    return reinterpret_cast<void*>(  // NOLINT(performance-no-int-to-ptr)
        static_cast<std::uintptr_t>(start));
  }
  return nullptr;
}

}  // namespace

MapPrefaulter::MapPrefaulter(MDB_env* env, std::uint64_t window)
    : env_(env), window_(window) {
  MDB_stat stat{};
  if (mdb_env_stat(env_, &stat) == MDB_SUCCESS && stat.ms_psize > 0) {
    page_size_ = stat.ms_psize;
  }
  thread_ = std::thread([this] { run(); });
  note_write_commit();
}

MapPrefaulter::~MapPrefaulter() {
  {
    std::scoped_lock lock(mu_);
    stopping_ = true;
  }
  wake_.notify_one();
  thread_.join();
}

std::unique_lock<std::mutex> MapPrefaulter::pause() {
  std::unique_lock lock(chunk_mu_);
  map_ = nullptr;
  mapped_size_ = 0;
  mapped_size_seen_.store(0, std::memory_order_relaxed);
  return lock;
}

void MapPrefaulter::note_write_commit() noexcept {
  if (failed_.load(std::memory_order_relaxed)) return;
  MDB_envinfo info{};
  if (mdb_env_info(env_, &info) != MDB_SUCCESS) return;
  const std::uint64_t used = used_end(info);
  const std::uint64_t frontier = frontier_.load(std::memory_order_relaxed);
  // In the map step() last faulted in (a resize remaps it: none of its pages
  // are then faulted in), far enough ahead or at the end of the map.
  if (info.me_mapsize == mapped_size_seen_.load(std::memory_order_relaxed) &&
      (used + window_ / 2 < frontier ||
       (frontier >= info.me_mapsize && frontier > used))) {
    return;
  }
  {
    std::scoped_lock lock(mu_);
    woken_ = true;
  }
  wake_.notify_one();
}

void MapPrefaulter::run() {
  for (;;) {
    {
      std::unique_lock lock(mu_);
      wake_.wait(lock, [&] { return woken_ || stopping_; });
      if (stopping_) return;
      woken_ = false;
    }
    for (;;) {
      {
        std::scoped_lock lock(mu_);
        if (stopping_) return;
      }
      bool more = false;
      try {
        more = step();
      } catch (...) {  // std::bad_alloc, std::stoull's: stop for good
        failed_.store(true, std::memory_order_relaxed);
      }
      if (!more) break;
    }
  }
}

std::uint64_t MapPrefaulter::used_end(const MDB_envinfo& info) const {
  return (std::uint64_t{info.me_last_pgno} + 1) * page_size_;
}

bool MapPrefaulter::step() {
  if (failed_.load(std::memory_order_relaxed)) return false;
  // No resize remaps the map while this lock is held.
  const std::scoped_lock chunk(chunk_mu_);
  MDB_envinfo info{};
  if (mdb_env_info(env_, &info) != MDB_SUCCESS) return false;
  const std::uint64_t used = used_end(info);
  std::uint64_t frontier = frontier_.load(std::memory_order_relaxed);
  if (map_ == nullptr || info.me_mapsize != mapped_size_ || frontier < used) {
    // The first step, or the map was remapped by a resize (pause()).
    mdb_filehandle_t fd = -1;
    if (mdb_env_get_fd(env_, &fd) != MDB_SUCCESS) return false;
    map_ = static_cast<char*>(find_map(fd, info.me_mapsize));
    if (map_ == nullptr) {
      failed_.store(true, std::memory_order_relaxed);
      return false;
    }
    mapped_size_ = info.me_mapsize;
    mapped_size_seen_.store(mapped_size_, std::memory_order_relaxed);
    frontier = used;  // a page boundary
  }
  const std::uint64_t target = std::min<std::uint64_t>(
      used + window_, static_cast<std::uint64_t>(info.me_mapsize));
  if (frontier >= target) {
    frontier_.store(frontier, std::memory_order_relaxed);
    return false;
  }
  const std::uint64_t bytes = std::min(kChunkBytes, target - frontier);
  char* at = map_ + frontier;
  if (::madvise(at, bytes, MADV_POPULATE_WRITE) != 0) {
    failed_.store(true, std::memory_order_relaxed);
    return false;
  }
  touch_pages(at, bytes, page_size_);
  frontier_.store(frontier + bytes, std::memory_order_relaxed);
  prefaulted_.fetch_add(bytes, std::memory_order_relaxed);
  return true;
}

}  // namespace wfstore::lmdb
