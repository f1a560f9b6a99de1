// QueueProcessor: the worker loop of docs/semantics.md §4.5 over the store's
// Queue.

#include "wfstore/queue_processor.h"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <exception>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "wfstore/errors.h"
#include "wfstore/logger.h"
#include "wfstore/message.h"
#include "wfstore/model.h"

#include "wfstore_internal/exception_text.h"
#include "wfstore_internal/store_core.h"

namespace wfstore {
namespace {

using std::chrono::milliseconds;
using SteadyTime = std::chrono::steady_clock::time_point;

constexpr int kMaxWorkers = 1024;

// `from` + `wait`, saturated at the clock's last time point: steady_clock
// counts nanoseconds, so an interval near milliseconds::max() would overflow
// the plain sum into the past and turn a wait into a busy loop.
SteadyTime after(SteadyTime from, milliseconds wait) {
  if (wait <= milliseconds{0}) return from;
  if (wait >= std::chrono::floor<milliseconds>(SteadyTime::max() - from)) {
    return SteadyTime::max();
  }
  return from + wait;
}

void require_not_negative(milliseconds value, const char* field) {
  if (value.count() < 0) {
    throw InvalidArgumentError(fmt::format(
        "{}: must not be negative (got {} ms)", field, value.count()));
  }
}

void validate_config(const QueueProcessorConfig& config) {
  if (config.poll_frequency.count() <= 0) {
    throw InvalidArgumentError(
        fmt::format("poll_frequency: must be positive (got {} ms)",
                    config.poll_frequency.count()));
  }
  if (config.max_workers < 1 || config.max_workers > kMaxWorkers) {
    throw InvalidArgumentError(
        fmt::format("max_workers: must be between 1 and {} (got {})",
                    kMaxWorkers, config.max_workers));
  }
  require_not_negative(config.retry_delay, "retry_delay");
  require_not_negative(config.dlq_check_interval, "dlq_check_interval");
  require_not_negative(config.retention_sweep_interval,
                       "retention_sweep_interval");
  require_not_negative(config.processed_messages_max_age,
                       "processed_messages_max_age");
}

// Extends the leases of the deliveries whose handlers are running, each every
// `interval`, from one thread started on first use. end() waits out an
// extension of its delivery that is in flight, so no extension lands after
// the caller acks or reschedules.
class Heartbeat {
 public:
  Heartbeat(Queue& queue, milliseconds interval, Logger logger)
      : queue_(queue), interval_(interval), logger_(std::move(logger)) {}
  ~Heartbeat() {
    {
      std::scoped_lock lock(mu_);
      stopping_ = true;
    }
    cv_.notify_all();
    if (thread_.joinable()) thread_.join();
  }
  Heartbeat(const Heartbeat&) = delete;
  Heartbeat& operator=(const Heartbeat&) = delete;

  // Starts extending `delivery_id`; returns the token for end().
  std::uint64_t begin(std::uint64_t delivery_id) {
    std::uint64_t token = 0;
    {
      std::scoped_lock lock(mu_);
      if (!thread_.joinable()) thread_ = std::thread([this] { run(); });
      token = next_token_++;
      entries_.emplace(
          token,
          Entry{delivery_id, after(std::chrono::steady_clock::now(), interval_),
                false});
    }
    cv_.notify_all();
    return token;
  }

  // Stops extending; returns once no extension of it is running.
  void end(std::uint64_t token) {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [&] {
      auto it = entries_.find(token);
      return it == entries_.end() || !it->second.in_flight;
    });
    entries_.erase(token);
  }

 private:
  struct Entry {
    std::uint64_t delivery_id;
    SteadyTime next_due;
    bool in_flight;
  };

  void run() {
    std::unique_lock lock(mu_);
    while (!stopping_) {
      SteadyTime earliest = SteadyTime::max();
      for (const auto& [token, entry] : entries_) {
        earliest = std::min(earliest, entry.next_due);
      }
      if (earliest == SteadyTime::max()) {
        cv_.wait(lock);
        continue;
      }
      if (std::chrono::steady_clock::now() < earliest) {
        cv_.wait_until(lock, earliest);
        continue;
      }
      const SteadyTime now = std::chrono::steady_clock::now();
      for (auto& [token, entry] : entries_) {
        if (entry.next_due > now || entry.in_flight) continue;
        entry.in_flight = true;
        const std::uint64_t id = entry.delivery_id;
        const std::uint64_t key = token;
        lock.unlock();
        extend(id);
        lock.lock();
        // end() waits for in_flight to clear, so the entry is still there.
        Entry& again = entries_.at(key);
        again.in_flight = false;
        again.next_due = after(std::chrono::steady_clock::now(), interval_);
        cv_.notify_all();
        break;  // entries_ may have changed while unlocked: rescan.
      }
    }
  }

  void extend(std::uint64_t delivery_id) {
    try {
      if (!queue_.extend_lock(delivery_id)) {
        logger_(LogLevel::kWarning,
                fmt::format("lease heartbeat: delivery {} is no longer queued",
                            delivery_id));
      }
    } catch (const std::exception& e) {
      logger_(LogLevel::kError,
              fmt::format("lease heartbeat of delivery {} failed: {}",
                          delivery_id, what_of(e)));
    }
  }

  Queue& queue_;
  const milliseconds interval_;
  const Logger logger_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::map<std::uint64_t, Entry> entries_;  // Guarded by mu_.
  std::uint64_t next_token_ = 1;            // Guarded by mu_.
  bool stopping_ = false;                   // Guarded by mu_.
  std::thread thread_;                      // Started under mu_.
};

}  // namespace

class QueueProcessor::Impl {
 public:
  Impl(WorkflowStore& store, Queue& queue, QueueProcessorConfig config)
      : store_(store),
        queue_(queue),
        config_(config),
        logger_(queue.database().options().logger) {
    validate_config(config_);
    if (&store_ != &queue_.database().workflow_store()) {
      throw InvalidArgumentError(
          "store: must be the WorkflowStore of the queue's Database");
    }
    const milliseconds lease = queue_.options().lease_duration;
    heartbeat_interval_ = std::max(milliseconds{1}, lease / 2);
  }

  ~Impl() { stop(); }
  Impl(const Impl&) = delete;
  Impl& operator=(const Impl&) = delete;

  void register_handler(std::string_view message_type, std::string name,
                        MessageHandler handler) {
    const auto& names = message_type_names();
    if (std::find(names.begin(), names.end(), message_type) == names.end()) {
      throw InvalidArgumentError(
          fmt::format("message_type: unknown message type '{}'", message_type));
    }
    validate_string(name, "handler_name");
    if (!handler) {
      throw InvalidArgumentError("handler: must not be empty");
    }
    std::scoped_lock lock(control_mu_);
    if (running_) {
      throw InvalidArgumentError(
          "register_handler: the processor is already started");
    }
    handlers_.insert_or_assign(std::string(message_type),
                               Registered{std::move(name), std::move(handler)});
  }

  void start() {
    std::scoped_lock lock(control_mu_);
    if (running_) {
      throw InvalidArgumentError("start: the processor is already started");
    }
    running_ = true;
    {
      std::scoped_lock stop_lock(stop_mu_);
      stopping_ = false;
    }
    workers_.reserve(static_cast<std::size_t>(config_.max_workers));
    for (int i = 0; i < config_.max_workers; ++i) {
      workers_.emplace_back([this] { worker_loop(); });
    }
    if (config_.dlq_check_interval.count() > 0 ||
        config_.retention_sweep_interval.count() > 0) {
      sweeper_ = std::thread([this] { sweeper_loop(); });
    }
  }

  void stop() {
    std::scoped_lock lock(control_mu_);
    if (!running_) return;
    {
      std::scoped_lock stop_lock(stop_mu_);
      stopping_ = true;
    }
    stop_cv_.notify_all();
    for (std::thread& worker : workers_) worker.join();
    workers_.clear();
    if (sweeper_.joinable()) sweeper_.join();
    running_ = false;
  }

  bool process_one() {
    std::optional<Delivery> delivery = queue_.poll_one();
    if (!delivery) return false;
    process(*delivery);
    return true;
  }

  QueueProcessorStats stats() const {
    QueueProcessorStats out;
    out.handled = handled_.load();
    out.deduplicated = deduplicated_.load();
    out.failed = failed_.load();
    out.unhandled = unhandled_.load();
    out.dead_lettered = dead_lettered_.load();
    return out;
  }

 private:
  struct Registered {
    std::string name;
    MessageHandler handler;
  };

  bool stopping() {
    std::scoped_lock lock(stop_mu_);
    return stopping_;
  }

  // Sleeps up to `duration` or until stop(); returns whether stopping.
  bool wait_or_stop(milliseconds duration) {
    std::unique_lock lock(stop_mu_);
    return stop_cv_.wait_until(
        lock, after(std::chrono::steady_clock::now(), duration),
        [this] { return stopping_; });
  }

  void worker_loop() {
    while (!stopping()) {
      std::optional<Delivery> delivery;
      try {
        delivery = queue_.poll_one(config_.poll_frequency);
      } catch (const std::exception& e) {
        if (store_unusable()) {
          // The store was closed (or its writer failed): no poll can succeed
          // until it is reopened, which takes a new Queue and processor.
          if (!unusable_logged_.exchange(true)) {
            logger_(LogLevel::kWarning,
                    fmt::format("queue processor idle until stop(): {}",
                                what_of(e)));
          }
          std::unique_lock lock(stop_mu_);
          stop_cv_.wait(lock, [this] { return stopping_; });
          return;
        }
        logger_(LogLevel::kError,
                fmt::format("queue poll failed: {}", what_of(e)));
        wait_or_stop(config_.poll_frequency);
        continue;
      }
      // A delivery polled while stop() began is processed all the same: it
      // is leased, and dropping it would hide it until its lease expired.
      if (delivery) process(*delivery);
    }
  }

  bool store_unusable() const {
    return !store_core(queue_.database()).usable();
  }

  void sweeper_loop() {
    const auto now = std::chrono::steady_clock::now;
    const milliseconds dlq_every = config_.dlq_check_interval;
    const milliseconds retention_every = config_.retention_sweep_interval;
    SteadyTime next_dlq =
        dlq_every.count() > 0 ? after(now(), dlq_every) : SteadyTime::max();
    SteadyTime next_retention = retention_every.count() > 0
                                    ? after(now(), retention_every)
                                    : SteadyTime::max();
    while (true) {
      const SteadyTime next = std::min(next_dlq, next_retention);
      {
        std::unique_lock lock(stop_mu_);
        if (stop_cv_.wait_until(lock, next, [this] { return stopping_; })) {
          return;
        }
      }
      if (now() >= next_dlq) {
        sweep_dead_letters();
        next_dlq = after(now(), dlq_every);
      }
      if (now() >= next_retention) {
        sweep_retention();
        next_retention = after(now(), retention_every);
      }
    }
  }

  void sweep_dead_letters() {
    try {
      const std::size_t moved = queue_.check_and_move_expired();
      dead_lettered_ += moved;
    } catch (const std::exception& e) {
      logger_(LogLevel::kError,
              fmt::format("dead-letter sweep failed: {}", what_of(e)));
    }
  }

  void sweep_retention() {
    try {
      store_.cleanup_old_processed_messages(config_.processed_messages_max_age);
      store_.cleanup_completed_stage_claims();
    } catch (const std::exception& e) {
      logger_(LogLevel::kError,
              fmt::format("retention sweep failed: {}", what_of(e)));
    }
  }

  // Steps 2-7 of docs/semantics.md §4.5 for one polled delivery. Never throws:
  // a failure to ack or reschedule is logged and leaves the lease to expire.
  void process(const Delivery& delivery) {
    const std::string message_id = delivery.message_id();
    try {
      if (config_.enable_deduplication &&
          store_.is_message_processed(message_id)) {
        queue_.ack(delivery.id);
        ++deduplicated_;
        return;
      }
    } catch (const std::exception& e) {
      reschedule_after_error(delivery, what_of(e));
      ++failed_;
      return;
    }

    const std::string_view type = message_type_name(delivery.message);
    const auto found = handlers_.find(std::string(type));
    if (found == handlers_.end()) {
      logger_(LogLevel::kWarning,
              fmt::format("no handler registered for message type {}; "
                          "delivery {} rescheduled",
                          type, delivery.id));
      reschedule_after_error(delivery, "no handler registered");
      ++unhandled_;
      return;
    }
    const Registered& registered = found->second;

    std::optional<std::uint64_t> beat;
    if (config_.enable_lock_heartbeat) beat = heartbeat().begin(delivery.id);
    std::string error;
    try {
      registered.handler(delivery);
    } catch (const std::exception& e) {
      error = what_of(e);
      if (error.empty()) error = "handler threw";
    } catch (...) {
      error = "handler threw a non-standard exception";
    }
    if (beat) heartbeat().end(*beat);
    if (!error.empty()) {
      reschedule_after_error(delivery, error);
      ++failed_;
      return;
    }

    try {
      const std::string_view execution_id =
          message_execution_id(delivery.message);
      store_.mark_message_processed(
          message_id, registered.name,
          execution_id.empty() ? std::nullopt
                               : std::optional<std::string>(execution_id));
      queue_.ack(delivery.id);
      ++handled_;
    } catch (const std::exception& e) {
      reschedule_after_error(delivery, what_of(e));
      ++failed_;
    }
  }

  void reschedule_after_error(const Delivery& delivery,
                              std::string_view error) {
    try {
      queue_.reschedule(delivery.id, config_.retry_delay);
    } catch (const std::exception& e) {
      logger_(LogLevel::kError,
              fmt::format("rescheduling delivery {} after \"{}\" failed: {}",
                          delivery.id, error, what_of(e)));
    }
  }

  Heartbeat& heartbeat() {
    std::call_once(heartbeat_once_, [this] {
      heartbeat_ =
          std::make_unique<Heartbeat>(queue_, heartbeat_interval_, logger_);
    });
    return *heartbeat_;
  }

  WorkflowStore& store_;
  Queue& queue_;
  const QueueProcessorConfig config_;
  const Logger logger_;
  milliseconds heartbeat_interval_{1};

  // Written by register_handler() only while not running.
  std::map<std::string, Registered, std::less<>> handlers_;

  std::mutex control_mu_;  // Serializes start(), stop(), register_handler().
  bool running_ = false;   // Guarded by control_mu_.
  std::vector<std::thread> workers_;  // Guarded by control_mu_.
  std::thread sweeper_;               // Guarded by control_mu_.

  std::mutex stop_mu_;
  std::condition_variable stop_cv_;
  bool stopping_ = false;  // Guarded by stop_mu_.

  std::once_flag heartbeat_once_;
  std::unique_ptr<Heartbeat> heartbeat_;

  std::atomic<std::uint64_t> handled_{0};
  std::atomic<std::uint64_t> deduplicated_{0};
  std::atomic<std::uint64_t> failed_{0};
  std::atomic<std::uint64_t> unhandled_{0};
  std::atomic<std::uint64_t> dead_lettered_{0};
  std::atomic<bool> unusable_logged_{false};
};

QueueProcessor::QueueProcessor(WorkflowStore& store, Queue& queue,
                               QueueProcessorConfig config)
    : impl_(std::make_unique<Impl>(store, queue, config)) {}

QueueProcessor::~QueueProcessor() = default;

void QueueProcessor::register_handler(std::string_view message_type,
                                      std::string handler_name,
                                      MessageHandler handler) {
  impl_->register_handler(message_type, std::move(handler_name),
                          std::move(handler));
}

void QueueProcessor::start() { impl_->start(); }

void QueueProcessor::stop() { impl_->stop(); }

bool QueueProcessor::process_one() { return impl_->process_one(); }

QueueProcessorStats QueueProcessor::stats() const { return impl_->stats(); }

}  // namespace wfstore
