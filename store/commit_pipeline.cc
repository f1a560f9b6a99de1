// The commit pipeline: writer queue, group leader, background syncer.

#include "store/commit_pipeline.h"

#include <algorithm>
#include <fstream>
#include <string_view>
#include <utility>

#include <fmt/format.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "wfstore/audit_scope.h"
#include "wfstore/errors.h"

#include "wfstore_internal/event_codec.h"
#include "wfstore_internal/exception_text.h"
#include "wfstore_internal/history_index.h"
#include "wfstore_internal/keys.h"
#include "wfstore_internal/overlay_view_store.h"
#include "wfstore_internal/raise_to.h"
#include "wfstore_internal/views.h"
#include <linux/futex.h>

namespace wfstore {

// What a store keeps free on its disk: commits are refused (room_for) when
// their records would leave less, so a disk filled by the store ends in
// refusals rather than in the log's own write failing.
constexpr std::uint64_t kLowSpace = std::uint64_t{4} << 20;
namespace {

// Most commits one group takes, so one leader's latency stays bounded.
constexpr std::size_t kMaxGroupCommits = 1024;

// A fold failed for one commit: the group is redone without it.
struct FoldFailed {};

// The pipeline whose listeners this thread is calling, if any: a listener
// that commits, adds a listener or closes that store would wait for itself.
thread_local const CommitPipeline* notifying_pipeline = nullptr;

std::mutex boot_id_mu;
std::string boot_id_override;  // Guarded by boot_id_mu.

// Sleeps while `word` holds `value` (or until a spurious wake-up): a futex
// wait without std::atomic::wait's spinning and sched_yield() first, which
// burn the cores a group's leader needs when many calls queue.
void futex_wait(std::atomic<std::uint32_t>& word, std::uint32_t value) {
  static_assert(sizeof(std::atomic<std::uint32_t>) == sizeof(std::uint32_t));
  syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(&word),
          FUTEX_WAIT_PRIVATE, value, nullptr, nullptr, 0);
}

// Wakes one thread asleep in futex_wait on `word`.
void futex_wake(std::atomic<std::uint32_t>& word) {
  syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(&word),
          FUTEX_WAKE_PRIVATE, 1, nullptr, nullptr, 0);
}

// `from` + `wait`, saturated at the clock's last time point.
std::chrono::steady_clock::time_point sync_deadline(
    std::chrono::steady_clock::time_point from,
    std::chrono::milliseconds wait) {
  using TimePoint = std::chrono::steady_clock::time_point;
  if (wait <= std::chrono::milliseconds{0}) return from;
  if (wait >=
      std::chrono::floor<std::chrono::milliseconds>(TimePoint::max() - from)) {
    return TimePoint::max();
  }
  return from + wait;
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
  std::uint64_t last_lsn = 0;  // 0 with no events
  // A request of several commands is folded while it is decided (each command
  // sees the ones before it); `writes` keeps that fold's view writes in order,
  // and the leader applies them instead of folding the events again.
  std::vector<OverlayViewStore::Write> writes;
  // The commands' decisions made ahead, if any (PreparedDecision).
  std::optional<PreparedDecision> prepared;
  // Where the record was appended (the views' log positions).
  history_index::LogPosition position;
  bool folds_while_deciding() const { return commands.size() > 1; }
  std::exception_ptr error;
  bool fold_failed = false;
  // What the call sleeps on while queued behind the head; none for a call
  // that found the queue empty. Set under mu_.
  Waiter* waiter = nullptr;

  void reset() {
    decisions.clear();
    events.clear();
    body.clear();
    writes.clear();
    first_lsn = 0;
    last_lsn = 0;
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
    last_position_ = history_index::log_position_before(snapshot, UINT64_MAX);
    meta_durable_lsn_ = meta_u64(snapshot, kMetaDurableLsn);
  }
  syncer_ = std::thread([this] { syncer_loop(); });
}

CommitPipeline::~CommitPipeline() {
  try {
    close();
  } catch (const Error& e) {
    warn(fmt::format("closing the commit pipeline: {}", what_of(e)));
  }
}

void CommitPipeline::warn(std::string_view message) const {
  if (options_.logger) options_.logger(LogLevel::kWarning, message);
}

void CommitPipeline::throw_unusable_locked() const {
  if (state_.load() == State::kFailed) {
    throw IOError(fmt::format(
        "store {}: the writer is poisoned by an earlier failure ({}); reopen "
        "the store",
        options_.dir, failure_));
  }
  throw IOError(fmt::format("store {} is closed", options_.dir));
}

bool CommitPipeline::in_listener_on_this_thread() const {
  return notifying_pipeline == this;
}

void CommitPipeline::check_not_in_listener(std::string_view call) const {
  if (in_listener_on_this_thread()) {
    throw IOError(fmt::format(
        "store {}: {} from a commit listener would wait for the listener "
        "itself",
        options_.dir, call));
  }
}

void CommitPipeline::check_usable() const {
  if (state_.load() == State::kOpen) return;
  const std::scoped_lock lock(mu_);
  if (state_.load() != State::kOpen) throw_unusable_locked();
}

bool CommitPipeline::failed() const {
  if (state_.load() == State::kOpen) return false;
  const std::scoped_lock lock(mu_);
  return !failure_.empty();
}

void CommitPipeline::fail(const std::string& reason) {
  {
    const std::scoped_lock lock(mu_);
    if (failure_.empty()) failure_ = reason;
    const State state = state_.load();
    if (state == State::kOpen || state == State::kClosing)
      state_.store(State::kFailed);
  }
  warn(
      fmt::format("store {}: the writer failed; every call throws IOError "
                  "until the store is reopened: {}",
                  options_.dir, reason));
}

void CommitPipeline::fail_group(const std::vector<Request*>& group,
                                const std::string& reason) {
  fail(reason);
  const std::exception_ptr error = std::make_exception_ptr(IOError(reason));
  for (Request* r : group) {
    if (!r->error) r->error = error;
  }
}

void CommitPipeline::leave() {
  std::size_t seen = active_.load();
  while ((seen & 1) == 0) {
    // close() does not wait: nothing here touches the pipeline after this.
    if (active_.compare_exchange_weak(seen, seen - 2)) return;
  }
  // close() waits: the last call wakes it under mu_, so the wake cannot fall
  // between its check and its wait, and close() cannot return before this
  // call is done with the pipeline.
  const std::scoped_lock lock(mu_);
  if (active_.fetch_sub(2) == 3) idle_cv_.notify_all();
}

CommitPipeline::Waiter* CommitPipeline::take_waiter_locked() {
  Waiter* waiter = nullptr;
  if (free_waiters_.empty()) {
    free_waiters_.reserve(waiters_.size() + 1);
    auto made = std::make_unique<Waiter>();
    waiter = made.get();
    waiters_.push_back(std::move(made));
  } else {
    waiter = free_waiters_.back();
    free_waiters_.pop_back();
    waiter->base += 4;
  }
  // Release: a call that finds this value instead of its kDone (see
  // commit()) synchronizes through it with the leader that stored kDone.
  waiter->state.store(waiter->base + Waiter::kWait, std::memory_order_release);
  return waiter;
}

CommitResult CommitPipeline::commit(std::vector<Command> commands,
                                    std::optional<Durability> durability,
                                    std::optional<PreparedDecision> prepared) {
  Request request;
  request.commands = std::move(commands);
  request.prepared = std::move(prepared);
  request.durability = durability.value_or(options_.durability);
  const AuditFields& audit = AuditScope::current();
  request.audit = AuditMetadata{audit.actor, audit.correlation_id,
                                audit.causation_id, audit.source};
  request.sync_only = request.commands.empty();
  check_not_in_listener("a commit");

  std::unique_lock lock(mu_);
  if (state_.load() != State::kOpen) throw_unusable_locked();
  // What may allocate comes before the call is queued: a failure leaves
  // nothing behind.
  Waiter* const waiter = queue_.empty() ? nullptr : take_waiter_locked();
  try {
    queue_.push_back(&request);
  } catch (...) {
    if (waiter != nullptr) free_waiters_.push_back(waiter);
    throw;
  }
  active_.fetch_add(2);
  queued_ = queue_.size();
  bool lead = waiter == nullptr;
  request.waiter = waiter;
  // Read under the lock: once this call's result is in, the waiter goes back
  // to the pool and its next use changes `base`, maybe before this thread
  // runs again.
  const std::uint32_t waiting =
      waiter == nullptr ? 0 : waiter->base + Waiter::kWait;
  lock.unlock();
  if (waiter != nullptr) {
    if (queued_hook_) queued_hook_();
    // Asleep without the lock: the leader wakes this call once its result is
    // in `request` (kDone), or to lead the next group (kLead). A value of a
    // later use means kDone came and went.
    std::uint32_t seen = waiting;
    while ((seen = waiter->state.load(std::memory_order_acquire)) == waiting)
      futex_wait(waiter->state, waiting);
    lead = seen == waiting + Waiter::kLead;
  }
  if (!lead) {
    leave();
  } else {
    // This thread leads the group at the head of the queue. (Not throwing:
    // see finish_group.)
    const std::vector<Request*> group = [&]() noexcept {
      const std::scoped_lock hold(mu_);
      const std::size_t n = std::min(queue_.size(), kMaxGroupCommits);
      return std::vector<Request*>(
          queue_.begin(), queue_.begin() + static_cast<std::ptrdiff_t>(n));
    }();
    // Running the group, failing it, and the hand-off do not throw either:
    // an exception leaving here would strand this call's request at the
    // head of the queue (formatting a failure can fail to allocate).
    [&]() noexcept {
      try {
        run_group(group);
      } catch (const std::exception& e) {
        // run_group stores every expected failure in its requests, and rejects
        // one commit for an exception of its own decision; what reaches here
        // failed the group's log or views, whose state is then unknown.
        fail_group(group, fmt::format("commit group failed: {}", what_of(e)));
      } catch (...) {
        // Not thrown by wfstore (a user callback's non-standard exception):
        // the group's state is as unknown as above, and its callers must wake.
        fail_group(group, "commit group failed: a non-standard exception");
      }
      finish_group(request, group);
    }();
    leave();
  }
  if (request.error) std::rethrow_exception(request.error);
  auto lent = request.events.begin();
  for (Decision& decision : request.decisions) {
    for (EventPayload& payload : decision.events) {
      payload = std::move(lent->payload);
      ++lent;
    }
  }
  CommitResult result;
  result.decisions = std::move(request.decisions);
  if (request.last_lsn != 0) {
    result.first_lsn = request.first_lsn;
    result.last_lsn = request.last_lsn;
  }
  return result;
}

void CommitPipeline::finish_group(const Request& own,
                                  const std::vector<Request*>& group) noexcept {
  const std::size_t count = group.size();
  std::unique_lock lock(mu_, std::defer_lock);
  CommitNotice notice;
  // The other callers' requests end with their commit() calls, which the
  // loop below lets return: the events listeners need are copied out first
  // (each caller gives its own back to its decisions).
  std::vector<Event> events;
  const bool keep_events = events_listeners_.load() != 0;
  for (Request* r : group) {
    if (r->error || r->events.empty()) continue;
    if (notice.first_lsn == 0) notice.first_lsn = r->first_lsn;
    notice.last_lsn = r->last_lsn;
    for (const Event& event : r->events) {
      notice.queue_changed |= makes_delivery_due(event.payload);
      if (keep_events) events.push_back(event);
    }
  }
  // The group leaves the queue; the calls are woken after the lock is
  // released (a call woken under it would wait for it again), the next
  // leader first, so the next group starts while this thread wakes the
  // rest.
  std::vector<std::pair<Waiter*, std::uint32_t>> wake;
  wake.reserve(count);
  lock.lock();
  for (std::size_t i = 0; i < count; ++i) {
    Request* r = queue_.front();
    queue_.pop_front();
    if (r->waiter == nullptr) continue;
    if (r == &own) {
      free_waiters_.push_back(r->waiter);
    } else {
      wake.emplace_back(r->waiter, r->waiter->base + Waiter::kDone);
    }
  }
  queued_ = queue_.size();
  std::pair<Waiter*, std::uint32_t> next_leader{nullptr, 0};
  if (!queue_.empty()) {
    Waiter* next = queue_.front()->waiter;
    next_leader = {next, next->base + Waiter::kLead};
  }
  // Groups leave the queue in LSN order; their notices go out in that
  // order even when the next group's leader gets here first.
  const bool notifies = notice.first_lsn != 0;
  const std::uint64_t ticket = notifies ? next_ticket_++ : 0;
  lock.unlock();
  if (next_leader.first != nullptr) {
    next_leader.first->state.store(next_leader.second,
                                   std::memory_order_release);
    futex_wake(next_leader.first->state);
  }
  for (const auto& [w, done] : wake) {
    w->state.store(done, std::memory_order_release);
    futex_wake(w->state);
  }
  lock.lock();
  // Back in the pool only now: until here this thread touched them.
  for (const auto& entry : wake) free_waiters_.push_back(entry.first);
  if (notifies) {
    if (notified_ != ticket) ++listener_turn_waits_;
    notify_cv_.wait(lock, [&] { return notified_ == ticket; });
    lock.unlock();
    notify_listeners(notice, events);
    lock.lock();
    ++notified_;
    notify_cv_.notify_all();
  }
  lock.unlock();
}

bool CommitPipeline::decide_request(Request& request, ViewStore& views,
                                    std::int64_t timestamp_ms,
                                    std::uint64_t first_lsn) {
  const DecideContext context{timestamp_ms};
  request.first_lsn = first_lsn;
  try {
    const PreparedDecision* prepared =
        request.prepared ? &*request.prepared : nullptr;
    if (prepared != nullptr && prepared->base_lsn + 1 == first_lsn &&
        prepared->timestamp_ms == timestamp_ms &&
        prepared->audit == request.audit &&
        prepared->decisions.size() == request.commands.size()) {
      // Nothing was committed since the decisions were made, at this
      // timestamp and audit: deciding again would give the same. Taken once
      // (a group redone after a failed fold decides afresh).
      request.decisions = std::move(request.prepared->decisions);
      if (request.folds_while_deciding()) {
        request.writes = std::move(request.prepared->writes);
      }
      request.prepared.reset();
      prepared_taken_.fetch_add(1, std::memory_order_relaxed);
    } else if (!request.folds_while_deciding()) {
      if (decide_hook_) decide_hook_(request.commands.front());
      request.decisions.push_back(
          decide(request.commands.front(), views, context));
    } else {
      OverlayViewStore overlay(views, /*keep_journal=*/true);
      std::uint64_t lsn = first_lsn;
      for (const Command& command : request.commands) {
        if (decide_hook_) decide_hook_(command);
        request.decisions.push_back(decide_and_fold(
            command, overlay, context, first_lsn, lsn, request.audit));
      }
      request.writes = overlay.take_journal();
    }
    // The decisions lend their payloads to the events rather than copy them
    // (a deep copy: a stored workflow's every stage and task); commit()
    // gives them back to its caller's decisions.
    std::vector<EventPayload> payloads;
    for (Decision& decision : request.decisions) {
      for (EventPayload& payload : decision.events)
        payloads.push_back(std::move(payload));
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
    request.last_lsn = lsn - 1;
    return true;
  } catch (const MapFullError&) {
    throw;
  } catch (const Error&) {
    request.error = std::current_exception();
    return false;
  } catch (const std::exception& e) {
    // Deciding or encoding reads only this commit's input and the views (an
    // LMDB failure is a wfstore::Error): anything else is this commit's own
    // fault, so it alone is rejected.
    request.error = std::make_exception_ptr(InvalidArgumentError(fmt::format(
        "commit rejected: deciding or encoding it failed: {}", what_of(e))));
    return false;
  } catch (...) {
    request.error = std::make_exception_ptr(InvalidArgumentError(
        "commit rejected: deciding or encoding it threw a non-standard "
        "exception"));
    return false;
  }
}

std::uint64_t CommitPipeline::write_meta(ViewStore& txn, std::uint64_t applied,
                                         const ViewChecksum& checksum,
                                         std::int64_t timestamp_ms) {
  txn.put(Table::kMeta, kMetaAppliedLsn, keys::encode_u64(applied));
  write_checksum(txn, checksum);
  const std::uint64_t durable = writer_.durable_lsn();
  if (meta_durable_lsn_ != durable) {
    txn.put(Table::kMeta, kMetaDurableLsn, keys::encode_u64(durable));
  }
  if (timestamp_ms != last_timestamp_ms_) {
    txn.put(Table::kMeta, kMetaLastTimestamp, keys::encode_i64(timestamp_ms));
  }
  return durable;
}

void CommitPipeline::run_group(const std::vector<Request*>& group) {
  groups_.fetch_add(1, std::memory_order_relaxed);
  // One leader at a time runs a group, so the state a failed group left is
  // seen here: nothing decides against views that lack a group, and nothing
  // writes their meta past it.
  if (state_.load() == State::kFailed) {
    std::exception_ptr error;
    try {
      check_usable();
    } catch (const Error&) {
      error = std::current_exception();
    }
    for (Request* r : group) r->error = error;
    return;
  }
  // The clock is the caller's: its failure rejects this group (nothing is
  // appended yet) and fails nothing else.
  std::int64_t now_ms = 0;
  try {
    now_ms = options_.clock->now_ms();
  } catch (...) {
    std::string what = "a non-standard exception";
    try {
      throw;
    } catch (const std::exception& e) {
      what = what_of(e);
    } catch (...) {
    }
    const std::exception_ptr error = std::make_exception_ptr(IOError(
        fmt::format("store {}: the clock failed: {}", options_.dir, what)));
    for (Request* r : group) r->error = error;
    return;
  }
  const std::int64_t timestamp_ms = std::max(last_timestamp_ms_, now_ms);
  bool want_sync = false;
  for (const Request* r : group)
    want_sync |= r->durability == Durability::kSync;

  std::vector<Request*> appended;
  std::optional<LmdbViews::WriteTxn> txn;
  ViewChecksum checksum = checksum_;
  // The map's size before this group, to give back the growths made for a
  // commit that is then refused for want of room.
  std::uint64_t map_before = 0;
  for (;;) {
    appended.clear();
    for (Request* r : group) r->reset();
    bool any = false;
    for (const Request* r : group) any |= !r->sync_only && !r->fold_failed;
    if (!any) break;
    txn.emplace(views_.begin_write());
    if (map_before == 0) map_before = txn->map_size_at_begin();
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
      try {
        views_.grow_map(seen_map);
      } catch (const IOError&) {
        if (failing == nullptr) throw;
        // No room on the disk for the views to grow: the commit whose fold
        // met the full map is rejected alone (nothing of it is appended) and
        // the group redone without it, in the map as it was before the
        // group: the growths made for it are given back to the disk.
        failing->error = std::current_exception();
        failing->fold_failed = true;
        views_.shrink_map(map_before);
      }
      continue;
    } catch (const std::exception& e) {
      if (failing == nullptr) throw;
      // The fold of one commit's events failed: the group is redone without
      // it.
      if (dynamic_cast<const Error*>(&e) != nullptr) {
        failing->error = std::current_exception();
      } else {
        failing->error = std::make_exception_ptr(InvalidArgumentError(
            fmt::format("commit rejected: folding it failed: {}", what_of(e))));
      }
      failing->fold_failed = true;
      txn->abort();
      txn.reset();
      continue;
    }
    checksum = cs.checksum();
    break;
  }

  if (!appended.empty()) {
    std::uint64_t bytes = 0;
    for (const Request* r : appended) bytes += r->body.size();
    if (!room_for(bytes)) {
      // Refused for want of room before anything is appended: the views'
      // transaction is aborted below and the store stays usable.
      const std::exception_ptr error = std::make_exception_ptr(IOError(
          fmt::format("store {}: no room on the disk for {} bytes of log "
                      "records ({} bytes free, of which {} are kept)",
                      options_.dir, bytes, free_at_check_, kLowSpace)));
      for (Request* r : appended) r->error = error;
      appended.clear();
    }
  }

  // Append the group's records and sync once.
  try {
    for (Request* r : appended) {
      writer_.append(r->first_lsn, static_cast<std::uint32_t>(r->events.size()),
                     timestamp_ms, r->body);
      r->position = {writer_.last_commit_segment(),
                     writer_.last_commit_offset()};
      bytes_appended_.fetch_add(r->body.size(), std::memory_order_relaxed);
    }
    if (!appended.empty()) appended_lsn_ = writer_.last_lsn();
    if (want_sync && writer_.durable_lsn() < writer_.last_lsn()) {
      fdatasyncs_.fetch_add(1, std::memory_order_relaxed);
      writer_.sync();  // Checks the writer's state under its sync lock.
      raise_to(durable_lsn_, writer_.durable_lsn());
    } else if (writer_.poisoned()) {
      // The background syncer failed meanwhile: nothing is acknowledged after
      // a failed fdatasync.
      throw IOError(writer_.poison_reason());
    } else if (!appended.empty() && syncer_idle_.load()) {
      const std::scoped_lock lock(syncer_mu_);
      syncer_cv_.notify_one();
    }
  } catch (const std::exception& e) {
    fail_group(group, fmt::format("log write failed: {}", what_of(e)));
    if (txn) txn->abort();
    return;
  }

  if (!appended.empty()) {
    const std::uint64_t applied = writer_.last_lsn();
    ViewCommit done;
    try {
      done.last_position = record_log_positions(*txn, appended);
      done.meta_durable_lsn = write_meta(*txn, applied, checksum, timestamp_ms);
      txn->commit();
    } catch (const MapFullError&) {
      txn.reset();
      try {
        done = refold(appended);
      } catch (const std::exception& e) {
        fail(fmt::format("view commit failed: {}", what_of(e)));
        return;
      }
    } catch (const std::exception& e) {
      // The records are in the log (a reopen folds them), so their commits
      // stand; the views lack them, so nothing may read or decide on them.
      fail(fmt::format("view commit failed: {}", what_of(e)));
      return;
    }
    checksum_ = checksum;
    last_timestamp_ms_ = timestamp_ms;
    last_position_ = done.last_position;
    meta_durable_lsn_ = done.meta_durable_lsn;
    applied_lsn_ = applied;
    commits_.fetch_add(appended.size(), std::memory_order_relaxed);
  } else if (txn) {
    txn->abort();
  }
}

bool CommitPipeline::room_for(std::uint64_t bytes) {
  bytes_since_check_ += bytes;
  const bool low = free_at_check_ < kLowSpace + (std::uint64_t{1} << 20);
  if (!low && ++groups_since_check_ < 64 &&
      bytes_since_check_ < (std::uint64_t{1} << 20)) {
    return true;
  }
  groups_since_check_ = 0;
  bytes_since_check_ = 0;
  struct statvfs st {};
  if (::statvfs(options_.dir.c_str(), &st) != 0) {
    free_at_check_ = UINT64_MAX;
    return true;
  }
  free_at_check_ = static_cast<std::uint64_t>(st.f_bavail) * st.f_frsize;
  return free_at_check_ >= kLowSpace + bytes;
}

CommitPipeline::ViewCommit CommitPipeline::refold(
    const std::vector<Request*>& appended) {
  ViewCommit done;
  views_.write(
      [&](LmdbViews::WriteTxn& txn) {
        std::int64_t timestamp_ms = last_timestamp_ms_;
        ChecksumViewStore cs(txn, checksum_);
        for (const Request* r : appended) {
          for (const Event& event : r->events) {
            fold(event, cs);
            timestamp_ms = event.timestamp_ms;
          }
        }
        done.last_position = record_log_positions(txn, appended);
        done.meta_durable_lsn =
            write_meta(txn, writer_.last_lsn(), cs.checksum(), timestamp_ms);
      },
      /*use_reserve=*/true);  // The records are in the log: no refusal now.
  return done;
}

std::optional<history_index::IndexedPosition>
CommitPipeline::record_log_positions(
    ViewStore& txn, const std::vector<Request*>& appended) const {
  std::optional<history_index::IndexedPosition> last = last_position_;
  for (const Request* r : appended) {
    last = history_index::record_log_position_after(txn, r->first_lsn,
                                                    r->position, last);
  }
  return last;
}

void CommitPipeline::sync() {
  if (appended_lsn_.load() <= durable_lsn_.load() && usable()) return;
  commit({}, Durability::kSync);
}

std::uint64_t CommitPipeline::add_listener(CommitListener listener,
                                           std::function<void()> on_close) {
  check_not_in_listener("adding a listener");
  check_usable();
  std::unique_lock lock(listeners_mu_);
  const std::uint64_t id = next_listener_++;
  listeners_.push_back(
      Listener{id, std::move(listener), std::move(on_close), {}});
  return id;
}

std::uint64_t CommitPipeline::add_events_listener(
    CommitEventsListener on_events, std::function<void()> on_close) {
  check_not_in_listener("adding a listener");
  check_usable();
  std::unique_lock lock(listeners_mu_);
  const std::uint64_t id = next_listener_++;
  if (on_events) events_listeners_.fetch_add(1);
  listeners_.push_back(
      Listener{id, {}, std::move(on_close), std::move(on_events)});
  return id;
}

void CommitPipeline::remove_listener(std::uint64_t id) {
  std::unique_lock lock(listeners_mu_);
  std::erase_if(listeners_, [&](const Listener& entry) {
    if (entry.id != id) return false;
    if (entry.on_events) events_listeners_.fetch_sub(1);
    return true;
  });
}

void CommitPipeline::notify_listeners(const CommitNotice& notice,
                                      const std::vector<Event>& events) {
  std::shared_lock lock(listeners_mu_);
  const CommitPipeline* const previous =
      std::exchange(notifying_pipeline, this);
  for (const Listener& listener : listeners_) {
    if (!listener.on_commit && !listener.on_events) continue;
    try {
      if (listener.on_commit) listener.on_commit(notice);
      if (listener.on_events) listener.on_events(notice, events);
    } catch (const std::exception& e) {
      warn(
          fmt::format("commit listener {} threw: {}", listener.id, what_of(e)));
    } catch (...) {
      warn(fmt::format("commit listener {} threw a non-standard exception",
                       listener.id));
    }
  }
  notifying_pipeline = previous;
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

ViewChecksum CommitPipeline::checksum() const { return checksum_; }

std::uint64_t CommitPipeline::listener_turn_waits_for_testing() const {
  const std::scoped_lock lock(mu_);
  return listener_turn_waits_;
}

bool CommitPipeline::syncer_has_work() const {
  return appended_lsn_.load() > durable_lsn_.load() && usable();
}

void CommitPipeline::syncer_loop() {
  std::unique_lock lock(syncer_mu_);
  for (;;) {
    // Sleep until a buffered append (whose leader wakes this thread when it
    // sees syncer_idle_), then let the interval gather more before syncing.
    syncer_idle_.store(true);
    syncer_cv_.wait(lock, [&] { return stopping_ || syncer_has_work(); });
    syncer_idle_.store(false);
    if (stopping_) break;
    syncer_wakeups_.fetch_add(1, std::memory_order_relaxed);
    // wait_until a saturated time point: wait_for's sum in nanoseconds
    // would overflow an interval near milliseconds::max() into the past.
    if (syncer_cv_.wait_until(lock,
                              sync_deadline(std::chrono::steady_clock::now(),
                                            options_.buffered_sync_interval),
                              [&] { return stopping_; })) {
      break;
    }
    lock.unlock();
    // Beside the leader, not through the commit queue: a buffered writer does
    // not wait for this fdatasync.
    try {
      if (writer_.sync_concurrently())
        fdatasyncs_.fetch_add(1, std::memory_order_relaxed);
      raise_to(durable_lsn_, writer_.durable_lsn());
    } catch (const std::exception& e) {
      fail(fmt::format("background log sync failed: {}", what_of(e)));
    }
    lock.lock();
  }
}

bool CommitPipeline::shut_down(bool sync) {
  check_not_in_listener("closing the store");
  {
    std::unique_lock lock(mu_);
    if (state_.load() == State::kClosed) return false;
    if (state_.load() == State::kOpen) state_.store(State::kClosing);
  }
  // Wake what waits for a commit (a blocking poll), so it finds the store
  // closing.
  {
    std::shared_lock lock(listeners_mu_);
    for (const Listener& listener : listeners_) {
      if (listener.on_close) listener.on_close();
    }
  }
  {
    std::unique_lock lock(mu_);
    active_.fetch_or(1);
    idle_cv_.wait(lock, [&] { return active_.load() == 1; });
  }
  {
    const std::scoped_lock lock(syncer_mu_);
    stopping_ = true;
  }
  syncer_cv_.notify_all();
  if (syncer_.joinable()) syncer_.join();
  // No commit runs now and none can start: the writer is this thread's.
  std::string failure;
  {
    const std::scoped_lock lock(mu_);
    failure = failure_;
  }
  if (sync && failure.empty() && writer_.durable_lsn() < writer_.last_lsn()) {
    try {
      fdatasyncs_.fetch_add(1, std::memory_order_relaxed);
      writer_.sync();
      raise_to(durable_lsn_, writer_.durable_lsn());
    } catch (const std::exception& e) {
      failure = fmt::format("final log sync failed: {}", what_of(e));
    }
  }
  {
    const std::scoped_lock lock(mu_);
    if (failure_.empty()) failure_ = failure;
    state_.store(State::kClosed);
  }
  if (sync && !failure.empty()) {
    throw IOError(fmt::format(
        "store {}: the writer is poisoned by an earlier failure ({}); reopen "
        "the store",
        options_.dir, failure));
  }
  return true;
}

void CommitPipeline::close() { shut_down(true); }

void CommitPipeline::abandon_for_testing() { shut_down(false); }

}  // namespace wfstore
