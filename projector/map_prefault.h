// MapPrefaulter: faults an LMDB write map's pages in ahead of the writes, on a
// thread of its own, so the commit that first writes a page finds it mapped.

#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <thread>

#include <lmdb.h>

namespace wfstore::lmdb {

// Keeps the pages of [used end, used end + window) of a writer's MDB_WRITEMAP
// map faulted in: madvise(MADV_POPULATE_WRITE) (LMDB makes the file as long as
// the map, so these are holes of a sparse file; their bytes are not changed),
// then one read of each page, which also fills the page tables a virtual
// machine keeps beside the guest's. A first write to an unmapped page costs a
// page fault on the committing thread (about 10 us on this project's machine,
// 4.5 us after the madvise alone; README "Performance"). The pages so faulted
// in are dirty: a sync or the kernel's writeback writes them (zeros) and
// allocates their blocks, at most `window` bytes beyond the used end; pages
// the writeback cleaned before LMDB writes them fault again on that write.
//
// It works in chunks of 1 MiB, each under its chunk lock, which a resize takes
// (pause()) before it remaps; after a pause the map is found again (a remap
// may move it even at the same size) and the frontier starts again from the
// used end. The map's address is that of the shared writable mapping of
// data.mdb's inode at offset 0, as long as the map, in /proc/self/maps (LMDB
// exports only the address a MDB_FIXEDMAP map asks for). On any error (no
// such mapping, a kernel before 5.14, a full disk) it stops for the rest of
// the environment's life: prefaulting is never needed for correctness.
//
// Thread-safe. REQUIRES: `env` outlives it; destroyed before the environment
// closes.
class MapPrefaulter {
 public:
  // Starts the thread. Throws std::system_error when no thread can be made.
  MapPrefaulter(MDB_env* env, std::uint64_t window);
  ~MapPrefaulter();
  MapPrefaulter(const MapPrefaulter&) = delete;
  MapPrefaulter& operator=(const MapPrefaulter&) = delete;

  // After a write commit, with the environment's resize lock still held:
  // wakes the thread when the used end has come within half the window of
  // the frontier. Never throws.
  void note_write_commit() noexcept;
  // The chunk lock: no page is faulted in while it is held. For a resize,
  // which remaps the map (even at the same size): the map is found again and
  // the next commit wakes the thread.
  std::unique_lock<std::mutex> pause();
  // Bytes faulted in so far.
  std::uint64_t prefaulted_bytes() const noexcept {
    return prefaulted_.load(std::memory_order_relaxed);
  }

 private:
  void run();
  // Faults in the next chunk if the frontier is within the window of the used
  // end. Returns false when there is nothing to do or prefaulting stopped.
  bool step();
  // The file offset just past the last page in use as of `info`.
  std::uint64_t used_end(const MDB_envinfo& info) const;

  MDB_env* const env_;
  const std::uint64_t window_;
  std::uint64_t page_size_ = 4096;
  // The end of the pages faulted in, as a file offset; only step() writes it.
  std::atomic<std::uint64_t> frontier_{0};
  std::atomic<std::uint64_t> prefaulted_{0};
  std::atomic<bool> failed_{false};
  // mapped_size_, for note_write_commit().
  std::atomic<std::uint64_t> mapped_size_seen_{0};
  std::mutex chunk_mu_;
  // The map and its size as last found (under chunk_mu_).
  char* map_ = nullptr;
  std::uint64_t mapped_size_ = 0;
  std::mutex mu_;
  std::condition_variable wake_;
  bool woken_ = false;     // Guarded by mu_.
  bool stopping_ = false;  // Guarded by mu_.
  std::thread thread_;
};

}  // namespace wfstore::lmdb
