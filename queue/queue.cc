// Queue::Impl: every operation is one queue command committed through the
// store's StoreCore (its rules live in store/command/queue_decide.cc); reads
// use a snapshot from it. The blocking poll waits on a condition variable that
// a commit listener signals when a committed group made a delivery due.

#include "wfstore/queue.h"

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <exception>
#include <limits>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "wfstore/errors.h"
#include "wfstore/limits.h"
#include "wfstore/logger.h"

#include "wfstore_internal/commands.h"
#include "wfstore_internal/decide.h"
#include "wfstore_internal/json_check.h"
#include "wfstore_internal/lmdb_views.h"
#include "wfstore_internal/store_core.h"
#include "wfstore_internal/views.h"

namespace wfstore {
namespace {

// `from` + `wait`, saturated at the clock's last time point: a timeout as
// long as milliseconds holds means "no deadline", never one in the past
// (steady_clock counts nanoseconds, so the plain sum overflows).
std::chrono::steady_clock::time_point deadline_after(
    std::chrono::steady_clock::time_point from,
    std::chrono::milliseconds wait) {
  using SteadyClock = std::chrono::steady_clock;
  if (wait <= std::chrono::milliseconds{0}) return from;
  const SteadyClock::duration left = SteadyClock::time_point::max() - from;
  if (wait >= std::chrono::floor<std::chrono::milliseconds>(left)) {
    return SteadyClock::time_point::max();
  }
  return from + wait;
}

// `text` cut to at most kMaxStringBytes without splitting a UTF-8 sequence.
std::string_view truncate_utf8(std::string_view text) {
  if (text.size() <= kMaxStringBytes) return text;
  std::size_t end = kMaxStringBytes;
  // Back off over continuation bytes (10xxxxxx) to the start of a sequence.
  while (end > 0 && (static_cast<unsigned char>(text[end]) & 0xC0U) == 0x80U) {
    --end;
  }
  return text.substr(0, end);
}

// The message stored as `type` with `payload_cbor`, or nullopt when it no
// longer parses.
std::optional<Message> parse_stored(std::string_view type,
                                    std::string_view payload_cbor) {
  try {
    // Checked first, so the decode is bounded (a damaged payload of deeply
    // nested heads would otherwise recurse without limit).
    internal::check_json_cbor(payload_cbor, "payload");
    return message_from_wire(type, nlohmann::json::from_cbor(payload_cbor));
  } catch (const CorruptionError&) {
    return std::nullopt;
  } catch (const InvalidArgumentError&) {
    return std::nullopt;
  } catch (const nlohmann::json::exception&) {
    return std::nullopt;
  }
}

}  // namespace

class Queue::Impl {
 public:
  Impl(const Queue* queue, Database& database)
      : queue_(queue), database_(database), core_(store_core(database)) {
    core_.check_writer("a Queue");
    if (!core_.attach_queue(queue_)) {
      throw InvalidArgumentError("the store already has a Queue");
    }
    try {
      // on_close: close() wakes a waiting poll, which then finds the store
      // closed and throws IOError.
      listener_id_ = core_.add_listener(
          [this](const CommitNotice& notice) {
            if (notice.queue_changed) wake();
          },
          [this] { wake(); });
    } catch (...) {
      core_.detach_queue(queue_);
      throw;
    }
  }

  ~Impl() {
    core_.remove_listener(listener_id_);
    core_.detach_queue(queue_);
  }

  Impl(const Impl&) = delete;
  Impl& operator=(const Impl&) = delete;

  // The StoreCore lives as long as the Database, closed or not: after
  // Database::close() its calls throw IOError.
  Decision commit(Command command) {
    return core_.commit_one(std::move(command));
  }

  Decision commit_lease(Command command) {
    return core_.commit_one(std::move(command), options().lease_durability);
  }

  LmdbViews::Snapshot read() const { return core_.read(); }

  std::optional<Delivery> poll_one() {
    const QueueOptions& queue_options = options();
    Decision decision = commit_lease(
        LeaseNext{queue_options.lease_duration.count(),
                  static_cast<std::int64_t>(queue_options.max_attempts)});
    if (!decision.leased) return std::nullopt;
    LeasedMessage& leased = *decision.leased;
    std::optional<Message> message =
        parse_stored(leased.message_type, leased.payload_cbor);
    if (!message) {
      move_to_dlq(leased.delivery_id,
                  fmt::format("Deserialization failed for message type: {}",
                              leased.message_type));
      return std::nullopt;
    }
    return Delivery{leased.delivery_id, static_cast<int>(leased.attempts),
                    std::move(*message)};
  }

  std::optional<Delivery> poll_one(std::chrono::milliseconds timeout) {
    using SteadyClock = std::chrono::steady_clock;
    const SteadyClock::time_point deadline =
        deadline_after(SteadyClock::now(), timeout);
    Clock& clock = core_.clock();
    for (;;) {
      std::uint64_t generation = 0;
      {
        std::scoped_lock lock(mu_);
        generation = generation_;
      }
      // A commit after this point bumps the generation, so the wait below
      // cannot miss it. The store's time is read before the poll: the due
      // time below is looked up from it, so a lease or deliver_at that passes
      // between the poll and the lookup is still found (a lookup from a later
      // time skips what fell due in between, and the poll would sleep until
      // its deadline).
      const std::int64_t store_now = clock.now_ms();
      if (std::optional<Delivery> delivery = poll_one()) return delivery;
      const SteadyClock::time_point now = SteadyClock::now();
      if (now >= deadline) return std::nullopt;
      SteadyClock::time_point wake = deadline;
      const std::optional<std::int64_t> due =
          next_queue_due_time(read(), store_now);
      if (due) {
        // Due times saturate at the end of time: the distance is taken in
        // milliseconds and the sum saturated, never overflowed into the past.
        std::int64_t distance = 1;
        if (*due > store_now &&
            __builtin_sub_overflow(*due, store_now, &distance)) {
          distance = std::numeric_limits<std::int64_t>::max();
        }
        wake = std::min(
            wake, deadline_after(now, std::chrono::milliseconds{distance}));
      }
      std::unique_lock lock(mu_);
      cv_.wait_until(lock, wake, [&] { return generation_ != generation; });
    }
  }

  void move_to_dlq(std::uint64_t delivery_id, std::string_view error) {
    const Decision decision = commit(
        MoveToDeadLetters{delivery_id, std::string(truncate_utf8(error))});
    if (!decision.result) {
      warn(fmt::format(
          "move_to_dlq: delivery {} is not in the queue; nothing moved",
          delivery_id));
    }
  }

  // Makes a waiting poll_one(timeout) look again.
  void wake() {
    {
      std::scoped_lock lock(mu_);
      ++generation_;
    }
    cv_.notify_all();
  }

  void warn(std::string_view message) const {
    const Logger& logger = core_.options().logger;
    if (logger) logger(LogLevel::kWarning, message);
  }

  const QueueOptions& options() const { return core_.options().queue; }
  Database& database() const { return database_; }

 private:
  const Queue* queue_;
  Database& database_;
  StoreCore& core_;
  std::uint64_t listener_id_ = 0;

  std::mutex mu_;
  std::condition_variable cv_;
  // Bumped by each committed group that made a delivery due, and by close().
  std::uint64_t generation_ = 0;  // Guarded by mu_.
};

Queue::Queue(Database& database)
    : impl_(std::make_unique<Impl>(this, database)) {}

Queue::~Queue() = default;

std::uint64_t Queue::push(const Message& message,
                          std::chrono::milliseconds delay) {
  return impl_->commit(PushMessage{message, delay.count()}).delivery_id;
}

std::uint64_t Queue::ensure(const Message& message,
                            std::chrono::milliseconds delay) {
  return push(message, delay);
}

std::optional<Delivery> Queue::poll_one() { return impl_->poll_one(); }

std::optional<Delivery> Queue::poll_one(std::chrono::milliseconds timeout) {
  return impl_->poll_one(timeout);
}

bool Queue::poll(const std::function<void(const Delivery&)>& callback) {
  std::optional<Delivery> delivery = impl_->poll_one();
  if (!delivery) return false;
  callback(*delivery);
  ack(delivery->id);
  return true;
}

void Queue::ack(std::uint64_t delivery_id) {
  impl_->commit_lease(AckMessage{delivery_id});
}

void Queue::reschedule(std::uint64_t delivery_id,
                       std::chrono::milliseconds delay) {
  impl_->commit_lease(RescheduleMessage{delivery_id, delay.count()});
}

bool Queue::extend_lock(std::uint64_t delivery_id,
                        std::optional<std::chrono::milliseconds> duration) {
  const std::chrono::milliseconds lease =
      duration.value_or(impl_->options().lease_duration);
  return impl_->commit_lease(ExtendLease{delivery_id, lease.count()}).result;
}

std::size_t Queue::size() const { return queue_size(impl_->read()); }

void Queue::clear() { impl_->commit(ClearQueue{}); }

bool Queue::has_pending_message_for_task(std::string_view task_id) const {
  return wfstore::has_pending_message_for_task(impl_->read(), task_id);
}

void Queue::move_to_dlq(std::uint64_t delivery_id, std::string_view error) {
  impl_->move_to_dlq(delivery_id, error);
}

std::size_t Queue::check_and_move_expired() {
  return impl_
      ->commit(MoveExpiredToDeadLetters{
          static_cast<std::int64_t>(impl_->options().max_attempts)})
      .count;
}

std::vector<DeadLetter> Queue::list_dlq(
    std::size_t limit, std::optional<std::string_view> message_type) const {
  std::vector<StoredDeadLetter> stored =
      list_dead_letters(impl_->read(), limit, message_type);
  std::vector<DeadLetter> letters;
  letters.reserve(stored.size());
  for (StoredDeadLetter& s : stored) {
    DeadLetter letter;
    letter.id = s.id;
    letter.message =
        parse_stored(s.message_type, s.payload_cbor).value_or(Message{});
    letter.message_type = std::move(s.message_type);
    letter.attempts = static_cast<int>(s.attempts);
    letter.error = std::move(s.error);
    letter.moved_at = s.moved_at;
    letters.push_back(std::move(letter));
  }
  return letters;
}

std::size_t Queue::dlq_size() const { return dead_letter_count(impl_->read()); }

bool Queue::replay_dlq(std::uint64_t id) {
  return impl_->commit(ReplayDeadLetter{id}).result;
}

std::size_t Queue::clear_dlq() {
  return impl_->commit(ClearDeadLetters{}).count;
}

Database& Queue::database() const { return impl_->database(); }

const QueueOptions& Queue::options() const { return impl_->options(); }

}  // namespace wfstore
