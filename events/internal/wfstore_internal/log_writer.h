// The append-only log's writer: appends one commit record per call to the live
// segment, rolls segments, and fdatasyncs on request. It assigns nothing and
// has no durability modes: the store's writer assigns LSNs, encodes the body
// and decides when to sync.
//
// State: open, poisoned (a write, sync or roll failed; the reason is kept) or
// closed. It changes and is checked under the lock that guards the file's
// syncs, rolls and close, so no fdatasync runs, and no durable_lsn() rises,
// after a failed one: Linux reports a writeback error once per open file, so
// a later fdatasync of the same descriptor can return 0 for data it lost.
//
// Thread-safety: one thread at a time (the store's group-commit leader) calls
// a Writer, except that sync_concurrently(), durable_lsn(), last_lsn(),
// state() and poisoned() may be called from one other thread (the background
// syncer) at the same time; readers in any thread or process read the files
// while it appends.

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
  // Zeros written ahead of the records in the live segment, this many bytes at
  // a time (0: none; every record then appends). A record then overwrites
  // space the file already has, so the fdatasync that makes it durable need
  // not write the file's size as well (on ext4, half the time of an
  // append's). Used only when the file system supports_write_at(); a fill
  // that fails is cut short and no longer tried in that segment (the records
  // append as without it). The zeros are cut off before a segment is sealed
  // and at close(); readers take zeros after the last record for its end.
  std::uint64_t fill_bytes = kDefaultFillBytes;
  // Small records written over the zeros go through a shared mapping of the
  // live segment (WritableFile::map_writes) instead of a system call each.
  // For a writer that does not sync each commit (Durability::kBuffered):
  // each fdatasync cleans the page the next record goes on, whose first write
  // through the mapping then faults.
  bool mapped_writes = false;
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
  enum class State : std::uint8_t {
    kOpen,      // appends and syncs run
    kPoisoned,  // a write, sync or roll failed: every call throws IOError
    kClosed,    // close() ran: every call throws IOError
  };

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
  // IOError if the write fails, the writer is poisoned or closed; a failed
  // write or roll poisons it (a roll seals the old segment only on a sync of
  // this open writer that succeeded).
  Hash append(std::uint64_t first_lsn, std::uint32_t event_count,
              std::int64_t timestamp_ms, std::string_view body);

  // fdatasyncs what was appended: afterwards durable_lsn() == last_lsn(). A
  // no-op when nothing is unsynced. Throws IOError when the writer is poisoned
  // or closed, checked under the sync lock (so a sync_concurrently() that
  // failed while this call waited makes it throw, never sync again); a failed
  // sync poisons the writer (a retried fsync can falsely succeed).
  void sync();

  // sync() for a second thread while the leader keeps appending: fdatasyncs
  // the commits appended before the call (durable_lsn() rises to the
  // last_lsn() it saw) without blocking append(); a segment roll, sync() or
  // close() waits for it. A no-op when nothing is unsynced or the writer is
  // closed. Returns whether it called fdatasync. Throws IOError; a failed sync
  // poisons the writer.
  bool sync_concurrently();

  // Closes the live segment without syncing, first cutting off the zeros
  // written ahead (unless poisoned). Idempotent; later calls throw IOError.
  // A poisoned writer keeps its poison reason. Throws IOError.
  void close();

  // LSN up to which everything is fdatasynced.
  std::uint64_t durable_lsn() const { return durable_lsn_.load(); }
  // Last LSN appended (0 for an empty log).
  std::uint64_t last_lsn() const { return last_lsn_.load(); }
  // Hash of the last commit appended (zeros for an empty log).
  const Hash& last_hash() const { return last_hash_; }
  // Where the last commit append() wrote starts: the first LSN of its segment
  // and the offset of its first fragment there (both 0 before any append).
  std::uint64_t last_commit_segment() const { return last_commit_segment_; }
  std::uint64_t last_commit_offset() const { return last_commit_offset_; }
  // File name of the live segment.
  std::string segment() const { return segment_file_name(segment_first_lsn_); }
  State state() const { return state_.load(); }
  // True after a failed write, sync or roll: every later call throws IOError.
  bool poisoned() const { return state() == State::kPoisoned; }
  // Why the writer was poisoned (empty if it was not).
  std::string poison_reason() const;

  // Tests: `hook` runs on the calling thread of sync() and of a segment roll
  // just before it waits for the sync lock (so a test can hold a concurrent
  // sync until a caller waits). Empty to remove. REQUIRES: no call of the
  // writer runs.
  void set_sync_wait_hook_for_testing(std::function<void()> hook) {
    sync_wait_hook_ = std::move(hook);
  }

  // Use open().
  Writer(PrivateTag, std::shared_ptr<FileSystem> fs,
         std::filesystem::path log_dir, const StoreId& store_id,
         WriterOptions options);

 private:
  // Throws IOError unless open. REQUIRES: sync_mu_ held.
  void check_usable_locked() const;
  [[noreturn]] void throw_unusable_locked() const;
  // Seals the live segment and starts the next one. Poisons on failure.
  void roll();
  // Returns whether it called fdatasync; poisons on failure. REQUIRES:
  // sync_mu_ held and the writer open.
  bool sync_locked();
  void poison(const char* reason);
  // REQUIRES: sync_mu_ held.
  void poison_locked(const char* reason);
  void wait_hook() const {
    if (sync_wait_hook_) sync_wait_hook_();
  }
  void create_segment(std::uint64_t first_lsn, std::uint64_t prev_first_lsn);
  // Writes zeros after the live segment's end so that `bytes` more fit
  // before them, fill_bytes at a time; a failure ends filling in this
  // segment (logged) instead of throwing.
  void fill_ahead(std::uint64_t bytes);
  // Whether zeros can be written ahead in the live segment file_.
  bool can_fill() const {
    return options_.fill_bytes > 0 && file_->supports_write_at();
  }
  // Sets filling_ for the new live segment file_ and, with mapped_writes,
  // maps the part a segment's records fill.
  void start_filling();
  // Writes `framed` at end_ and moves end_ past it. Throws IOError.
  void write_at_end(std::string_view framed);

  std::shared_ptr<FileSystem> fs_;
  std::filesystem::path log_dir_;
  Uuid store_uuid_;
  WriterOptions options_;
  std::unique_ptr<WritableFile> file_;
  std::uint64_t segment_first_lsn_ = 0;
  std::size_t block_offset_ = 0;
  // Where the live segment's records end (its size, unless zeros follow).
  std::uint64_t end_ = 0;
  // Whether zeros are written ahead in the live segment.
  bool filling_ = false;
  // Held while file_ is synced, replaced or closed, and while state_ changes.
  mutable std::mutex sync_mu_;
  std::atomic<std::uint64_t> durable_lsn_{0};  // Written under sync_mu_.
  std::atomic<std::uint64_t> last_lsn_{0};     // Stored after the bytes.
  Hash last_hash_{};
  std::uint64_t last_commit_segment_ = 0;
  std::uint64_t last_commit_offset_ = 0;
  // Written under sync_mu_; read without it on append's fast path.
  std::atomic<State> state_{State::kOpen};
  std::string poison_reason_;  // Guarded by sync_mu_.
  std::function<void()> sync_wait_hook_;
};

}  // namespace wfstore::log
