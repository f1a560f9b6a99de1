// EventBus: subscriptions, sync delivery on the publishing thread, async
// delivery through per-subscriber FIFO queues drained by a small worker pool
// (a subscriber is in the pool's ready queue at most once, so at most one
// worker drains it), and the two feeds: the commit pipeline's events
// listener (a writer open) or a follower thread over the views (read-only).

#include <algorithm>
#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <thread>
#include <utility>

#include <fmt/format.h>

#include "wfstore/database.h"
#include "wfstore/errors.h"
#include "wfstore/subscriptions.h"

#include "store/database_impl.h"
#include "wfstore_internal/committed_events.h"
#include "wfstore_internal/exception_text.h"

namespace wfstore {
namespace {

// Events the follower thread reads per batch.
constexpr std::size_t kFollowerBatch = 1024;

struct Subscriber {
  std::string id;
  EventHandler handler;
  SubscriptionFilter filter;
  DeliveryMode mode = DeliveryMode::kSync;
  // The rest is guarded by the bus's mu_.
  bool enabled = true;
  bool removed = false;
  std::deque<std::shared_ptr<const Event>> pending;
  bool queued = false;  // in the ready queue or being drained
};

}  // namespace

class EventBus::Impl {
 public:
  explicit Impl(EventBusOptions options) : options_(std::move(options)) {
    if (options_.max_workers == 0) {
      throw InvalidArgumentError("max_workers must be at least 1");
    }
    if (options_.poll_interval.count() <= 0) {
      throw InvalidArgumentError(
          fmt::format("poll_interval must be positive (got {} ms)",
                      options_.poll_interval.count()));
    }
  }

  ~Impl() {
    detach();
    shutdown(true);
  }
  Impl(const Impl&) = delete;
  Impl& operator=(const Impl&) = delete;

  void attach(Database& database) {
    database_ = &database;
    logger_ = database.options().logger;
    Database::Impl& impl = database_impl(database);
    if (CommitPipeline* pipeline = impl.pipeline()) {
      listener_ = pipeline->add_events_listener(
          [this](const CommitNotice&, const std::vector<Event>& events) {
            publish(events.data(), events.size(), true);
          });
      return;
    }
    // A read-only open: start after what the views hold now.
    std::uint64_t start = read_committed_events(database, 0, 0).current_lsn;
    {
      const std::scoped_lock lock(mu_);
      stats_.last_lsn = start;
    }
    follower_ = std::thread([this, start] { follow(start); });
  }

  void subscribe(const std::string& id, EventHandler handler,
                 SubscriptionFilter filter, DeliveryMode mode) {
    if (id.empty())
      throw InvalidArgumentError("subscribe: the subscription id is empty");
    if (!handler) {
      throw InvalidArgumentError(
          fmt::format("subscribe '{}': the handler is empty", id));
    }
    auto sub = std::make_shared<Subscriber>();
    sub->id = id;
    sub->handler = std::move(handler);
    sub->filter = std::move(filter);
    sub->mode = mode;
    const std::scoped_lock lock(mu_);
    auto [it, inserted] = subs_.try_emplace(id, sub);
    if (!inserted) {
      drop_locked(*it->second);
      it->second = sub;
    }
  }

  bool unsubscribe(const std::string& id) {
    const std::scoped_lock lock(mu_);
    const auto it = subs_.find(id);
    if (it == subs_.end()) return false;
    drop_locked(*it->second);
    subs_.erase(it);
    return true;
  }

  bool set_enabled(const std::string& id, bool enabled) {
    const std::scoped_lock lock(mu_);
    const auto it = subs_.find(id);
    if (it == subs_.end()) return false;
    it->second->enabled = enabled;
    return true;
  }

  std::vector<std::string> ids() const {
    const std::scoped_lock lock(mu_);
    std::vector<std::string> out;
    for (const auto& [id, sub] : subs_) out.push_back(id);
    return out;
  }

  EventBusStats stats() const {
    const std::scoped_lock lock(mu_);
    EventBusStats out = stats_;
    out.active = subs_.size();
    return out;
  }

  // Delivers events[0, count) in order. `from_store`: they are the store's
  // (last_lsn follows them).
  void publish(const Event* events, std::size_t count, bool from_store) {
    std::vector<std::shared_ptr<Subscriber>> subs;
    {
      const std::scoped_lock lock(mu_);
      if (shutdown_ || count == 0) return;
      stats_.published += count;
      if (from_store) stats_.last_lsn = events[count - 1].lsn;
      subs.reserve(subs_.size());
      for (const auto& [id, sub] : subs_) subs.push_back(sub);
    }
    for (std::size_t i = 0; i < count; ++i) {
      const Event& event = events[i];
      std::shared_ptr<const Event> shared;  // made once for async subscribers
      for (const std::shared_ptr<Subscriber>& sub : subs) {
        if (!sub->filter.matches(event)) continue;
        if (sub->mode == DeliveryMode::kSync) {
          {
            const std::scoped_lock lock(mu_);
            // shutdown() may have returned since the batch began: no
            // handler call starts after it.
            if (shutdown_) return;
            if (!sub->enabled || sub->removed) continue;
            ++busy_;
          }
          call(*sub, event);
          continue;
        }
        if (!shared) shared = std::make_shared<const Event>(event);
        enqueue(sub, shared);
      }
    }
  }

  bool wait_idle(std::chrono::milliseconds timeout) {
    std::unique_lock lock(mu_);
    return idle_cv_.wait_for(lock, timeout, [&] { return idle_locked(); });
  }

  void shutdown(bool wait) {
    std::vector<std::thread> workers;
    {
      std::unique_lock lock(mu_);
      shutdown_ = true;
      if (!wait) {
        for (const auto& [id, sub] : subs_) sub->pending.clear();
      }
      stopping_ = true;
      workers.swap(workers_);
    }
    work_cv_.notify_all();
    for (std::thread& worker : workers) worker.join();
    const std::scoped_lock lock(mu_);
    stopping_ = false;
  }

  void reset() {
    shutdown(false);
    const std::scoped_lock lock(mu_);
    for (const auto& [id, sub] : subs_) drop_locked(*sub);
    subs_.clear();
    stats_ = {};
    shutdown_ = false;
  }

 private:
  // Unhooks the feed: no publish from the store once this returns.
  void detach() {
    if (database_ == nullptr) return;
    if (follower_.joinable()) {
      {
        const std::scoped_lock lock(mu_);
        follower_stop_ = true;
      }
      follower_cv_.notify_all();
      follower_.join();
    }
    if (listener_ != 0) {
      if (CommitPipeline* pipeline = database_impl(*database_).pipeline())
        pipeline->remove_listener(listener_);
      listener_ = 0;
    }
    database_ = nullptr;
  }

  // The follower thread of a read-only open.
  void follow(std::uint64_t last) {
    for (;;) {
      {
        std::unique_lock lock(mu_);
        if (follower_stop_) return;
      }
      CommittedEvents read;
      try {
        read = read_committed_events(*database_, last, kFollowerBatch);
      } catch (const std::exception& e) {
        // A closed store ends the feed; anything else is retried after the
        // interval (and logged once).
        if (!database_impl(*database_).core().usable()) return;
        if (!follower_warned_) {
          follower_warned_ = true;
          log(fmt::format("event bus: reading new commits failed: {}",
                          e.what()));
        }
      }
      if (!read.events.empty()) {
        last = read.events.back().lsn;
        publish(read.events.data(), read.events.size(), true);
        continue;
      }
      std::unique_lock lock(mu_);
      follower_cv_.wait_for(lock, options_.poll_interval,
                            [&] { return follower_stop_; });
    }
  }

  // Calls the handler; counts, reports an exception. REQUIRES: busy_ was
  // raised for this call.
  void call(const Subscriber& sub, const Event& event) {
    std::exception_ptr error;
    try {
      sub.handler(event);
    } catch (...) {
      error = std::current_exception();
    }
    {
      const std::scoped_lock lock(mu_);
      if (error) {
        ++stats_.errors;
      } else {
        ++stats_.delivered;
      }
    }
    if (error) report(sub.id, event, error);
    const std::scoped_lock lock(mu_);
    --busy_;
    if (idle_locked()) idle_cv_.notify_all();
  }

  void report(const std::string& id, const Event& event,
              const std::exception_ptr& error) {
    if (options_.error_handler) {
      try {
        options_.error_handler(id, event, error);
        return;
      } catch (const std::exception& e) {
        log(fmt::format("event bus: the error handler threw: {}", what_of(e)));
        return;
      } catch (...) {
        log("event bus: the error handler threw a non-standard exception");
        return;
      }
    }
    std::string what = "a non-standard exception";
    try {
      std::rethrow_exception(error);
    } catch (const std::exception& e) {
      what = what_of(e);
    } catch (...) {
      // Named above.
    }
    log(fmt::format("event bus: subscriber '{}' threw at lsn {}: {}", id,
                    event.lsn, what));
  }

  void log(const std::string& message) const {
    if (logger_) logger_(LogLevel::kWarning, message);
  }

  void enqueue(const std::shared_ptr<Subscriber>& sub,
               std::shared_ptr<const Event> event) {
    const std::scoped_lock lock(mu_);
    if (!sub->enabled || sub->removed || shutdown_) return;
    sub->pending.push_back(std::move(event));
    if (sub->queued) return;  // its drain delivers this in order
    sub->queued = true;
    ready_.push_back(sub);
    if (workers_.size() < options_.max_workers && idle_workers_ == 0) {
      workers_.emplace_back([this] { work(); });
    }
    work_cv_.notify_one();
  }

  void work() {
    std::unique_lock lock(mu_);
    for (;;) {
      ++idle_workers_;
      work_cv_.wait(lock, [&] { return stopping_ || !ready_.empty(); });
      --idle_workers_;
      if (ready_.empty()) return;  // stopping, nothing left
      std::shared_ptr<Subscriber> sub = std::move(ready_.front());
      ready_.pop_front();
      ++draining_;
      while (!sub->pending.empty() && !sub->removed) {
        std::shared_ptr<const Event> event = std::move(sub->pending.front());
        sub->pending.pop_front();
        ++busy_;
        lock.unlock();
        call(*sub, *event);
        lock.lock();
      }
      sub->queued = false;
      --draining_;
      if (idle_locked()) idle_cv_.notify_all();
    }
  }

  // No handler call runs and no async event waits. REQUIRES: mu_ held.
  bool idle_locked() const {
    return busy_ == 0 && draining_ == 0 && ready_.empty();
  }

  // REQUIRES: mu_ held.
  static void drop_locked(Subscriber& sub) {
    sub.removed = true;
    sub.pending.clear();
  }

  EventBusOptions options_;
  Database* database_ = nullptr;
  Logger logger_;
  std::uint64_t listener_ = 0;

  mutable std::mutex mu_;
  std::map<std::string, std::shared_ptr<Subscriber>> subs_;  // Guarded by mu_.
  EventBusStats stats_;                                      // Guarded by mu_.
  bool shutdown_ = false;                                    // Guarded by mu_.
  // Async delivery. Guarded by mu_.
  std::deque<std::shared_ptr<Subscriber>> ready_;
  std::vector<std::thread> workers_;
  std::size_t idle_workers_ = 0;
  std::size_t busy_ = 0;      // handler calls in progress
  std::size_t draining_ = 0;  // subscribers a worker is draining
  bool stopping_ = false;
  std::condition_variable work_cv_;
  std::condition_variable idle_cv_;
  // The follower thread (read-only opens).
  std::thread follower_;
  bool follower_stop_ = false;  // Guarded by mu_.
  bool follower_warned_ = false;
  std::condition_variable follower_cv_;
};

EventBus::EventBus(EventBusOptions options)
    : impl_(std::make_unique<Impl>(std::move(options))) {}

EventBus::EventBus(Database& database, EventBusOptions options)
    : impl_(std::make_unique<Impl>(std::move(options))) {
  impl_->attach(database);
}

EventBus::~EventBus() = default;

void EventBus::subscribe(const std::string& id, EventHandler handler,
                         SubscriptionFilter filter, DeliveryMode mode) {
  impl_->subscribe(id, std::move(handler), std::move(filter), mode);
}

bool EventBus::unsubscribe(const std::string& id) {
  return impl_->unsubscribe(id);
}

bool EventBus::enable_subscription(const std::string& id) {
  return impl_->set_enabled(id, true);
}

bool EventBus::disable_subscription(const std::string& id) {
  return impl_->set_enabled(id, false);
}

std::vector<std::string> EventBus::subscriptions() const {
  return impl_->ids();
}

void EventBus::publish(const Event& event) { impl_->publish(&event, 1, false); }

void EventBus::publish_batch(const std::vector<Event>& events) {
  impl_->publish(events.data(), events.size(), false);
}

EventBusStats EventBus::stats() const { return impl_->stats(); }

bool EventBus::wait_idle(std::chrono::milliseconds timeout) {
  return impl_->wait_idle(timeout);
}

void EventBus::shutdown(bool wait) { impl_->shutdown(wait); }

void EventBus::reset() { impl_->reset(); }

}  // namespace wfstore
