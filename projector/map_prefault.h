// MapPrefaulter: faults an LMDB write map's pages in ahead of the writes, on a
// thread of its own, so the commit that first writes a page finds it mapped.

#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <thread>

#include <lmdb.h>

#include "projector/lmdb.h"

namespace wfstore::lmdb {

// Keeps the pages of [used end, used end + window) of a writer's MDB_WRITEMAP
// map faulted in: madvise(MADV_POPULATE_WRITE) (the file is as long as the
// map, so these are holes of a sparse file; their bytes are not changed),
// then one read of each page, which also fills the page tables a virtual
// machine keeps beside the guest's. A first write to an unmapped page costs a
// page fault on the committing thread (about 10 us on this project's machine,
// 4.5 us after the madvise alone; README "Performance"). It works in chunks
// of 1 MiB, each under the environment's resize lock held shared (a resize
// remaps the map: the frontier starts again from the used end). The map's
// address is the shared writable mapping of data.mdb at offset 0 in
// /proc/self/maps (LMDB does not export it). On any error (no such mapping, a
// kernel before 5.14, a full disk) it stops for the rest of the environment's
// life: prefaulting is never needed for correctness.
//
// Thread-safe. REQUIRES: `env` and `resize_lock` outlive it; destroyed before
// the environment closes.
class MapPrefaulter {
 public:
  MapPrefaulter(MDB_env* env, ResizeLock& resize_lock, std::uint64_t window);
  ~MapPrefaulter();
  MapPrefaulter(const MapPrefaulter&) = delete;
  MapPrefaulter& operator=(const MapPrefaulter&) = delete;

  // After a write commit: wakes the thread when the used end has come within
  // half the window of the frontier. Never throws.
  void note_write_commit() noexcept;
  // Bytes faulted in so far.
  std::uint64_t prefaulted_bytes() const noexcept {
    return prefaulted_.load(std::memory_order_relaxed);
  }

 private:
  void run();
  // Faults in the next chunk if the frontier is within the window of the used
  // end. Returns false when there is nothing to do or prefaulting stopped.
  bool step();

  MDB_env* const env_;
  ResizeLock& resize_lock_;
  const std::uint64_t window_;
  std::uint64_t page_size_ = 4096;
  // The end of the pages faulted in, as a file offset; only run() writes it.
  std::atomic<std::uint64_t> frontier_{0};
  std::atomic<std::uint64_t> prefaulted_{0};
  std::atomic<bool> failed_{false};
  // The map and its size as last found (run()'s thread only): a resize
  // changes the size and remaps.
  char* map_ = nullptr;
  std::size_t mapped_size_ = 0;
  std::mutex mu_;
  std::condition_variable wake_;
  bool woken_ = false;     // Guarded by mu_.
  bool stopping_ = false;  // Guarded by mu_.
  std::thread thread_;
};

}  // namespace wfstore::lmdb
