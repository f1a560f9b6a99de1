// The single-writer commit pipeline of docs/write-path.md: a
// LevelDB-style writer queue whose head leads a group of commits on its own
// thread (one LMDB write transaction, one log record per commit, at most one
// fdatasync and one LMDB commit per group), plus the background syncer of
// buffered commits, which fdatasyncs the log beside the leader
// (log::Writer::sync_concurrently) instead of queueing behind commits.
//
// State (one for the whole write path, store/commit_pipeline.cc keeps it):
// open; closing (close() began: new calls throw IOError, commits already
// queued finish); failed (a log write, log sync or view commit failed: the
// log may hold records the views lack, so every call, reads included, throws
// IOError until the store is reopened, and nothing writes the views' meta
// again, so reopening folds the missing tail); closed.
//
// Thread-safety: every method may be called concurrently from any thread,
// close() and abandon_for_testing() included (they wait for the commits in
// flight).

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

#include "wfstore/event.h"
#include "wfstore/logger.h"
#include "wfstore/options.h"

#include "wfstore_internal/checksum_view_store.h"
#include "wfstore_internal/commands.h"
#include "wfstore_internal/decide.h"
#include "wfstore_internal/history_index.h"
#include "wfstore_internal/lmdb_views.h"
#include "wfstore_internal/log_writer.h"
#include "wfstore_internal/store_core.h"
#include "wfstore_internal/view_meta.h"

namespace wfstore {

// A listener that sees a group's committed events (add_events_listener).
using CommitEventsListener = std::function<void(
    const CommitNotice& notice, const std::vector<Event>& events)>;

struct PipelineOptions {
  // Names the store in error messages.
  std::string dir;
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
  // kSync) and visible to readers. Throws what decide() throws, and an
  // InvalidArgumentError for any other exception of deciding or encoding this
  // commit (nothing appended; the other commits of its group go on); IOError
  // when the pipeline is not open, or for a failed write or sync (the
  // pipeline fails: every later call throws IOError). A commit whose record
  // was written but whose view commit failed returns normally (the log has
  // it; a reopen folds it) and fails the pipeline.
  // `prepared`: the commands' decisions made ahead, taken instead of deciding
  // again when still valid (PreparedDecision).
  CommitResult commit(std::vector<Command> commands,
                      std::optional<Durability> durability = std::nullopt,
                      std::optional<PreparedDecision> prepared = std::nullopt);

  // fdatasyncs every buffered commit. Throws IOError.
  void sync();

  // Rejects new calls, wakes the close hooks, waits for the commits in flight
  // (their listener calls included), stops the syncer and syncs. Idempotent.
  // Throws IOError when the pipeline failed (before or now).
  void close();

  // close() without the final sync, as if the process died (tests). Never
  // throws.
  void abandon_for_testing();

  // True while this thread runs this pipeline's listeners: a commit,
  // add_listener() or close() made there throws IOError (it would wait for
  // the listener itself).
  bool in_listener_on_this_thread() const;
  // Throws IOError naming `call` when in_listener_on_this_thread().
  void check_not_in_listener(std::string_view call) const;

  // Throws IOError unless open: "... is closed", or "... poisoned by an
  // earlier failure (<reason>) ..." after a failure.
  void check_usable() const;
  // True when open; false once failed, closing or closed.
  bool usable() const { return state_.load() == State::kOpen; }
  // True after a failure (also once closed).
  bool failed() const;

  // Registers `listener`; called on a committing thread after each group
  // that appended something, in LSN order. `on_close`, when set, is called
  // once when close() begins (so a waiting poll can wake and see the store
  // closed). Returns its id for remove_listener(). Throws IOError unless
  // open.
  std::uint64_t add_listener(CommitListener listener,
                             std::function<void()> on_close = {});
  // As add_listener(), and `on_events` gets the group's committed events
  // too, in LSN order, as the leader decided them (never a rejected
  // commit's), right after `listener` (either may be empty). The events are
  // valid during the call only.
  std::uint64_t add_events_listener(CommitEventsListener on_events,
                                    std::function<void()> on_close = {});
  // Once this returns, listener `id` is not running and is not called again.
  // REQUIRES: not called from a listener.
  void remove_listener(std::uint64_t id);

  // Counters (applied_lsn is the views', durable_lsn the log's).
  DatabaseStats stats() const;

  // The view checksum after the last group; only meaningful after close().
  ViewChecksum checksum() const;

  // Tests: `hook` runs inside the decision of every commit's commands (on the
  // leader's thread, before each command is decided); what it throws is
  // treated as the command's decision throwing. Empty to remove. REQUIRES: no
  // commit runs.
  void set_decide_hook_for_testing(std::function<void(const Command&)> hook) {
    decide_hook_ = std::move(hook);
  }
  // Tests: `hook` runs on every queued call's thread after it joined the
  // queue behind another and released the queue's lock, before it waits.
  // Empty to remove. REQUIRES: no commit runs.
  void set_queued_hook_for_testing(std::function<void()> hook) {
    queued_hook_ = std::move(hook);
  }
  // Tests: how often a group's leader waited for an earlier group's listener
  // calls to end before notifying its own.
  std::uint64_t listener_turn_waits_for_testing() const;
  // Tests: how many commits took their prepared decisions instead of deciding
  // again.
  std::uint64_t prepared_taken_for_testing() const {
    return prepared_taken_.load();
  }
  // Tests: how often the background syncer woke for work (stop excluded).
  std::uint64_t syncer_wakeups_for_testing() const {
    return syncer_wakeups_.load();
  }

 private:
  struct Request;
  // What a queued commit() call sleeps on (a futex word): the pipeline owns
  // it, so the leader that wakes a call touches none of the call's own
  // memory after its result is published (the call may return at once).
  // Its state is the generation of its current use times 4 plus kWait,
  // kLead or kDone: a call that went to sleep on an earlier use's value
  // wakes (the value changed) instead of sleeping through the next use's.
  // A use's generation wraps after 2^30 uses of one waiter: a call that
  // slept through that many would misread; it is not guarded against.
  struct alignas(64) Waiter {
    static constexpr std::uint32_t kWait = 0;
    static constexpr std::uint32_t kLead = 1;  // lead the group at the head
    static constexpr std::uint32_t kDone = 2;  // the result is in the request
    std::atomic<std::uint32_t> state{0};
    std::uint32_t base = 0;  // this use's generation times 4; mu_ guards it
  };
  enum class State : std::uint8_t { kOpen, kClosing, kFailed, kClosed };

  void run_group(const std::vector<Request*>& group);
  // Whether the disk has room for `bytes` more of log records beyond the
  // 4 MiB a store keeps free (kLowSpace): a group refused here appends
  // nothing and fails nothing else, where the log's own write failing on a
  // full disk fails the writer. Checks the free space (statvfs) every 64
  // groups or 1 MiB of records, and every group while it is low; a file
  // system it cannot ask counts as roomy. Leader only.
  bool room_for(std::uint64_t bytes);
  // Decides one request against `views`; fills its events, body and LSNs.
  // Returns false (and stores the error) when a command was rejected or
  // everything was a no-op.
  bool decide_request(Request& request, ViewStore& views,
                      std::int64_t timestamp_ms, std::uint64_t first_lsn);
  // Records where each appended request's record starts (log_positions).
  // Returns the last entry as of the last request, to adopt as
  // last_position_ once the transaction commits.
  std::optional<history_index::IndexedPosition> record_log_positions(
      ViewStore& txn, const std::vector<Request*>& appended) const;
  // What a group's view commit leaves behind, adopted once it commits.
  struct ViewCommit {
    // What record_log_positions() returned.
    std::optional<history_index::IndexedPosition> last_position;
    // The durable LSN meta then holds.
    std::uint64_t meta_durable_lsn = 0;
  };
  // Folds `appended` again in a transaction of its own (after the map grew).
  ViewCommit refold(const std::vector<Request*>& appended);
  // Writes the applied LSN and checksum, and the durable LSN and timestamp
  // where they differ from what meta holds (meta_durable_lsn_,
  // last_timestamp_ms_: most commits of a busy buffered store share both).
  // Returns the durable LSN meta then holds, to adopt as meta_durable_lsn_
  // once the transaction commits.
  std::uint64_t write_meta(ViewStore& txn, std::uint64_t applied_lsn,
                           const ViewChecksum& checksum,
                           std::int64_t timestamp_ms);
  // Moves an open or closing pipeline to failed, keeping the first reason.
  void fail(const std::string& reason);
  // fail(reason), and every request of `group` without an error of its own
  // gets IOError(reason): the group's log or views are in an unknown state.
  void fail_group(const std::vector<Request*>& group,
                  const std::string& reason);
  [[noreturn]] void throw_unusable_locked() const;  // REQUIRES: mu_ held.
  // Ends one commit() call; wakes close() when it was the last.
  void leave();
  // A waiter from the pool, in state kWait; the pool keeps room for every
  // waiter, so putting one back never allocates. REQUIRES: mu_ held.
  Waiter* take_waiter_locked();
  // The leader's hand-off once its group ran: takes the group (`own`, this
  // thread's call, first) out of the queue, wakes the next leader and the
  // group's callers, and calls the listeners in LSN order. Not throwing: a
  // queue left without a leader would hang every caller, so an allocation
  // failure here ends the process.
  void finish_group(const Request& own,
                    const std::vector<Request*>& group) noexcept;
  // Shared by close() and abandon_for_testing(); returns whether this call
  // closed the pipeline (false when it was already closed).
  bool shut_down(bool sync);
  void notify_listeners(const CommitNotice& notice,
                        const std::vector<Event>& events);
  void syncer_loop();
  bool syncer_has_work() const;
  void warn(std::string_view message) const;

  log::Writer& writer_;
  LmdbViews& views_;
  PipelineOptions options_;

  // Leader-only state (one leader at a time).
  ViewChecksum checksum_;
  // The last commit's timestamp, which meta holds (absent meaning 0).
  std::int64_t last_timestamp_ms_ = 0;
  // The greatest log_positions entry as of the last view commit (read when
  // the pipeline starts; it is the views' only writer while it is open): a
  // commit reads no entry to decide whether to write its own.
  std::optional<history_index::IndexedPosition> last_position_;
  // The durable LSN meta holds as of the last view commit (read when the
  // pipeline starts), or nullopt when it holds none.
  std::optional<std::uint64_t> meta_durable_lsn_;

  std::function<void(const Command&)> decide_hook_;
  std::function<void()> queued_hook_;

  // The writer queue's lock; also guards the state.
  mutable std::mutex mu_;
  std::deque<Request*> queue_;  // Guarded by mu_.
  // Written under mu_; read without it where a stale "open" is harmless.
  std::atomic<State> state_{State::kOpen};
  std::string failure_;  // Guarded by mu_: the first failure's reason.
  // Waiters not in use; the pool holds every waiter ever made.
  std::vector<Waiter*> free_waiters_;             // Guarded by mu_.
  std::vector<std::unique_ptr<Waiter>> waiters_;  // Guarded by mu_.
  // Twice the commit() calls between their state check and their return,
  // plus 1 once close() waits for them: raised under mu_ while open, lowered
  // without it (leave()) unless close() waits.
  std::atomic<std::size_t> active_{0};
  std::condition_variable idle_cv_;  // Signalled when active_ drops to 0.
  // Groups with a notice take consecutive tickets when they leave the queue
  // (so in LSN order) and notify listeners in ticket order.
  std::uint64_t next_ticket_ = 0;          // Guarded by mu_.
  std::uint64_t notified_ = 0;             // Guarded by mu_.
  std::uint64_t listener_turn_waits_ = 0;  // Guarded by mu_.
  std::condition_variable notify_cv_;

  struct Listener {
    std::uint64_t id;
    CommitListener on_commit;
    std::function<void()> on_close;
    CommitEventsListener on_events;
  };
  // Listener calls hold listeners_mu_ shared; changes hold it exclusively.
  mutable std::shared_mutex listeners_mu_;
  std::vector<Listener> listeners_;  // Guarded by listeners_mu_.
  std::uint64_t next_listener_ = 1;  // Guarded by listeners_mu_.
  // Listeners with on_events: while there are none, a group's events are not
  // kept for them.
  std::atomic<std::size_t> events_listeners_{0};

  std::atomic<std::uint64_t> commits_{0};
  std::atomic<std::uint64_t> groups_{0};
  std::atomic<std::uint64_t> fdatasyncs_{0};
  std::atomic<std::uint64_t> prepared_taken_{0};
  std::atomic<std::uint64_t> bytes_appended_{0};
  // The disk's free space as last checked (room_for), and the groups and
  // bytes appended since. Only the leader of a group uses them.
  std::uint64_t free_at_check_ = UINT64_MAX;
  std::uint64_t groups_since_check_ = 0;
  std::uint64_t bytes_since_check_ = 0;
  std::atomic<std::uint64_t> applied_lsn_{0};
  std::atomic<std::uint64_t> appended_lsn_{0};
  std::atomic<std::uint64_t> durable_lsn_{0};
  std::atomic<std::uint64_t> queued_{0};

  std::mutex syncer_mu_;
  std::condition_variable syncer_cv_;
  bool stopping_ = false;  // Guarded by syncer_mu_.
  // Set while the syncer waits for a buffered append; a leader that appended
  // without syncing wakes it then.
  std::atomic<bool> syncer_idle_{false};
  std::atomic<std::uint64_t> syncer_wakeups_{0};
  std::thread syncer_;
};

// The current boot id (/proc/sys/kernel/random/boot_id), or the override set by
// set_boot_id_for_testing.
std::string current_boot_id();
// Overrides current_boot_id() for this process; empty restores the real one.
void set_boot_id_for_testing(std::string boot_id);

}  // namespace wfstore
