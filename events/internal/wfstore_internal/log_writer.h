// The append-only log's writer: appends one commit record per call to the live
// segment, rolls segments, and fdatasyncs on request. It assigns nothing and
// has no durability modes: the store's writer assigns LSNs, encodes the body
// and decides when to sync.
//
// Thread-safety: one thread at a time (the store's group-commit leader) calls
// a Writer, except that sync_concurrently(), durable_lsn(), last_lsn() and
// poisoned() may be called from one other thread (the background syncer) at
// the same time; readers in any thread or process read the files while it
// appends.

#pragma once

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

#include "wfstore/file_system.h"
#include "wfstore/logger.h"

#include "wfstore_internal/log_format.h"
#include "wfstore_internal/store_dir.h"

namespace wfstore::log {

struct WriterOptions {
  // Receives warnings (a torn tail dropped at open). Empty: warnings are
  // discarded.
  Logger logger;
  // A segment is sealed before a commit that would make it larger than this,
  // unless it holds no commit yet (one commit may exceed it).
  std::uint64_t roll_bytes = kDefaultRollBytes;
  // Called by open() with the LSN the log will end at once recovery has
  // repaired it, before recovery changes any file (or creates `log_dir`). May
  // throw to refuse the open, which then leaves every file as it was. Empty:
  // no check.
  std::function<void(std::uint64_t recovered_last_lsn)> check_recovered_end;
};

class Writer {
  struct PrivateTag {
    explicit PrivateTag() = default;
  };

 public:
  // Opens the log in `log_dir` (created if missing) for appending: runs
  // recovery (every segment header checked, the last segment scanned, a torn
  // tail truncated with a warning) and fdatasyncs the last segment, so
  // durable_lsn() == last_lsn(). An empty log gets its first segment, starting
  // at LSN 1. `store_id` is the store id (STORE file) that every segment header
  // carries. Throws CorruptionError naming segment and offset for damage
  // recovery must not repair, IOError for failed I/O. The caller holds the
  // store's LOCK.
  static std::unique_ptr<Writer> open(const std::shared_ptr<FileSystem>& fs,
                                      const std::filesystem::path& log_dir,
                                      const StoreId& store_id,
                                      WriterOptions options = {});

  ~Writer();
  Writer(const Writer&) = delete;
  Writer& operator=(const Writer&) = delete;

  // Appends one commit holding LSNs first_lsn .. first_lsn + event_count - 1
  // and returns its hash. Not durable until sync(). Rolls to a new segment
  // first if needed (sealing the old one with fdatasync; the new header is
  // written and the file and directory synced). Throws InvalidArgumentError,
  // writing nothing, if first_lsn != last_lsn() + 1, event_count is 0 or above
  // kMaxCommitEvents, the commit would end past LSN UINT64_MAX - 1 (the last a
  // commit record can hold), or body is larger than kMaxCommitBytes. Throws
  // IOError if the write fails; the writer is then poisoned.
  Hash append(std::uint64_t first_lsn, std::uint32_t event_count,
              std::int64_t timestamp_ms, std::string_view body);

  // fdatasyncs what was appended: afterwards durable_lsn() == last_lsn(). A
  // no-op when nothing is unsynced. Throws IOError; a failed sync poisons the
  // writer (a retried fsync can falsely succeed).
  void sync();

  // sync() for a second thread while the leader keeps appending: fdatasyncs
  // the commits appended before the call (durable_lsn() rises to the
  // last_lsn() it saw) without blocking append(); a segment roll, sync() or
  // close() waits for it. A no-op when nothing is unsynced or the writer is
  // closed. Returns whether it called fdatasync. Throws IOError; a failed sync
  // poisons the writer.
  bool sync_concurrently();

  // Closes the live segment without syncing. Idempotent; later appends throw
  // IOError. Throws IOError.
  void close();

  // LSN up to which everything is fdatasynced.
  std::uint64_t durable_lsn() const { return durable_lsn_.load(); }
  // Last LSN appended (0 for an empty log).
  std::uint64_t last_lsn() const { return last_lsn_.load(); }
  // Hash of the last commit appended (zeros for an empty log).
  const Hash& last_hash() const { return last_hash_; }
  // File name of the live segment.
  std::string segment() const { return segment_file_name(segment_first_lsn_); }
  // True after a failed write or sync: every later call throws IOError.
  bool poisoned() const { return poisoned_.load(); }

  // Use open().
  Writer(PrivateTag, std::shared_ptr<FileSystem> fs,
         std::filesystem::path log_dir, const StoreId& store_id,
         WriterOptions options);

 private:
  void check_usable() const;
  void roll();
  // Returns whether it called fdatasync. REQUIRES: sync_mu_ held.
  bool sync_locked();
  void poison(const char* reason);
  void create_segment(std::uint64_t first_lsn, std::uint64_t prev_first_lsn);

  std::shared_ptr<FileSystem> fs_;
  std::filesystem::path log_dir_;
  Uuid store_uuid_;
  WriterOptions options_;
  std::unique_ptr<WritableFile> file_;
  std::uint64_t segment_first_lsn_ = 0;
  std::size_t block_offset_ = 0;
  // Held while file_ is synced, replaced or closed.
  std::mutex sync_mu_;
  std::atomic<std::uint64_t> durable_lsn_{0};  // Written under sync_mu_.
  std::atomic<std::uint64_t> last_lsn_{0};     // Stored after the bytes.
  Hash last_hash_{};
  std::atomic<bool> poisoned_{false};
  std::atomic<bool> closed_{false};
  mutable std::mutex poison_mu_;
  std::string poison_reason_;  // Guarded by poison_mu_.
};

}  // namespace wfstore::log
