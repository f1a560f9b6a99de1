// The store's event-sourced queue (docs/write-path.md#the-queues-leases,
// docs/semantics.md §4): messages are pushed, leased, acked, rescheduled and
// dead-lettered by events in the same log as the workflows, so a transaction's
// push is atomic with its stage writes, and a replay rebuilds the queue
// exactly.
//
// Delivery ids are assigned by the writer at commit: dense, never reused, and
// the message identity for dedup (message_id() renders it as the reference's
// decimal string). Attempts are counted at poll. Delivery order is FIFO by
// (deliver_at, id).
//
// Thread-safety: every method may be called concurrently from any thread.

#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "wfstore/database.h"
#include "wfstore/message.h"

namespace wfstore {

// A polled message with its delivery id and the attempt this delivery counts.
struct Delivery {
  std::uint64_t id = 0;
  int attempts = 0;
  Message message;

  // The dedup identity: the delivery id in decimal.
  std::string message_id() const { return std::to_string(id); }
};

// A message moved to the dead-letter queue; `id` is its delivery id.
struct DeadLetter {
  std::uint64_t id = 0;
  std::string message_type;
  Message message;
  int attempts = 0;
  std::string error;
  // Epoch milliseconds.
  std::int64_t moved_at = 0;
};

class Queue {
 public:
  // Attaches the queue of `database` (options from DatabaseOptions::queue).
  // One Queue per Database at a time. Throws InvalidArgumentError when the
  // database already has one, IOError for a read-only, closed or failed
  // store. `database` must outlive the Queue. Database::close() may run while
  // the Queue exists: a blocked poll_one(timeout) then wakes, and every call
  // after it throws IOError.
  explicit Queue(Database& database);
  ~Queue();
  Queue(const Queue&) = delete;
  Queue& operator=(const Queue&) = delete;

  // Enqueues `message`, deliverable after `delay`; returns its delivery id.
  // The message's max_attempts wins over the queue's when set (Q5 in
  // docs/semantics.md §9). Throws InvalidArgumentError (negative delay,
  // limits), IOError.
  std::uint64_t push(const Message& message, std::chrono::milliseconds delay =
                                                 std::chrono::milliseconds{0});
  // Identical to push() (the reference does not de-duplicate either).
  std::uint64_t ensure(
      const Message& message,
      std::chrono::milliseconds delay = std::chrono::milliseconds{0});

  // Leases the first deliverable message (due, not leased or its lease
  // expired, attempts below its limit), counting an attempt; nullopt when none.
  // A stored payload that no longer parses is moved to the dead-letter queue
  // ("Deserialization failed for message type: {type}") and nullopt returned.
  // Throws IOError.
  std::optional<Delivery> poll_one();

  // As poll_one(), but waits up to `timeout` (real time; <= 0 polls once) for
  // a delivery: woken by a commit that pushes, reschedules or replays, by the
  // next deliver_at and by a lease expiry (no busy polling). deliver_at and
  // lease times follow the store's clock, and the wait for them is their
  // distance from the clock's now. Returns nullopt when the timeout passes.
  // Throws IOError.
  std::optional<Delivery> poll_one(std::chrono::milliseconds timeout);

  // poll_one(); when a message came, callback(delivery) and then ack(). An
  // exception from the callback propagates and the message stays leased until
  // its lease expires. Returns whether a message was handled. Throws IOError.
  bool poll(const std::function<void(const Delivery&)>& callback);

  // Removes the delivery; an unknown or finished id is a no-op that appends
  // nothing. Committed with QueueOptions::lease_durability (as are
  // reschedule, extend_lock and the lease of poll_one). Throws IOError.
  void ack(std::uint64_t delivery_id);
  // Clears the lease and makes the delivery due after `delay`, keeping its
  // attempts. Unknown ids: no-op. Throws InvalidArgumentError for a negative
  // delay.
  void reschedule(std::uint64_t delivery_id, std::chrono::milliseconds delay);
  // Leases the delivery for `duration` from now (the queue's lease duration
  // when nullopt). Returns false for an unknown id. Throws
  // InvalidArgumentError for a duration <= 0.
  bool extend_lock(
      std::uint64_t delivery_id,
      std::optional<std::chrono::milliseconds> duration = std::nullopt);

  // Every queued delivery: delayed, leased and attempt-exhausted ones too.
  std::size_t size() const;
  // Removes every queued delivery (not the dead letters).
  void clear();
  // True when a queued delivery's message has task_id == `task_id` exactly.
  bool has_pending_message_for_task(std::string_view task_id) const;

  // Moves the delivery to the dead-letter queue with `error`. An unknown id
  // logs a warning and appends nothing. Concurrent moves of one delivery yield
  // one dead letter (the others warn). An `error` longer than kMaxStringBytes
  // is truncated at a UTF-8 character boundary rather than rejected, so a long
  // exception text never blocks a dead-letter move. Throws
  // InvalidArgumentError (`error` is not valid UTF-8), IOError.
  void move_to_dlq(std::uint64_t delivery_id,
                   std::string_view error = "Max attempts exceeded");
  // Moves every delivery whose attempts reached its limit ("Exceeded
  // max_attempts ({attempts})"); returns how many moved.
  std::size_t check_and_move_expired();
  // Up to `limit` dead letters, most recently moved first, of `message_type`
  // only when given. A stored payload that no longer parses comes back as a
  // default Message (message_type still names the stored type).
  std::vector<DeadLetter> list_dlq(
      std::size_t limit = 100,
      std::optional<std::string_view> message_type = std::nullopt) const;
  std::size_t dlq_size() const;
  // Requeues the dead letter as a new delivery (new id, attempts 0, due now):
  // it is not deduplicated against the original. False when `id` is unknown.
  bool replay_dlq(std::uint64_t id);
  // Removes every dead letter; returns how many.
  std::size_t clear_dlq();

  // The store this queue belongs to.
  Database& database() const;
  const QueueOptions& options() const;

  class Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace wfstore
