// DurableSubscriptions: one checksummed file per subscription under
// <store>/subscriptions/ (docs/subscriptions.md "The checkpoint file"),
// replaced atomically when its checkpoint advances; a flock on <name>.lock
// makes one consumer at a time.

#include <algorithm>
#include <cctype>
#include <mutex>
#include <thread>
#include <utility>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "wfstore/database.h"
#include "wfstore/errors.h"
#include "wfstore/subscriptions.h"

#include "store/database_impl.h"
#include "wfstore_internal/atomic_file.h"
#include "wfstore_internal/checked_json_file.h"
#include "wfstore_internal/committed_events.h"

namespace wfstore {
namespace {

constexpr std::string_view kHeader = "wfstore-subscription 1";
constexpr std::string_view kSuffix = ".sub";
constexpr std::size_t kMaxNameLength = 100;

void check_name(const std::string& name) {
  const bool ok = !name.empty() && name.size() <= kMaxNameLength &&
                  name.front() != '.' &&
                  std::all_of(name.begin(), name.end(), [](char c) {
                    return std::isalnum(static_cast<unsigned char>(c)) != 0 ||
                           c == '.' || c == '_' || c == '-';
                  });
  if (!ok) {
    throw InvalidArgumentError(fmt::format(
        "subscription name '{}' must be 1-{} characters of [A-Za-z0-9._-] "
        "not starting with '.'",
        name, kMaxNameLength));
  }
}

nlohmann::json filter_to_json(const SubscriptionFilter& filter) {
  nlohmann::json types = nlohmann::json::array();
  for (EventType type : filter.types) types.push_back(event_type_name(type));
  nlohmann::json kinds = nlohmann::json::array();
  for (EntityKind kind : filter.entity_kinds)
    kinds.push_back(entity_kind_name(kind));
  return {
      {"types", types},
      {"entity_kinds", kinds},
      {"workflow_id", filter.workflow_id ? nlohmann::json(*filter.workflow_id)
                                         : nlohmann::json()}};
}

// The event type named `name`, or nullopt.
std::optional<EventType> type_named(std::string_view name) {
  for (std::uint16_t id = 1; id < kFirstTestEventType; ++id) {
    const auto type = static_cast<EventType>(id);
    if (event_type_name(type) == name) return type;
  }
  return std::nullopt;
}

// A subscription file as stored.
struct Record {
  std::string name;
  std::string store_id;
  SubscriptionFilter filter;
  std::uint64_t checkpoint = 0;
  std::int64_t created_ms = 0;
  std::int64_t updated_ms = 0;
};

// The subscription file (checked_json_file.h) of `r`.
std::string encode(const Record& r) {
  return encode_checked_json(kHeader, {{"name", r.name},
                                       {"store_id", r.store_id},
                                       {"filter", filter_to_json(r.filter)},
                                       {"checkpoint", r.checkpoint},
                                       {"created_ms", r.created_ms},
                                       {"updated_ms", r.updated_ms}});
}

Record decode(const std::string& bytes, const std::filesystem::path& path) {
  const auto corrupt = [&](std::string_view why) {
    return CorruptionError(
        fmt::format("subscription file {}: {}", path.string(), why));
  };
  const nlohmann::json doc = decode_checked_json(
      bytes, kHeader, "subscription file", "a subscription file", path);
  try {
    Record r;
    r.name = doc.at("name").get<std::string>();
    r.store_id = doc.at("store_id").get<std::string>();
    r.checkpoint = doc.at("checkpoint").get<std::uint64_t>();
    r.created_ms = doc.at("created_ms").get<std::int64_t>();
    r.updated_ms = doc.at("updated_ms").get<std::int64_t>();
    const nlohmann::json& filter = doc.at("filter");
    for (const auto& name : filter.at("types")) {
      const std::optional<EventType> type = type_named(name.get<std::string>());
      if (!type)
        throw corrupt(fmt::format("unknown event type {}", name.dump()));
      r.filter.types.push_back(*type);
    }
    for (const auto& name : filter.at("entity_kinds")) {
      const std::optional<EntityKind> kind =
          find_entity_kind(name.get<std::string>());
      if (!kind) {
        throw corrupt(fmt::format("unknown entity kind {}", name.dump()));
      }
      r.filter.entity_kinds.push_back(*kind);
    }
    if (!filter.at("workflow_id").is_null())
      r.filter.workflow_id = filter.at("workflow_id").get<std::string>();
    return r;
  } catch (const nlohmann::json::exception& e) {
    throw corrupt(e.what());
  }
}

}  // namespace

class DurableSubscriptions::Impl {
 public:
  Impl(Database& database, Options options)
      : database_(database), options_(options) {
    if (options_.batch_size == 0)
      throw InvalidArgumentError("batch_size must be at least 1");
    if (options_.poll_interval.count() <= 0) {
      throw InvalidArgumentError(
          fmt::format("poll_interval must be positive (got {} ms)",
                      options_.poll_interval.count()));
    }
    Database::Impl& impl = database_impl(database_);
    fs_ = impl.file_system();
    dir_ = impl.store_dir().dir() / "subscriptions";
    store_id_ = impl.store_dir().id().to_string();
  }

  SubscriptionStatus create(const std::string& name, StartFrom start,
                            const SubscriptionFilter& filter) {
    check_name(name);
    const std::uint64_t current = current_lsn();
    Record r;
    r.name = name;
    r.store_id = store_id_;
    r.filter = filter;
    switch (start.kind) {
      case StartFrom::Kind::kBeginning:
        r.checkpoint = 0;
        break;
      case StartFrom::Kind::kLatest:
        r.checkpoint = current;
        break;
      case StartFrom::Kind::kLsn:
        if (start.lsn > current) {
          throw InvalidArgumentError(fmt::format(
              "subscription '{}': start lsn {} is beyond the store's last "
              "event (lsn {})",
              name, start.lsn, current));
        }
        r.checkpoint = start.lsn;
        break;
    }
    r.created_ms = now_ms();
    r.updated_ms = r.created_ms;
    make_log_durable(r.checkpoint);
    const std::scoped_lock lock(mu_);
    fs_->create_directories(dir_);
    const std::unique_ptr<FileLock> held = lock_consumer(name);
    write(r);
    return status_of(r, current);
  }

  void remove(const std::string& name) {
    check_name(name);
    const std::scoped_lock lock(mu_);
    read_locked(name);  // SubscriptionNotFoundError for an unknown name
    const std::unique_ptr<FileLock> held = lock_consumer(name);
    fs_->remove(file(name));
    fs_->sync_dir(dir_);
  }

  SubscriptionStatus status(const std::string& name) {
    check_name(name);
    Record r;
    {
      const std::scoped_lock lock(mu_);
      r = read_locked(name);
    }
    return status_of(r, current_lsn());
  }

  bool exists(const std::string& name) {
    check_name(name);
    const std::scoped_lock lock(mu_);
    return fs_->exists(file(name));
  }

  std::vector<std::string> list() {
    const std::scoped_lock lock(mu_);
    std::vector<std::string> out;
    if (!fs_->exists(dir_)) return out;
    for (const std::string& entry : fs_->list_dir(dir_)) {
      if (entry.size() > kSuffix.size() && entry.ends_with(kSuffix) &&
          entry.front() != '.') {
        out.push_back(entry.substr(0, entry.size() - kSuffix.size()));
      }
    }
    return out;
  }

  // Runs batches while `more` says so; the consumer lock is held
  // throughout.
  std::size_t consume(
      const std::string& name, const EventHandler& handler,
      const std::function<bool(std::uint64_t checkpoint, std::uint64_t current,
                               bool read_any)>& more) {
    check_name(name);
    std::unique_ptr<FileLock> held;
    Record r;
    {
      const std::scoped_lock lock(mu_);
      read_locked(name);
      held = lock_consumer(name);
      // Read again under the consumer lock: no one else writes the file
      // while it is held, so `r` stays what the file says.
      r = read_locked(name);
    }
    std::size_t handled = 0;
    for (;;) {
      CommittedEvents read = read_batch(r);
      for (const Event& event : read.events) {
        if (!r.filter.matches(event)) continue;
        try {
          handler(event);
        } catch (...) {
          std::throw_with_nested(SubscriptionHandlerError(
              fmt::format("subscription '{}': the handler threw at lsn {}; "
                          "the checkpoint stays at lsn {}",
                          name, event.lsn, r.checkpoint),
              event.lsn, r.checkpoint));
        }
        ++handled;
      }
      if (!read.events.empty()) {
        r.checkpoint = read.events.back().lsn;
        r.updated_ms = now_ms();
        make_log_durable(r.checkpoint);
        const std::scoped_lock lock(mu_);
        write(r);
      }
      if (!more(r.checkpoint, read.current_lsn, !read.events.empty()))
        return handled;
    }
  }

  const Options& options() const { return options_; }

 private:
  std::filesystem::path file(const std::string& name) const {
    return dir_ / (name + std::string(kSuffix));
  }

  std::uint64_t current_lsn() {
    return read_committed_events(database_, 0, 0).current_lsn;
  }

  std::int64_t now_ms() const {
    return database_.options().clock ? database_.options().clock->now_ms() : 0;
  }

  // Makes the log durable up to `lsn` before a checkpoint names it (also on
  // a read-only open beside a buffered writer): a buffered commit's events
  // may be handled before the syncer made them durable, and a checkpoint
  // past the log a machine crash leaves would skip the events later commits
  // put at those LSNs.
  void make_log_durable(std::uint64_t lsn) {
    wfstore::make_log_durable(database_, lsn);
  }

  // REQUIRES: mu_ held.
  Record read_locked(const std::string& name) const {
    const std::filesystem::path path = file(name);
    if (!fs_->exists(path)) {
      throw SubscriptionNotFoundError(
          fmt::format("no subscription named '{}'", name));
    }
    Record r = decode(fs_->read_file(path), path);
    if (r.name != name) {
      throw CorruptionError(
          fmt::format("subscription file {} names subscription '{}'",
                      path.string(), r.name));
    }
    if (r.store_id != store_id_) {
      throw InvalidArgumentError(fmt::format(
          "subscription '{}' belongs to store {}, not to this store ({})", name,
          r.store_id, store_id_));
    }
    return r;
  }

  // REQUIRES: mu_ held.
  void write(const Record& r) {
    write_file_atomically(*fs_, file(r.name), dir_ / ("." + r.name + ".tmp"),
                          encode(r));
  }

  // REQUIRES: mu_ held.
  std::unique_ptr<FileLock> lock_consumer(const std::string& name) {
    fs_->create_directories(dir_);
    std::unique_ptr<FileLock> held = fs_->try_lock(dir_ / (name + ".lock"));
    if (!held) {
      throw StoreLockedError(fmt::format(
          "subscription '{}' is being consumed by another process or thread",
          name));
    }
    return held;
  }

  // The batch after `r`'s checkpoint.
  CommittedEvents read_batch(const Record& r) {
    try {
      return read_committed_events(database_, r.checkpoint,
                                   options_.batch_size);
    } catch (const InvalidArgumentError&) {
      throw InvalidArgumentError(fmt::format(
          "subscription '{}': its checkpoint (lsn {}) is beyond the store's "
          "last event (lsn {}); it was made for another state of the store",
          r.name, r.checkpoint, current_lsn()));
    }
  }

  static SubscriptionStatus status_of(const Record& r, std::uint64_t current) {
    SubscriptionStatus s;
    s.name = r.name;
    s.filter = r.filter;
    s.checkpoint = r.checkpoint;
    s.current_lsn = current;
    s.lag = current > r.checkpoint ? current - r.checkpoint : 0;
    s.created_ms = r.created_ms;
    s.updated_ms = r.updated_ms;
    return s;
  }

  Database& database_;
  Options options_;
  std::shared_ptr<FileSystem> fs_;
  std::filesystem::path dir_;
  std::string store_id_;
  std::mutex mu_;  // serializes the subscription files' reads and writes
};

DurableSubscriptions::DurableSubscriptions(Database& database)
    : DurableSubscriptions(database, Options{}) {}

DurableSubscriptions::DurableSubscriptions(Database& database, Options options)
    : impl_(std::make_unique<Impl>(database, options)) {}

DurableSubscriptions::~DurableSubscriptions() = default;

SubscriptionStatus DurableSubscriptions::create(
    const std::string& name, StartFrom start,
    const SubscriptionFilter& filter) {
  return impl_->create(name, start, filter);
}

void DurableSubscriptions::remove(const std::string& name) {
  impl_->remove(name);
}

SubscriptionStatus DurableSubscriptions::status(const std::string& name) const {
  return impl_->status(name);
}

bool DurableSubscriptions::exists(const std::string& name) const {
  return impl_->exists(name);
}

std::vector<std::string> DurableSubscriptions::list() const {
  return impl_->list();
}

std::size_t DurableSubscriptions::process_once(const std::string& name,
                                               const EventHandler& handler) {
  return impl_->consume(
      name, handler, [](std::uint64_t, std::uint64_t, bool) { return false; });
}

std::size_t DurableSubscriptions::catch_up(const std::string& name,
                                           const EventHandler& handler) {
  std::optional<std::uint64_t> target;
  return impl_->consume(
      name, handler,
      [&](std::uint64_t checkpoint, std::uint64_t current, bool) {
        if (!target) target = current;
        return checkpoint < *target;
      });
}

std::size_t DurableSubscriptions::run(const std::string& name,
                                      const EventHandler& handler,
                                      const std::function<bool()>& stop) {
  const std::chrono::milliseconds interval = impl_->options().poll_interval;
  return impl_->consume(name, handler,
                        [&](std::uint64_t, std::uint64_t, bool read_any) {
                          if (stop && stop()) return false;
                          if (!read_any) sleep_unless_stopped(interval, stop);
                          return !(stop && stop());
                        });
}

}  // namespace wfstore
