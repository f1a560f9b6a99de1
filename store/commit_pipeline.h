// The single-writer commit pipeline of DESIGN.md "The write path": a
// LevelDB-style writer queue whose head leads a group of commits on its own
// thread (one LMDB write transaction, one log record per commit, at most one
// fdatasync and one LMDB commit per group), plus the background syncer of
// buffered commits, which fdatasyncs the log beside the leader
// (log::Writer::sync_concurrently) instead of queueing behind commits.
//
// Thread-safety: commit(), sync(), stats() and the listener calls may be called
// concurrently from any thread. stop() once, after every committer returned.

#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "wfstore/database.h"
#include "wfstore/event.h"
#include "wfstore/logger.h"

#include "wfstore_internal/checksum_view_store.h"
#include "wfstore_internal/commands.h"
#include "wfstore_internal/lmdb_views.h"
#include "wfstore_internal/log_writer.h"
#include "wfstore_internal/state_machine.h"

namespace wfstore {

// Meta keys the pipeline and the open rules keep beside the projector's.
inline constexpr std::string_view kMetaDurableLsn = "durable_lsn";
inline constexpr std::string_view kMetaLastTimestamp = "last_timestamp_ms";
inline constexpr std::string_view kMetaSchemaVersion = "view_schema_version";
inline constexpr std::string_view kMetaBootId = "boot_id";
inline constexpr std::string_view kMetaCleanClose = "clean_close";

// One schema version for every view; a mismatch rebuilds them all. Bump it
// with every change to a view's keys or values. 2: queue records end with the
// payload's task id. 3: the queue's poll index is keyed by attempt class.
inline constexpr std::uint64_t kViewSchemaVersion = 3;

// The outcome of one commit.
struct CommitResult {
  // One per command, in order; each command's events were appended (none for a
  // no-op).
  std::vector<Decision> decisions;
  // LSNs of the commit's record; both 0 when every command was a no-op.
  std::uint64_t first_lsn = 0;
  std::uint64_t last_lsn = 0;
};

struct PipelineOptions {
  Durability durability = Durability::kSync;
  std::chrono::milliseconds buffered_sync_interval{5};
  std::shared_ptr<Clock> clock;
  Logger logger;
};

// What the pipeline starts from: the views' checksum and the last commit's
// timestamp.
struct PipelineStart {
  ViewChecksum checksum{};
  std::int64_t last_timestamp_ms = 0;
};

class CommitPipeline {
 public:
  // `writer` and `views` must outlive the pipeline. Starts the background
  // syncer.
  CommitPipeline(log::Writer& writer, LmdbViews& views, PipelineOptions options,
                 PipelineStart start);
  ~CommitPipeline();
  CommitPipeline(const CommitPipeline&) = delete;
  CommitPipeline& operator=(const CommitPipeline&) = delete;

  // Decides `commands` in order against the current views (each sees the events
  // of the ones before), appends their events as one log record and folds them
  // into the views. Returns once the record is written (and fdatasynced for
  // kSync) and visible to readers. Throws what decide() throws (nothing
  // appended), IOError (a failed write or sync: the pipeline is poisoned and
  // every later commit throws IOError).
  CommitResult commit(std::vector<Command> commands,
                      std::optional<Durability> durability = std::nullopt);

  // fdatasyncs every buffered commit. Throws IOError.
  void sync();

  // Stops the syncer and syncs. Idempotent. Throws IOError.
  void stop();

  // Stops the syncer without syncing, as if the process died (tests).
  void abandon_for_testing();

  // Registers `listener`; called on a committing thread after each group
  // that appended something. Returns its id for remove_listener().
  std::uint64_t add_listener(CommitListener listener);
  // Once this returns, listener `id` is not running and is not called again.
  // REQUIRES: not called from a listener.
  void remove_listener(std::uint64_t id);

  // Counters (applied_lsn is the views', durable_lsn the log's).
  DatabaseStats stats() const;

  // Throws IOError when a view commit failed; the views may then lag the log.
  void check_views() const;
  bool views_poisoned() const { return views_poisoned_.load(); }
  // The view checksum after the last group; only meaningful after stop().
  ViewChecksum checksum() const;

 private:
  struct Request;

  void run_group(const std::vector<Request*>& group);
  // Decides one request against `views`; fills its events, body and LSNs.
  // Returns false (and stores the error) when a command was rejected or
  // everything was a no-op.
  bool decide_request(Request& request, ViewStore& views,
                      std::int64_t timestamp_ms, std::uint64_t first_lsn);
  void refold(const std::vector<Request*>& appended);
  void write_meta(ViewStore& txn, std::uint64_t applied_lsn,
                  const ViewChecksum& checksum, std::int64_t timestamp_ms);
  void poison(const std::string& reason);
  void notify_listeners(const CommitNotice& notice);
  // Calls the listeners with `notice` once every group with an earlier
  // `ticket` was notified, so listeners see groups in LSN order.
  void notify_in_order(std::uint64_t ticket, const CommitNotice& notice);
  void syncer_loop();
  void warn(std::string_view message) const;

  log::Writer& writer_;
  LmdbViews& views_;
  PipelineOptions options_;

  // Leader-only state (one leader at a time).
  ViewChecksum checksum_;
  std::int64_t last_timestamp_ms_ = 0;

  mutable std::mutex mu_;
  std::deque<Request*> queue_;  // Guarded by mu_.
  // Listener calls hold listeners_mu_ shared; changes hold it exclusively.
  mutable std::shared_mutex listeners_mu_;
  std::vector<std::pair<std::uint64_t, CommitListener>>
      listeners_;                    // Guarded by listeners_mu_.
  std::uint64_t next_listener_ = 1;  // Guarded by listeners_mu_.
  // Notification tickets, taken under mu_ as each group completes (in LSN
  // order); notify_turn_ is the ticket whose listeners may run.
  std::uint64_t next_notify_ticket_ = 0;  // Guarded by mu_.
  std::mutex notify_mu_;
  std::condition_variable notify_cv_;
  std::uint64_t notify_turn_ = 0;  // Guarded by notify_mu_.
  std::string poison_reason_;      // Guarded by mu_.
  std::atomic<bool> poisoned_{false};
  std::atomic<bool> views_poisoned_{false};

  std::atomic<std::uint64_t> commits_{0};
  std::atomic<std::uint64_t> groups_{0};
  std::atomic<std::uint64_t> fdatasyncs_{0};
  std::atomic<std::uint64_t> bytes_appended_{0};
  std::atomic<std::uint64_t> applied_lsn_{0};
  std::atomic<std::uint64_t> appended_lsn_{0};
  std::atomic<std::uint64_t> durable_lsn_{0};
  std::atomic<std::uint64_t> queued_{0};

  std::mutex syncer_mu_;
  std::condition_variable syncer_cv_;
  bool stopping_ = false;  // Guarded by syncer_mu_.
  bool stopped_ = false;   // Guarded by syncer_mu_.
  std::thread syncer_;
};

// The current boot id (/proc/sys/kernel/random/boot_id), or the override set by
// set_boot_id_for_testing.
std::string current_boot_id();
// Overrides current_boot_id() for this process; empty restores the real one.
void set_boot_id_for_testing(std::string boot_id);

}  // namespace wfstore
