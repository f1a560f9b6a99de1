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
// starts at its offset 0 (LMDB's map: mdb_env_info's me_mapaddr is only the
// address a MDB_FIXEDMAP map asks for), or nullptr.
void* find_map(int fd) {
  struct stat st {};
  if (::fstat(fd, &st) != 0) return nullptr;
  std::ifstream maps("/proc/self/maps");
  std::string line;
  while (std::getline(maps, line)) {
    // start-end perms offset major:minor inode path
    std::istringstream fields(line);
    std::string range, perms, offset, device;
    unsigned long long inode = 0;
    if (!(fields >> range >> perms >> offset >> device >> inode)) continue;
    if (inode != st.st_ino || perms.size() < 4 || perms[1] != 'w' ||
        perms[3] != 's' || std::stoull(offset, nullptr, 16) != 0) {
      continue;
    }
    const unsigned int dev_major = major(st.st_dev);
    const unsigned int dev_minor = minor(st.st_dev);
    unsigned int map_major = 0;
    unsigned int map_minor = 0;
    if (std::sscanf(device.c_str(), "%x:%x", &map_major, &map_minor) != 2 ||
        map_major != dev_major || map_minor != dev_minor) {
      continue;
    }
    // The kernel names the map's address only as a number.
    return reinterpret_cast<void*>(  // NOLINT(performance-no-int-to-ptr)
        static_cast<std::uintptr_t>(std::stoull(range, nullptr, 16)));
  }
  return nullptr;
}

}  // namespace

MapPrefaulter::MapPrefaulter(MDB_env* env, ResizeLock& resize_lock,
                             std::uint64_t window)
    : env_(env), resize_lock_(resize_lock), window_(window) {
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

void MapPrefaulter::note_write_commit() noexcept {
  if (failed_.load(std::memory_order_relaxed)) return;
  MDB_envinfo info{};
  if (mdb_env_info(env_, &info) != MDB_SUCCESS) return;
  const std::uint64_t used =
      (std::uint64_t{info.me_last_pgno} + 1) * page_size_;
  if (used + window_ / 2 < frontier_.load(std::memory_order_relaxed)) return;
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
      if (!step()) break;
    }
  }
}

bool MapPrefaulter::step() {
  if (failed_.load(std::memory_order_relaxed)) return false;
  // No resize remaps the map while this hold lasts.
  const ResizeLock::Hold hold = resize_lock_.lock_shared();
  MDB_envinfo info{};
  if (mdb_env_info(env_, &info) != MDB_SUCCESS) return false;
  const std::uint64_t used =
      (std::uint64_t{info.me_last_pgno} + 1) * page_size_;
  std::uint64_t frontier = frontier_.load(std::memory_order_relaxed);
  if (info.me_mapsize != mapped_size_ || frontier < used) {
    // The first step, or the map was remapped by a resize.
    mdb_filehandle_t fd = -1;
    if (mdb_env_get_fd(env_, &fd) != MDB_SUCCESS) return false;
    map_ = static_cast<char*>(find_map(fd));
    if (map_ == nullptr) {
      failed_.store(true, std::memory_order_relaxed);
      return false;
    }
    mapped_size_ = info.me_mapsize;
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
