// The processor loop of docs/semantics.md §4.5: worker threads poll the queue,
// skip messages the dedup ledger already holds, run the handler registered for
// the message type, mark the message processed, ack it; a handler exception
// reschedules it after retry_delay (attempts are kept, so a message that always
// fails reaches max_attempts and the periodic sweep moves it to the DLQ). A
// heartbeat extends the lease while a handler runs.
//
// Dedup: the reference keeps a bloom filter in front of the ledger, but with
// its defaults (dedup_trust_negative_cache off) the filter is only advisory
// and every message is confirmed against the store anyway. wfstore always asks
// the store: is_message_processed() is a single LMDB read, so there is no
// filter, no hydration and no option to trust one.
//
// A handler should make its own state change and its dedup mark in one
// Transaction (docs/semantics.md §6.6); the processor's mark after the handler
// is the reference's non-transactional, idempotent second mark.
//
// Thread-safety: register handlers before start() (and not while
// process_one() runs on another thread); start() and stop() from one
// controlling thread; process_one() and stats() from any thread.

#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "wfstore/queue.h"
#include "wfstore/workflow_store.h"

namespace wfstore {

struct QueueProcessorConfig {
  // How long an idle worker waits in a blocking poll before looking again
  // (also how long stop() may wait for an idle worker). > 0.
  std::chrono::milliseconds poll_frequency{50};
  // Worker threads, 1..1024.
  int max_workers = 10;
  // Delay of the reschedule after a handler exception.
  std::chrono::milliseconds retry_delay{15000};
  // Check is_message_processed(delivery.message_id()) before the handler.
  bool enable_deduplication = true;
  // Extend the lease every lease_duration / 2 while a handler runs.
  bool enable_lock_heartbeat = true;
  // check_and_move_expired() this often; 0 disables the sweep.
  std::chrono::milliseconds dlq_check_interval{30000};
  // cleanup_old_processed_messages(processed_messages_max_age) and
  // cleanup_completed_stage_claims() this often; 0 (default) disables.
  std::chrono::milliseconds retention_sweep_interval{0};
  std::chrono::milliseconds processed_messages_max_age{std::chrono::hours{24}};
};

// A handler for one message type. An exception reschedules the message.
using MessageHandler = std::function<void(const Delivery& delivery)>;

struct QueueProcessorStats {
  std::uint64_t handled = 0;        // handler returned normally
  std::uint64_t deduplicated = 0;   // skipped: already processed
  std::uint64_t failed = 0;         // handler threw (rescheduled)
  std::uint64_t unhandled = 0;      // no handler registered (rescheduled)
  std::uint64_t dead_lettered = 0;  // moved by the processor's sweeps
};

class QueueProcessor {
 public:
  // `store` and `queue` must outlive the processor; `store` must be the
  // WorkflowStore of the queue's Database. Throws InvalidArgumentError naming
  // the field for a config value out of range (max_workers outside 1..1024,
  // poll_frequency <= 0, any other negative duration) and for a store that is
  // not the queue's.
  QueueProcessor(WorkflowStore& store, Queue& queue,
                 QueueProcessorConfig config = {});
  // Stops (as stop()) if running.
  ~QueueProcessor();
  QueueProcessor(const QueueProcessor&) = delete;
  QueueProcessor& operator=(const QueueProcessor&) = delete;

  // Registers `handler` for `message_type` (a name of message_type_names()),
  // replacing an earlier one; `handler_name` is recorded as the dedup mark's
  // handler_type. A message with no handler is rescheduled after retry_delay
  // (and logged), so it cycles until the DLQ sweep takes it, as in the
  // reference. Throws InvalidArgumentError for an unknown type, an empty
  // handler, a handler_name over the string limits, or while started.
  void register_handler(std::string_view message_type, std::string handler_name,
                        MessageHandler handler);

  // Starts max_workers worker threads and, when an interval is set, the
  // sweeper thread (first sweep one interval after start). Sweep failures are
  // logged through the Database's logger. Throws InvalidArgumentError when
  // already started; a stopped processor may be started again.
  void start();
  // Graceful stop: no new polls; waits for running handlers to finish (their
  // messages are marked and acked or rescheduled as usual) and for idle
  // workers' blocking polls (up to poll_frequency). Idempotent. Must not be
  // called from a handler (it joins the workers).
  void stop();

  // One pass of a worker on the calling thread, without blocking: polls one
  // message and processes it (dedup, handler with heartbeat, mark, ack or
  // reschedule). Returns false when none was deliverable. Throws IOError when
  // the poll fails; failures after the poll are logged, not thrown.
  bool process_one();

  // Counters since construction (a consistent snapshot of each counter, not
  // of all together).
  QueueProcessorStats stats() const;

  class Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace wfstore
