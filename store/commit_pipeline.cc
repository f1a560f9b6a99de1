// The commit pipeline: writer queue, group leader, background syncer.

#include "store/commit_pipeline.h"

#include <algorithm>
#include <fstream>
#include <utility>

#include <fmt/format.h>

#include "wfstore/audit_scope.h"
#include "wfstore/errors.h"

#include "wfstore_internal/event_codec.h"
#include "wfstore_internal/keys.h"
#include "wfstore_internal/overlay_view_store.h"
#include "wfstore_internal/views.h"

namespace wfstore {
namespace {

// Most commits one group takes, so one leader's latency stays bounded.
constexpr std::size_t kMaxGroupCommits = 1024;

// A fold failed for one commit: the group is redone without it.
struct FoldFailed {};

std::mutex boot_id_mu;
std::string boot_id_override;  // Guarded by boot_id_mu.

// Raises `value` to `to` unless it is already higher.
void raise_to(std::atomic<std::uint64_t>& value, std::uint64_t to) {
  std::uint64_t seen = value.load();
  while (seen < to && !value.compare_exchange_weak(seen, to)) {
  }
}

// A commit with one of these events can make a waiting poll succeed.
bool makes_delivery_due(const EventPayload& payload) {
  return std::holds_alternative<MessagePushed>(payload) ||
         std::holds_alternative<MessageRescheduled>(payload) ||
         std::holds_alternative<MessageLeaseExtended>(payload) ||
         std::holds_alternative<DeadLetterReplayed>(payload);
}

}  // namespace

std::string current_boot_id() {
  {
    std::scoped_lock lock(boot_id_mu);
    if (!boot_id_override.empty()) return boot_id_override;
  }
  std::ifstream in("/proc/sys/kernel/random/boot_id");
  std::string id;
  std::getline(in, id);
  return id;
}

void set_boot_id_for_testing(std::string boot_id) {
  std::scoped_lock lock(boot_id_mu);
  boot_id_override = std::move(boot_id);
}

struct CommitPipeline::Request {
  std::vector<Command> commands;
  Durability durability = Durability::kSync;
  bool sync_only = false;
  AuditMetadata audit;

  // Set by the leader.
  std::vector<Decision> decisions;
  std::vector<Event> events;
  std::string body;
  std::uint64_t first_lsn = 0;
  // A request of several commands is folded while it is decided (each command
  // sees the ones before it); `writes` keeps that fold's view writes in order,
  // and the leader applies them instead of folding the events again.
  std::vector<OverlayViewStore::Write> writes;
  bool folds_while_deciding() const { return commands.size() > 1; }
  std::exception_ptr error;
  bool fold_failed = false;
  bool done = false;  // Guarded by mu_.
  std::condition_variable cv;

  void reset() {
    decisions.clear();
    events.clear();
    body.clear();
    writes.clear();
    first_lsn = 0;
    if (!fold_failed) error = nullptr;
  }
};

CommitPipeline::CommitPipeline(log::Writer& writer, LmdbViews& views,
                               PipelineOptions options, PipelineStart start)
    : writer_(writer),
      views_(views),
      options_(std::move(options)),
      checksum_(start.checksum),
      last_timestamp_ms_(start.last_timestamp_ms) {
  if (!options_.clock) options_.clock = system_clock();
  appended_lsn_ = writer_.last_lsn();
  durable_lsn_ = writer_.durable_lsn();
  {
    const LmdbViews::Snapshot snapshot = views_.begin_read();
    applied_lsn_ = applied_lsn(snapshot);
  }
  syncer_ = std::thread([this] { syncer_loop(); });
}

CommitPipeline::~CommitPipeline() {
  try {
    stop();
  } catch (const Error& e) {
    warn(fmt::format("closing the commit pipeline: {}", e.what()));
  }
}

void CommitPipeline::warn(std::string_view message) const {
  if (options_.logger) options_.logger(LogLevel::kWarning, message);
}

CommitResult CommitPipeline::commit(std::vector<Command> commands,
                                    std::optional<Durability> durability) {
  Request request;
  request.commands = std::move(commands);
  request.durability = durability.value_or(options_.durability);
  const AuditFields& audit = AuditScope::current();
  request.audit = AuditMetadata{audit.actor, audit.correlation_id,
                                audit.causation_id, audit.source};
  request.sync_only = request.commands.empty();

  std::unique_lock lock(mu_);
  if (poisoned_) throw IOError(poison_reason_);
  queue_.push_back(&request);
  queued_ = queue_.size();
  while (!request.done && &request != queue_.front()) request.cv.wait(lock);
  if (!request.done) {
    // This thread leads the group at the head of the queue.
    const std::size_t count = std::min(queue_.size(), kMaxGroupCommits);
    std::vector<Request*> group(
        queue_.begin(), queue_.begin() + static_cast<std::ptrdiff_t>(count));
    lock.unlock();
    try {
      run_group(group);
    } catch (const std::exception& e) {
      // run_group stores every expected failure in its requests; this is a bug
      // guard.
      const std::exception_ptr error = std::make_exception_ptr(
          IOError(fmt::format("commit group failed: {}", e.what())));
      for (Request* r : group) {
        if (!r->error) r->error = error;
      }
    }
    CommitNotice notice;
    for (const Request* r : group) {
      if (r->error || r->events.empty()) continue;
      if (notice.first_lsn == 0) notice.first_lsn = r->first_lsn;
      notice.last_lsn = r->first_lsn + r->events.size() - 1;
      for (const Event& event : r->events) {
        notice.queue_changed |= makes_delivery_due(event.payload);
      }
    }
    lock.lock();
    const bool notify = notice.first_lsn != 0;
    const std::uint64_t ticket = notify ? next_notify_ticket_++ : 0;
    for (std::size_t i = 0; i < count; ++i) {
      Request* r = queue_.front();
      queue_.pop_front();
      r->done = true;
      if (r != &request) r->cv.notify_one();
    }
    queued_ = queue_.size();
    if (!queue_.empty()) queue_.front()->cv.notify_one();
    lock.unlock();
    if (notify) notify_in_order(ticket, notice);
  } else {
    lock.unlock();
  }
  if (request.error) std::rethrow_exception(request.error);
  CommitResult result;
  result.decisions = std::move(request.decisions);
  if (!request.events.empty()) {
    result.first_lsn = request.first_lsn;
    result.last_lsn = request.first_lsn + request.events.size() - 1;
  }
  return result;
}

bool CommitPipeline::decide_request(Request& request, ViewStore& views,
                                    std::int64_t timestamp_ms,
                                    std::uint64_t first_lsn) {
  const DecideContext context{timestamp_ms};
  request.first_lsn = first_lsn;
  try {
    if (!request.folds_while_deciding()) {
      request.decisions.push_back(
          decide(request.commands.front(), views, context));
    } else {
      OverlayViewStore overlay(views, /*keep_journal=*/true);
      std::uint64_t lsn = first_lsn;
      for (const Command& command : request.commands) {
        request.decisions.push_back(
            decide_and_fold(command, overlay, context, first_lsn, lsn));
      }
      request.writes = overlay.take_journal();
    }
    std::vector<EventPayload> payloads;
    for (const Decision& decision : request.decisions) {
      for (const EventPayload& payload : decision.events)
        payloads.push_back(payload);
    }
    if (payloads.empty()) return false;
    request.body = encode_commit_body(request.audit, payloads);
    std::uint64_t lsn = first_lsn;
    request.events.reserve(payloads.size());
    for (EventPayload& payload : payloads) {
      Event event;
      event.lsn = lsn++;
      event.commit_id = first_lsn;
      event.timestamp_ms = timestamp_ms;
      event.workflow_id = event_workflow_id(payload);
      event.audit = request.audit;
      event.payload = std::move(payload);
      request.events.push_back(std::move(event));
    }
    return true;
  } catch (const MapFullError&) {
    throw;
  } catch (const Error&) {
    request.error = std::current_exception();
    return false;
  }
}

void CommitPipeline::write_meta(ViewStore& txn, std::uint64_t applied,
                                const ViewChecksum& checksum,
                                std::int64_t timestamp_ms) {
  txn.put(Table::kMeta, kMetaAppliedLsn, keys::encode_u64(applied));
  txn.put(Table::kMeta, kMetaDurableLsn,
          keys::encode_u64(writer_.durable_lsn()));
  txn.put(Table::kMeta, kMetaLastTimestamp, keys::encode_i64(timestamp_ms));
  write_checksum(txn, checksum);
}

void CommitPipeline::poison(const std::string& reason) {
  std::scoped_lock lock(mu_);
  if (!poisoned_)
    poison_reason_ =
        fmt::format("writer poisoned by an earlier failure: {}", reason);
  poisoned_ = true;
}

void CommitPipeline::run_group(const std::vector<Request*>& group) {
  groups_.fetch_add(1, std::memory_order_relaxed);
  if (poisoned_) {
    std::string reason;
    {
      std::scoped_lock lock(mu_);
      reason = poison_reason_;
    }
    for (Request* r : group)
      r->error = std::make_exception_ptr(IOError(reason));
    return;
  }
  const std::int64_t timestamp_ms =
      std::max(last_timestamp_ms_, options_.clock->now_ms());
  bool want_sync = false;
  for (const Request* r : group)
    want_sync |= r->durability == Durability::kSync;

  std::vector<Request*> appended;
  std::optional<LmdbViews::WriteTxn> txn;
  ViewChecksum checksum = checksum_;
  for (;;) {
    appended.clear();
    for (Request* r : group) r->reset();
    bool any = false;
    for (const Request* r : group) any |= !r->sync_only && !r->fold_failed;
    if (!any) break;
    txn.emplace(views_.begin_write());
    const std::uint64_t seen_map = views_.map_size();
    ChecksumViewStore cs(*txn, checksum_);
    std::uint64_t next_lsn = writer_.last_lsn() + 1;
    Request* failing = nullptr;
    try {
      for (Request* r : group) {
        if (r->sync_only || r->fold_failed) continue;
        if (!decide_request(*r, cs, timestamp_ms, next_lsn)) continue;
        failing = r;
        if (r->folds_while_deciding()) {
          replay_journal(r->writes, cs);
          r->writes.clear();
        } else {
          for (const Event& event : r->events) fold(event, cs);
        }
        failing = nullptr;
        next_lsn += r->events.size();
        appended.push_back(r);
      }
    } catch (const MapFullError&) {
      txn->abort();
      txn.reset();
      views_.grow_map(seen_map);
      continue;
    } catch (const Error&) {
      if (failing == nullptr) throw;
      failing->error = std::current_exception();
      failing->fold_failed = true;
      txn->abort();
      txn.reset();
      continue;
    }
    checksum = cs.checksum();
    break;
  }

  // Append the group's records and sync once.
  try {
    for (Request* r : appended) {
      writer_.append(r->first_lsn, static_cast<std::uint32_t>(r->events.size()),
                     timestamp_ms, r->body);
      bytes_appended_.fetch_add(r->body.size(), std::memory_order_relaxed);
    }
    if (!appended.empty()) appended_lsn_ = writer_.last_lsn();
    if (want_sync && writer_.durable_lsn() < writer_.last_lsn()) {
      fdatasyncs_.fetch_add(1, std::memory_order_relaxed);
      writer_.sync();
      raise_to(durable_lsn_, writer_.durable_lsn());
    }
  } catch (const Error& e) {
    poison(e.what());
    if (txn) txn->abort();
    const std::exception_ptr error = std::make_exception_ptr(
        IOError(fmt::format("log write failed: {}", e.what())));
    for (Request* r : group) {
      if (!r->error) r->error = error;
    }
    return;
  }

  if (!appended.empty()) {
    const std::uint64_t applied = writer_.last_lsn();
    try {
      write_meta(*txn, applied, checksum, timestamp_ms);
      txn->commit();
    } catch (const MapFullError&) {
      txn.reset();
      try {
        refold(appended);
      } catch (const Error& e) {
        views_poisoned_ = true;
        warn(fmt::format("views poisoned: {}", e.what()));
      }
    } catch (const Error& e) {
      views_poisoned_ = true;
      warn(fmt::format("views poisoned: {}", e.what()));
    }
    checksum_ = checksum;
    last_timestamp_ms_ = timestamp_ms;
    applied_lsn_ = applied;
    commits_.fetch_add(appended.size(), std::memory_order_relaxed);
  } else if (txn) {
    txn->abort();
  }
}

void CommitPipeline::refold(const std::vector<Request*>& appended) {
  std::int64_t timestamp_ms = last_timestamp_ms_;
  views_.write([&](LmdbViews::WriteTxn& txn) {
    ChecksumViewStore cs(txn, checksum_);
    for (const Request* r : appended) {
      for (const Event& event : r->events) {
        fold(event, cs);
        timestamp_ms = event.timestamp_ms;
      }
    }
    write_meta(txn, writer_.last_lsn(), cs.checksum(), timestamp_ms);
  });
}

void CommitPipeline::sync() {
  if (appended_lsn_.load() <= durable_lsn_.load() && !poisoned_) return;
  commit({}, Durability::kSync);
}

std::uint64_t CommitPipeline::add_listener(CommitListener listener) {
  std::unique_lock lock(listeners_mu_);
  const std::uint64_t id = next_listener_++;
  listeners_.emplace_back(id, std::move(listener));
  return id;
}

void CommitPipeline::remove_listener(std::uint64_t id) {
  std::unique_lock lock(listeners_mu_);
  std::erase_if(listeners_,
                [id](const auto& entry) { return entry.first == id; });
}

void CommitPipeline::notify_listeners(const CommitNotice& notice) {
  std::shared_lock lock(listeners_mu_);
  for (const auto& [id, listener] : listeners_) {
    try {
      listener(notice);
    } catch (const std::exception& e) {
      warn(fmt::format("commit listener {} threw: {}", id, e.what()));
    }
  }
}

void CommitPipeline::notify_in_order(std::uint64_t ticket,
                                     const CommitNotice& notice) {
  {
    std::unique_lock lock(notify_mu_);
    notify_cv_.wait(lock, [&] { return notify_turn_ == ticket; });
  }
  struct NextTurn {
    CommitPipeline& pipeline;
    ~NextTurn() {
      {
        std::scoped_lock lock(pipeline.notify_mu_);
        ++pipeline.notify_turn_;
      }
      pipeline.notify_cv_.notify_all();
    }
  } next_turn{*this};
  notify_listeners(notice);
}

DatabaseStats CommitPipeline::stats() const {
  DatabaseStats stats;
  stats.commits = commits_.load();
  stats.groups = groups_.load();
  stats.fdatasyncs = fdatasyncs_.load();
  stats.bytes_appended = bytes_appended_.load();
  stats.applied_lsn = applied_lsn_.load();
  stats.durable_lsn = durable_lsn_.load();
  stats.queued_commits = queued_.load();
  return stats;
}

void CommitPipeline::check_views() const {
  if (views_poisoned_) {
    throw IOError(
        fmt::format("{}: views poisoned by a failed commit; reopen the store",
                    views_.path()));
  }
}

ViewChecksum CommitPipeline::checksum() const { return checksum_; }

void CommitPipeline::syncer_loop() {
  std::unique_lock lock(syncer_mu_);
  while (!stopping_) {
    syncer_cv_.wait_for(lock, options_.buffered_sync_interval);
    if (stopping_) break;
    if (appended_lsn_.load() <= durable_lsn_.load() || poisoned_) continue;
    lock.unlock();
    // Beside the leader, not through the commit queue: a buffered writer does
    // not wait for this fdatasync.
    try {
      if (writer_.sync_concurrently())
        fdatasyncs_.fetch_add(1, std::memory_order_relaxed);
      raise_to(durable_lsn_, writer_.durable_lsn());
    } catch (const Error& e) {
      poison(e.what());
      warn(fmt::format("background log sync failed: {}", e.what()));
    }
    lock.lock();
  }
}

void CommitPipeline::stop() {
  {
    std::scoped_lock lock(syncer_mu_);
    if (stopped_) return;
    stopped_ = true;
    stopping_ = true;
  }
  syncer_cv_.notify_all();
  if (syncer_.joinable()) syncer_.join();
  if (poisoned_) {
    std::scoped_lock lock(mu_);
    throw IOError(poison_reason_);
  }
  sync();
}

void CommitPipeline::abandon_for_testing() {
  {
    std::scoped_lock lock(syncer_mu_);
    if (stopped_) return;
    stopped_ = true;
    stopping_ = true;
  }
  syncer_cv_.notify_all();
  if (syncer_.joinable()) syncer_.join();
}

}  // namespace wfstore
