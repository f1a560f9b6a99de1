// Reacting to what a store records (docs/subscriptions.md):
//
// - EventBus: in-process subscribers called after each commit with its
//   events: exactly once per committed event, in LSN order, never for a
//   rolled-back or rejected commit; sync or async (each async subscriber
//   drained by at most one worker at a time, so it sees commit order too);
//   filters by event type, entity kind and workflow; error isolation.
// - DurableSubscriptions: named subscriptions whose checkpoint (the last
//   LSN handled) lives in the store directory, read at-least-once from the
//   log, resuming after a crash where the checkpoint says, never advancing
//   past an event whose handler threw.
// - follow_events(): every event after an LSN, then each new one as commits
//   become visible, until told to stop (`wfstore log --follow`).
//
// All three work on a writer open and on a read-only open, which follows the
// writer process's commits as they reach its views (polled every
// poll_interval). The spec's bus, subscription manager and stream are
// docs/semantics.md §7.7, §7.8 and §7.13.

#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "wfstore/errors.h"
#include "wfstore/event.h"

namespace wfstore {

class Database;

// Which events a subscriber gets: every set criterion must hold (an AND);
// empty criteria select everything.
struct SubscriptionFilter {
  // Events of any of these types; empty: every type.
  std::vector<EventType> types;
  // Events that touch an entity of any of these kinds (event_entities(), as
  // History's entity queries: a StageUpdated touches its workflow, its stage
  // and the tasks it lists); empty: every event.
  std::vector<EntityKind> entity_kinds;
  // Events whose envelope names this workflow.
  std::optional<std::string> workflow_id;

  // True when `event` passes the filter.
  bool matches(const Event& event) const;
};

// Called with each event a subscriber gets; the event is valid during the
// call only.
using EventHandler = std::function<void(const Event& event)>;

// Called when a subscriber's handler throws: the subscription id, the event
// and what was thrown. An exception from it is logged and dropped.
using SubscriberErrorHandler =
    std::function<void(const std::string& subscription_id, const Event& event,
                       std::exception_ptr error)>;

// How an EventBus subscriber is called.
enum class DeliveryMode : std::uint8_t {
  // On the thread that publishes: the committing thread of a writer (after
  // the commit's callers were woken; the next commits' notices wait for it,
  // so it must be quick and must not commit to the same store: that throws
  // IOError), the bus's follower thread of a read-only open, or the caller
  // of publish().
  kSync = 0,
  // On one of the bus's workers: the subscriber's own FIFO queue, drained by
  // at most one worker at a time, so it sees events in publish order; it may
  // commit to the store.
  kAsync = 1,
};

struct EventBusStats {
  std::uint64_t published = 0;  // events published (commits' and publish())
  std::uint64_t delivered = 0;  // handler calls that returned
  std::uint64_t errors = 0;     // handler calls that threw
  std::uint64_t active = 0;     // subscriptions (enabled or not)
  // The last LSN published from the store (0: none yet).
  std::uint64_t last_lsn = 0;
};

struct EventBusOptions {
  // Worker threads for async subscribers (started on first use). >= 1.
  std::size_t max_workers = 4;
  // Called when a handler throws (besides counting it). Empty: the error is
  // logged through the store's logger (a bus without a store: dropped).
  SubscriberErrorHandler error_handler;
  // A read-only open: how often the follower thread looks for new commits
  // in the views. > 0.
  std::chrono::milliseconds poll_interval{2};
};

// An in-process event bus, attached to a store or standalone (publish()).
//
// Attached to a writer open, it is a commit listener handed each group's
// events by the commit pipeline (no log read). Attached to a read-only open,
// a follower thread polls the views' applied LSN and publishes each new
// commit's events, read from the log in LSN order, starting after the LSN
// the views held at construction.
//
// Thread-safety: every method may be called concurrently, except that
// shutdown(), reset() and the destructor must not be called from a
// handler. Lifetime: the Database must outlive the bus; handlers are not
// called once shutdown() or the destructor returned.
class EventBus {
 public:
  // A bus fed only by publish().
  explicit EventBus(EventBusOptions options = {});
  // A bus fed by `database`'s commits (and publish()). Throws IOError for a
  // closed store, InvalidArgumentError for bad options.
  explicit EventBus(Database& database, EventBusOptions options = {});
  // shutdown(true).
  ~EventBus();
  EventBus(const EventBus&) = delete;
  EventBus& operator=(const EventBus&) = delete;

  // Adds subscription `id` (replacing one of the same id) for the events
  // published after this returns. Throws InvalidArgumentError for an empty
  // id or handler.
  void subscribe(const std::string& id, EventHandler handler,
                 SubscriptionFilter filter = {},
                 DeliveryMode mode = DeliveryMode::kSync);
  // Removes subscription `id`; returns false when there is none. Events
  // already queued for an async subscriber are dropped; a handler call in
  // progress finishes.
  bool unsubscribe(const std::string& id);
  // A disabled subscription stays but gets no event published meanwhile.
  // Return false for an unknown id.
  bool enable_subscription(const std::string& id);
  bool disable_subscription(const std::string& id);
  // The subscription ids, sorted.
  std::vector<std::string> subscriptions() const;

  // Delivers `event` to the matching enabled subscribers as a commit's event
  // would be (counts in stats().published). Ignored after shutdown().
  void publish(const Event& event);
  void publish_batch(const std::vector<Event>& events);

  EventBusStats stats() const;

  // Blocks until every async subscriber's queue is empty and no handler call
  // runs (events published meanwhile included); false if `timeout` passed.
  bool wait_idle(std::chrono::milliseconds timeout);

  // Stops publishing: later commits and publish() calls are ignored; with
  // `wait`, the async queues are drained first, otherwise dropped. Stops
  // the workers and the follower thread. Idempotent.
  void shutdown(bool wait = true);
  // Drops every subscription, zeroes the stats (last_lsn included) and ends
  // a shutdown: commits after this returns are published again.
  void reset();

  class Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

// Where a new durable subscription starts.
struct StartFrom {
  enum class Kind : std::uint8_t { kBeginning, kLatest, kLsn };
  Kind kind = Kind::kLatest;
  std::uint64_t lsn = 0;  // kLsn: the first event handled is lsn + 1

  static StartFrom beginning() { return {Kind::kBeginning, 0}; }
  static StartFrom latest() { return {Kind::kLatest, 0}; }
  static StartFrom after(std::uint64_t lsn) { return {Kind::kLsn, lsn}; }
};

// A durable subscription as stored.
struct SubscriptionStatus {
  std::string name;
  SubscriptionFilter filter;
  // The last LSN handled (or skipped as not matching); 0: none.
  std::uint64_t checkpoint = 0;
  // The store's current LSN (the views') and current_lsn - checkpoint.
  std::uint64_t current_lsn = 0;
  std::uint64_t lag = 0;
  std::int64_t created_ms = 0;  // epoch milliseconds, the store's clock
  std::int64_t updated_ms = 0;
};

// No durable subscription of that name.
class SubscriptionNotFoundError : public NotFoundError {
 public:
  explicit SubscriptionNotFoundError(const std::string& message)
      : NotFoundError(ErrorCode::kSubscriptionNotFound, message) {}
};

// The handler of a durable subscription threw: `lsn` is the event, the
// checkpoint stayed at `checkpoint`. The original exception is nested
// (std::rethrow_if_nested).
class SubscriptionHandlerError : public Error {
 public:
  SubscriptionHandlerError(const std::string& message, std::uint64_t lsn,
                           std::uint64_t checkpoint)
      : Error(ErrorCode::kSubscriberFailed, message),
        lsn_(lsn),
        checkpoint_(checkpoint) {}
  std::uint64_t lsn() const noexcept { return lsn_; }
  std::uint64_t checkpoint() const noexcept { return checkpoint_; }

 private:
  std::uint64_t lsn_;
  std::uint64_t checkpoint_;
};

// The durable subscriptions of one store. Each is a small checksummed file
// `<store>/subscriptions/<name>.sub`, replaced atomically (write, fdatasync,
// rename, fsync of the directory) whenever its checkpoint advances, so a
// read-only process keeps its own checkpoints without being the writer. One
// consumer at a time per subscription: the process that processes one holds
// `<name>.lock` (released when it exits, a SIGKILL included). On a writer
// open, a checkpoint write first fdatasyncs the log up to the views (a
// buffered commit's events are handed out before the syncer runs), so it
// never passes the log a machine crash leaves; a read-only open cannot sync
// a writer process's log, so beside a Durability::kBuffered writer its
// checkpoint can (docs/subscriptions.md "Crash safety").
//
// Names: 1-100 characters of [A-Za-z0-9._-], not starting with '.'.
//
// Thread-safety: every method may be called concurrently; calls on one
// subscription are serialized. Lifetime: `database` must outlive this.
// Every method throws IOError for a closed store or a failed file
// operation, CorruptionError for a damaged subscription file, and nothing
// is changed on any error.
class DurableSubscriptions {
 public:
  struct Options {
    // Events read from the log per batch (one checkpoint write per batch).
    // >= 1.
    std::size_t batch_size = 100;
    // How often run() looks for new commits when caught up. > 0.
    std::chrono::milliseconds poll_interval{2};
  };

  explicit DurableSubscriptions(Database& database);
  DurableSubscriptions(Database& database, Options options);
  ~DurableSubscriptions();
  DurableSubscriptions(const DurableSubscriptions&) = delete;
  DurableSubscriptions& operator=(const DurableSubscriptions&) = delete;

  // Creates subscription `name` (replacing one of that name, as the
  // reference's INSERT OR REPLACE) with its checkpoint at `start`
  // (beginning: 0; latest: the current LSN). Returns its status. Throws
  // InvalidArgumentError for a bad name, a start LSN beyond the current
  // LSN; StoreLockedError when a consumer holds it.
  SubscriptionStatus create(const std::string& name, StartFrom start,
                            const SubscriptionFilter& filter = {});
  // Deletes subscription `name`. Throws SubscriptionNotFoundError for an unknown name,
  // StoreLockedError when a consumer holds it.
  void remove(const std::string& name);
  // The status of `name`. Throws SubscriptionNotFoundError for an unknown name.
  SubscriptionStatus status(const std::string& name) const;
  bool exists(const std::string& name) const;
  // The names, sorted.
  std::vector<std::string> list() const;

  // One batch: reads up to batch_size events after the checkpoint, calls
  // `handler` with the matching ones in LSN order, then writes the
  // checkpoint past the whole batch (non-matching events included). Returns
  // how many events the handler got. When the handler throws, the checkpoint
  // stays where it was (the batch's events are delivered again: at least
  // once) and SubscriptionHandlerError is thrown. Throws
  // SubscriptionNotFoundError for an unknown name, InvalidArgumentError for a checkpoint beyond the
  // store's current LSN (a subscription of another store state),
  // StoreLockedError when another process or thread consumes it.
  std::size_t process_once(const std::string& name,
                           const EventHandler& handler);
  // process_once() until the checkpoint reaches the current LSN of the
  // call's start. Returns the events handled. Throws as process_once().
  std::size_t catch_up(const std::string& name, const EventHandler& handler);
  // catch_up(), then follows new commits (polling) until `stop` returns
  // true (checked between batches and polls). Returns the events handled.
  // Throws as process_once().
  std::size_t run(const std::string& name, const EventHandler& handler,
                  const std::function<bool()>& stop);

  class Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

// Calls `visit` with every event of `database` after `after_lsn` in LSN
// order, then with each later committed event as it reaches the views,
// polling every `poll_interval`, until `stop` returns true (checked between
// batches and polls) or `visit` returns false. Returns the LSN of the last
// event visited (or `after_lsn`). Throws InvalidArgumentError when
// `after_lsn` is beyond the current LSN, IOError, CorruptionError, and what
// `visit` throws.
std::uint64_t follow_events(
    Database& database, std::uint64_t after_lsn,
    const std::function<bool(const Event&)>& visit,
    const std::function<bool()>& stop,
    std::chrono::milliseconds poll_interval = std::chrono::milliseconds{2});

// One workflow's events: its stored history, then live
// (stabilize's WorkflowStream, docs/semantics.md §7.13).
//
// Thread-safety: one thread per stream. Lifetime: `database` must outlive it.
class WorkflowStream {
 public:
  WorkflowStream(Database& database, std::string workflow_id);

  // The workflow's events so far, in LSN order.
  std::vector<Event> replay() const;

  enum class Source : std::uint8_t { kReplay, kLive };
  struct Item {
    Event event;
    Source source = Source::kLive;
  };
  enum class End : std::uint8_t {
    kTerminal,  // the workflow reached a complete status or was deleted
    kTimeout,
    kStopped,  // `visit` returned false
  };

  // With `include_history`, visits the stored events first (kReplay), then
  // each new event of the workflow as it commits (kLive), each LSN once, in
  // LSN order. Ends after the event that moves the workflow to a complete
  // status (is_complete(): SUCCEEDED, TERMINAL, CANCELED, ...) or deletes
  // it (visited first); a workflow already complete in its history ends at
  // once. Ends with kTimeout when `timeout` passes without an event to visit
  // (counted from the last one visited, or from the call; as the
  // reference's timeout, time without new events; nullopt: never).
  // Throws InvalidArgumentError for an id that is not a valid key, and what
  // `visit` throws.
  End follow(const std::function<bool(const Item&)>& visit,
             bool include_history = true,
             std::optional<std::chrono::milliseconds> timeout = std::nullopt,
             std::chrono::milliseconds poll_interval =
                 std::chrono::milliseconds{2}) const;

 private:
  Database& database_;
  std::string workflow_id_;
};

// True when `event` moves its workflow to a complete status or deletes it
// (what ends WorkflowStream::follow()).
bool ends_workflow(const Event& event);

}  // namespace wfstore
