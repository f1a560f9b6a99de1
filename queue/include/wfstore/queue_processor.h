// The processor loop of spec §4.5: worker threads poll the queue, skip
// messages the dedup ledger already holds, run the handler registered for the
// message type, mark the message processed, ack it; a handler exception
// reschedules it after retry_delay (attempts are kept, so a message that always
// fails reaches max_attempts and the periodic sweep moves it to the DLQ). A
// heartbeat extends the lease while a handler runs.
//
// Thread-safety: register handlers before start(); start() and stop() from one
// controlling thread; stats() from any thread.

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
  // How long an idle worker waits in a blocking poll before looking again.
  std::chrono::milliseconds poll_frequency{50};
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
  // `store` and `queue` must outlive the processor. Throws
  // InvalidArgumentError for a config value out of range (max_workers < 1,
  // negative durations).
  QueueProcessor(WorkflowStore& store, Queue& queue,
                 QueueProcessorConfig config = {});
  // Stops (as stop()) if running.
  ~QueueProcessor();
  QueueProcessor(const QueueProcessor&) = delete;
  QueueProcessor& operator=(const QueueProcessor&) = delete;

  // Registers `handler` for `message_type` (a name of message_type_names());
  // `handler_name` is recorded as the dedup mark's handler_type. Throws
  // InvalidArgumentError for an unknown type, or when called after start().
  void register_handler(std::string_view message_type, std::string handler_name,
                        MessageHandler handler);

  // Starts max_workers worker threads and the sweeper. Throws
  // InvalidArgumentError when already started.
  void start();
  // Graceful stop: no new polls; waits for running handlers to finish (their
  // messages are marked and acked or rescheduled as usual). Idempotent.
  void stop();

  // One pass of a worker on the calling thread, without blocking: polls one
  // message and processes it. Returns false when none was deliverable.
  bool process_one();

  QueueProcessorStats stats() const;

  class Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace wfstore
