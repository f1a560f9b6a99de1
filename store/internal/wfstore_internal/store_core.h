// StoreCore: the one way into an open store for wfstore's own code. The
// WorkflowStore, its Transactions, the Queue and the QueueProcessor commit and
// read only through it:
//
// - commit(): commands -> the commit pipeline (which decides them against the
//   views, appends their events with the thread's AuditScope fields as one log
//   record, makes it durable as asked and folds it into the views) ->
//   one Decision per command;
// - read(): a read snapshot of the views, for the projector's queries;
// - the rules for a closed, failed or read-only store, checked here once;
// - the store's clock and options, commit listeners (the blocking poll's
//   wakeups) and the store's one attached Queue.
//
// Lifetime: owned by the Database's Impl and valid as long as the Database
// (after close() its calls throw IOError).
//
// Thread-safety: every method may be called concurrently.

#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "wfstore/options.h"

#include "wfstore_internal/commands.h"
#include "wfstore_internal/decide.h"
#include "wfstore_internal/lmdb_views.h"

namespace wfstore {

class CommitPipeline;
class Database;
class Queue;

// The outcome of one commit.
struct CommitResult {
  // One per command, in order; each command's events were appended (none for a
  // no-op).
  std::vector<Decision> decisions;
  // LSNs of the commit's record; both 0 when every command was a no-op.
  std::uint64_t first_lsn = 0;
  std::uint64_t last_lsn = 0;
};

class StoreCore {
 public:
  // `views` and `options` must outlive this; `pipeline` too, or is null for a
  // read-only store. `dir` names the store in error messages; `options` are
  // the options as opened (clock and logger filled in).
  StoreCore(LmdbViews& views, CommitPipeline* pipeline, std::string dir,
            const DatabaseOptions& options);
  StoreCore(const StoreCore&) = delete;
  StoreCore& operator=(const StoreCore&) = delete;

  // Commits `commands` as one log record (CommitPipeline::commit), made
  // durable as `durability` says (nullopt: the store's default). Throws
  // IOError for a closed or read-only store, for a commit made while this
  // thread holds a views snapshot (growing the map would wait for it), and
  // what the pipeline throws (a rejected command, a failed write).
  // `prepared`: the commands' decisions made ahead (PreparedDecision).
  CommitResult commit(std::vector<Command> commands,
                      std::optional<Durability> durability = std::nullopt,
                      std::optional<PreparedDecision> prepared = std::nullopt);
  // Commits one command; returns its decision. Throws as commit().
  Decision commit_one(Command command,
                      std::optional<Durability> durability = std::nullopt);

  // A read snapshot of the views. Throws IOError: a closed store, or a writer
  // that failed (a failed log write or sync, or a failed view commit: the
  // views may lack a group the log holds).
  LmdbViews::Snapshot read() const;

  // Throws IOError naming `operation` when the store is open read-only.
  void check_writer(std::string_view operation) const;
  // True when read() would serve the views: not closed and, for a writer,
  // not failed. Never throws.
  bool usable() const noexcept;
  // Makes every later call throw IOError ("store ... is closed"). A writer
  // needs no mark: its pipeline's state decides every call.
  void mark_closed() noexcept { closed_ = true; }

  Clock& clock() const { return *options_.clock; }
  const DatabaseOptions& options() const { return options_; }
  const std::string& dir() const { return dir_; }

  // Registers `listener` for every later committed group, and `on_close`
  // (when set) for the start of close(); returns its id. Throws IOError for a
  // read-only or closed store, or from a commit listener.
  std::uint64_t add_listener(CommitListener listener,
                             std::function<void()> on_close = {});
  // Unregisters listener `id` (unknown ids are ignored); once this returns it
  // is not running. REQUIRES: not called from a listener.
  void remove_listener(std::uint64_t id);

  // The store's one Queue (docs/write-path.md#the-queues-leases): attach_queue
  // returns false when another is attached; detach_queue ignores a queue that
  // is not.
  bool attach_queue(const Queue* queue);
  void detach_queue(const Queue* queue);
  const Queue* queue() const { return queue_.load(); }

 private:
  LmdbViews& views_;
  CommitPipeline* pipeline_;
  std::string dir_;
  const DatabaseOptions& options_;
  std::atomic<bool> closed_{false};
  std::atomic<const Queue*> queue_{nullptr};
};

// The StoreCore of `database`, for wfstore's own modules (the queue) and
// tests. Valid as long as `database`.
StoreCore& store_core(Database& database);

}  // namespace wfstore
