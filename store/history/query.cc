// Event queries: History::events() and count() planned over the views'
// history indexes (history_index.h), the events read from the log by LSN
// (log_cursor.h), and the commit and time lookups (current_lsn, event_at,
// commit_end, lsn_at_time).
//
// Planning: the most selective index the query allows gives the candidate
// LSNs (workflow -> workflow_events; entity -> entity_events; actor or
// correlation id -> its commit index; types -> type_events, several merged by
// LSN; otherwise the LSN window itself), scanned within the LSN window (the
// LSN range narrowed by the time range through commit_times: commit times
// never decrease along the log) in the query's direction, a batch at a time.
// Types are filtered from the index value where it holds them; every other
// criterion on the decoded event. Timestamp order is LSN order.

#include <algorithm>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "wfstore/database.h"
#include "wfstore/errors.h"
#include "wfstore/history.h"

#include "store/database_impl.h"
#include "store/history/log_cursor.h"
#include "wfstore_internal/history_index.h"
#include "wfstore_internal/keys.h"
#include "wfstore_internal/views.h"

namespace wfstore {
namespace {

namespace hi = history_index;

// Index entries read per scan of one index.
constexpr std::size_t kScanBatch = 256;

// A candidate LSN and, when the index value holds it, its event's type.
struct Candidate {
  std::uint64_t lsn = 0;
  std::optional<EventType> type;
};

// Candidate LSNs in the query's direction.
class Source {
 public:
  virtual ~Source() = default;
  virtual std::optional<Candidate> next() = 0;
};

// The LSNs of (lo, hi] themselves.
class LsnSource final : public Source {
 public:
  LsnSource(std::uint64_t lo, std::uint64_t hi, bool ascending)
      : lo_(lo), hi_(hi), ascending_(ascending) {}
  std::optional<Candidate> next() override {
    if (lo_ >= hi_) return std::nullopt;
    if (ascending_) return Candidate{++lo_, std::nullopt};
    return Candidate{hi_--, std::nullopt};
  }

 private:
  std::uint64_t lo_;
  std::uint64_t hi_;
  bool ascending_;
};

// Decodes an index value into the candidate's type; nullopt skips the entry
// (a hash collision told apart by the value's check).
using ValueFn =
    std::function<std::optional<std::optional<EventType>>(std::string_view)>;

// The entries of one index whose keys are `prefix` followed by an LSN in
// (lo, hi], read kScanBatch at a time in the query's direction.
class IndexSource final : public Source {
 public:
  IndexSource(const ViewReader& views, Table table, std::string prefix,
              std::uint64_t lo, std::uint64_t hi, bool ascending, ValueFn value)
      : views_(views),
        table_(table),
        prefix_(std::move(prefix)),
        lo_(lo),
        hi_(hi),
        ascending_(ascending),
        value_(std::move(value)) {}

  std::optional<Candidate> next() override {
    while (pos_ == buffer_.size()) {
      if (done_) return std::nullopt;
      refill();
    }
    return buffer_[pos_++];
  }

 private:
  std::string key(std::uint64_t lsn) const {
    std::string out = prefix_;
    keys::append_u64(out, lsn);
    return out;
  }
  // The exclusive upper bound of LSNs <= hi.
  std::string end_key(std::uint64_t hi) const {
    return hi == UINT64_MAX ? keys::prefix_end(prefix_) : key(hi + 1);
  }

  void refill() {
    buffer_.clear();
    pos_ = 0;
    if (lo_ >= hi_) {
      done_ = true;
      return;
    }
    std::size_t seen = 0;
    std::uint64_t last = 0;
    views_.scan(
        table_, key(lo_ + 1), end_key(hi_),
        [&](std::string_view k, std::string_view v) {
          last = keys::decode_u64(k.substr(prefix_.size()));
          ++seen;
          if (const auto type = value_(v)) {
            buffer_.push_back(Candidate{last, *type});
          }
          return seen < kScanBatch;
        },
        !ascending_);
    if (seen < kScanBatch) {
      done_ = true;
    } else if (ascending_) {
      lo_ = last;
    } else {
      hi_ = last - 1;
    }
  }

  const ViewReader& views_;
  Table table_;
  std::string prefix_;
  std::uint64_t lo_;
  std::uint64_t hi_;
  bool ascending_;
  ValueFn value_;
  std::vector<Candidate> buffer_;
  std::size_t pos_ = 0;
  bool done_ = false;
};

// Merges sources by LSN (several types).
class MergeSource final : public Source {
 public:
  MergeSource(std::vector<std::unique_ptr<Source>> sources, bool ascending)
      : sources_(std::move(sources)), ascending_(ascending) {
    for (auto& source : sources_) heads_.push_back(source->next());
  }
  std::optional<Candidate> next() override {
    std::optional<std::size_t> best;
    for (std::size_t i = 0; i < heads_.size(); ++i) {
      if (!heads_[i]) continue;
      if (!best || (ascending_ ? heads_[i]->lsn < heads_[*best]->lsn
                               : heads_[i]->lsn > heads_[*best]->lsn)) {
        best = i;
      }
    }
    if (!best) return std::nullopt;
    std::optional<Candidate> out = heads_[*best];
    heads_[*best] = sources_[*best]->next();
    return out;
  }

 private:
  std::vector<std::unique_ptr<Source>> sources_;
  std::vector<std::optional<Candidate>> heads_;
  bool ascending_;
};

// Every LSN of the commits an audit index lists, within (lo, hi].
class CommitSource final : public Source {
 public:
  CommitSource(const ViewReader& views, std::unique_ptr<Source> commits,
               std::uint64_t lo, std::uint64_t hi, std::uint64_t applied,
               bool ascending)
      : views_(views),
        commits_(std::move(commits)),
        lo_(lo),
        hi_(hi),
        applied_(applied),
        ascending_(ascending) {}

  std::optional<Candidate> next() override {
    while (from_ > to_) {
      const std::optional<Candidate> commit = commits_->next();
      if (!commit) return std::nullopt;
      const std::optional<hi::CommitEntry> after =
          hi::commit_after(views_, commit->lsn);
      const std::uint64_t end = after ? after->first_lsn - 1 : applied_;
      from_ = std::max(commit->lsn, lo_ + 1);
      to_ = std::min(end, hi_);
    }
    if (ascending_) return Candidate{from_++, std::nullopt};
    return Candidate{to_--, std::nullopt};
  }

 private:
  const ViewReader& views_;
  std::unique_ptr<Source> commits_;
  std::uint64_t lo_;
  std::uint64_t hi_;
  std::uint64_t applied_;
  bool ascending_;
  std::uint64_t from_ = 1;  // the current commit's remaining LSNs
  std::uint64_t to_ = 0;
};

bool has_type(const std::vector<EventType>& types, EventType type) {
  return std::find(types.begin(), types.end(), type) != types.end();
}

bool has_entity(const Event& event, const EntityRef& entity) {
  const std::vector<EntityRef> refs = event_entities(event.payload);
  return std::find(refs.begin(), refs.end(), entity) != refs.end();
}

}  // namespace

bool event_matches(const Event& event, const EventQuery& query) {
  if (query.from_lsn && event.lsn <= *query.from_lsn) return false;
  if (query.to_lsn && event.lsn > *query.to_lsn) return false;
  if (!query.types.empty() && std::find(query.types.begin(), query.types.end(),
                                        event.type()) == query.types.end()) {
    return false;
  }
  if (query.workflow_id && event.workflow_id != *query.workflow_id)
    return false;
  if (query.entity) {
    if (query.entity->kind == EntityKind::kWorkflow) {
      if (event.workflow_id != query.entity->id) return false;
    } else if (!has_entity(event, *query.entity)) {
      return false;
    }
  }
  if (query.actor && event.audit.actor != *query.actor) return false;
  if (query.correlation_id &&
      event.audit.correlation_id != *query.correlation_id) {
    return false;
  }
  if (query.from_time_ms && event.timestamp_ms < *query.from_time_ms)
    return false;
  if (query.to_time_ms && event.timestamp_ms > *query.to_time_ms) return false;
  return true;
}

void check_event_query(const EventQuery& q) {
  if (q.from_lsn && q.to_lsn && *q.from_lsn >= *q.to_lsn) {
    throw InvalidArgumentError(
        fmt::format("event query: from_lsn {} must be below to_lsn {}",
                    *q.from_lsn, *q.to_lsn));
  }
  if (q.from_time_ms && q.to_time_ms && *q.from_time_ms > *q.to_time_ms) {
    throw InvalidArgumentError(
        fmt::format("event query: from_time_ms {} is after to_time_ms {}",
                    *q.from_time_ms, *q.to_time_ms));
  }
  if (q.workflow_id && q.workflow_id->empty()) {
    throw InvalidArgumentError("event query: the workflow id is empty");
  }
  if (q.entity) {
    if (entity_kind_name(q.entity->kind) == "unknown") {
      throw InvalidArgumentError(
          fmt::format("event query: unknown entity kind {}",
                      static_cast<int>(q.entity->kind)));
    }
    if (q.entity->kind == EntityKind::kWorkflow) {
      if (q.entity->id.empty()) {
        throw InvalidArgumentError("event query: the workflow id is empty");
      }
    } else {
      hi::entity_index_key(*q.entity);  // throws for a bad id
    }
  }
  for (EventType type : q.types) {
    if (event_type_name(type) == "Unknown") {
      throw InvalidArgumentError(fmt::format(
          "event query: unknown event type {}", static_cast<int>(type)));
    }
  }
}

namespace {

// One query over one views snapshot.
class QueryRun {
 public:
  QueryRun(Database& database, const EventQuery& query)
      : impl_(database_impl(database)),
        snapshot_(impl_.core().read()),
        query_(query),
        applied_(applied_lsn(snapshot_)),
        log_(snapshot_, impl_.store_dir(), impl_.file_system()) {
    if (query_.entity && query_.entity->kind == EntityKind::kWorkflow) {
      if (query_.workflow_id && *query_.workflow_id != query_.entity->id) {
        empty_ = true;
      }
      workflow_ = query_.entity->id;
    } else if (query_.workflow_id) {
      workflow_ = *query_.workflow_id;
    }
    types_ = query_.types;
    std::sort(types_.begin(), types_.end());
    types_.erase(std::unique(types_.begin(), types_.end()), types_.end());
    window();
  }

  // Calls `fn` with each matching candidate in order until it returns
  // false. `decode_all`: every match is decoded (events()); otherwise only
  // where the index cannot answer (count()).
  template <typename Fn>
  void run(bool decode_all, Fn fn) {
    if (empty_ || lo_ >= hi_) return;
    std::unique_ptr<Source> source = plan();
    while (const std::optional<Candidate> c = source->next()) {
      if (c->type && !types_.empty() && !has_type(types_, *c->type)) continue;
      const Event* event = nullptr;
      if (decode_all || needs_decode(*c)) {
        event = &log_.event(c->lsn);
        if (!matches(*event)) continue;
      }
      if (!fn(c->lsn, event)) return;
    }
  }

  // The count when the index alone answers without iterating, else nullopt.
  std::optional<std::uint64_t> direct_count() {
    if (empty_ || lo_ >= hi_) return 0;
    if (workflow_ || query_.entity || query_.actor || query_.correlation_id)
      return std::nullopt;
    if (types_.empty()) return hi_ - lo_;
    if (lo_ == 0 && hi_ == applied_) {
      std::uint64_t total = 0;
      for (EventType type : types_) total += hi::event_count(snapshot_, type);
      return total;
    }
    return std::nullopt;
  }

  // The event at `lsn` when it meets every criterion, else null. Valid until
  // the next decode.
  const Event* decode_match(std::uint64_t lsn) {
    const Event& event = log_.event(lsn);
    return matches(event) ? &event : nullptr;
  }

 private:
  // The LSN window (lo_, hi_]: the LSN range within the views, narrowed by
  // the time range.
  void window() {
    lo_ = query_.from_lsn.value_or(0);
    hi_ = std::min(query_.to_lsn.value_or(applied_), applied_);
    if (query_.from_time_ms) {
      const std::optional<std::uint64_t> first =
          hi::first_commit_at_or_after(snapshot_, *query_.from_time_ms);
      if (!first) {
        empty_ = true;
        return;
      }
      lo_ = std::max(lo_, *first - 1);
    }
    if (query_.to_time_ms && *query_.to_time_ms != INT64_MAX) {
      if (const std::optional<std::uint64_t> after =
              hi::first_commit_at_or_after(snapshot_, *query_.to_time_ms + 1)) {
        hi_ = std::min(hi_, *after - 1);
      }
    }
  }

  std::unique_ptr<Source> plan() {
    const bool asc = query_.ascending;
    const auto typed = [](Table table) -> ValueFn {
      return
          [table](
              std::string_view v) -> std::optional<std::optional<EventType>> {
            return std::optional<EventType>(hi::indexed_type(v, table));
          };
    };
    if (workflow_) {
      source_ = Planned::kWorkflow;
      const std::optional<std::uint64_t> wf =
          keys::lookup_id(snapshot_, *workflow_);
      if (!wf) return std::make_unique<LsnSource>(0, 0, asc);
      return std::make_unique<IndexSource>(snapshot_, Table::kWorkflowEvents,
                                           keys::encode_u64(*wf), lo_, hi_, asc,
                                           typed(Table::kWorkflowEvents));
    }
    if (query_.entity) {
      source_ = Planned::kEntity;
      const hi::EntityKey key = hi::entity_index_key(*query_.entity);
      std::string prefix(1, static_cast<char>(query_.entity->kind));
      keys::append_u64(prefix, key.key);
      return std::make_unique<IndexSource>(
          snapshot_, Table::kEntityEvents, std::move(prefix), lo_, hi_, asc,
          [key](std::string_view v) -> std::optional<std::optional<EventType>> {
            if (!hi::entity_check_matches(v, key)) return std::nullopt;
            return std::optional<EventType>(
                hi::indexed_type(v, Table::kEntityEvents));
          });
    }
    if ((query_.actor && !query_.actor->empty()) ||
        (query_.correlation_id && !query_.correlation_id->empty())) {
      const bool by_actor = query_.actor && !query_.actor->empty();
      source_ = by_actor ? Planned::kActor : Planned::kCorrelation;
      const keys::IdHashes h =
          keys::id_hashes(by_actor ? *query_.actor : *query_.correlation_id);
      // Commits that start before the window may reach into it.
      const std::optional<hi::CommitEntry> first =
          hi::commit_holding(snapshot_, lo_ + 1);
      const std::uint64_t commits_lo = first ? first->first_lsn - 1 : lo_;
      auto commits = std::make_unique<IndexSource>(
          snapshot_,
          by_actor ? Table::kActorCommits : Table::kCorrelationCommits,
          keys::encode_u64(h.hash), commits_lo, hi_, asc,
          [check = h.check](
              std::string_view v) -> std::optional<std::optional<EventType>> {
            if (keys::decode_u64(v) != check) return std::nullopt;
            return std::optional<EventType>();
          });
      return std::make_unique<CommitSource>(snapshot_, std::move(commits), lo_,
                                            hi_, applied_, asc);
    }
    if (!types_.empty()) {
      source_ = Planned::kTypes;
      std::vector<std::unique_ptr<Source>> sources;
      for (EventType type : types_) {
        std::string prefix = hi::type_key(type, 0).substr(0, 2);
        sources.push_back(std::make_unique<IndexSource>(
            snapshot_, Table::kTypeEvents, std::move(prefix), lo_, hi_, asc,
            [type](
                std::string_view) -> std::optional<std::optional<EventType>> {
              return std::optional<EventType>(type);
            }));
      }
      if (sources.size() == 1) return std::move(sources.front());
      return std::make_unique<MergeSource>(std::move(sources), asc);
    }
    source_ = Planned::kLsns;
    return std::make_unique<LsnSource>(lo_, hi_, asc);
  }

  // Whether a candidate's criteria other than its type need the event.
  bool needs_decode(const Candidate& c) const {
    if (!types_.empty() && !c.type) return true;
    if (workflow_ && source_ != Planned::kWorkflow) return true;
    if (query_.entity && query_.entity->kind != EntityKind::kWorkflow &&
        source_ != Planned::kEntity) {
      return true;
    }
    const bool actor_indexed = query_.actor && !query_.actor->empty();
    if (query_.actor && source_ != Planned::kActor) return true;
    if (query_.correlation_id &&
        (source_ != Planned::kCorrelation || actor_indexed)) {
      return true;
    }
    return false;
  }

  // Every criterion, checked on the decoded event.
  bool matches(const Event& event) const {
    return event_matches(event, query_);
  }

  enum class Planned {
    kNone,
    kWorkflow,
    kEntity,
    kActor,
    kCorrelation,
    kTypes,
    kLsns
  };

  Database::Impl& impl_;
  LmdbViews::Snapshot snapshot_;
  const EventQuery& query_;
  std::uint64_t applied_;
  LogCursor log_;
  std::optional<std::string> workflow_;
  std::vector<EventType> types_;
  std::uint64_t lo_ = 0;
  std::uint64_t hi_ = 0;
  bool empty_ = false;
  Planned source_ = Planned::kNone;
};

}  // namespace

std::uint64_t History::current_lsn() const {
  const LmdbViews::Snapshot snapshot = database_impl(database_).core().read();
  return applied_lsn(snapshot);
}

std::vector<Event> History::events(const EventQuery& query) const {
  check_event_query(query);
  std::vector<Event> out;
  if (query.limit == 0) return out;
  QueryRun run(database_, query);
  std::size_t skipped = 0;
  run.run(/*decode_all=*/false, [&](std::uint64_t lsn, const Event* event) {
    if (skipped < query.offset) {
      // The index answered for this match when it did not decode it.
      ++skipped;
      return true;
    }
    if (event == nullptr) {
      event = run.decode_match(lsn);
      if (event == nullptr) return true;  // a hash collision
    }
    out.push_back(*event);
    return out.size() < query.limit;
  });
  return out;
}

std::uint64_t History::count(const EventQuery& query) const {
  check_event_query(query);
  QueryRun run(database_, query);
  if (const std::optional<std::uint64_t> direct = run.direct_count())
    return *direct;
  std::uint64_t n = 0;
  run.run(/*decode_all=*/false, [&](std::uint64_t, const Event*) {
    ++n;
    return true;
  });
  return n;
}

std::optional<Event> History::event_at(std::uint64_t lsn) const {
  Database::Impl& impl = database_impl(database_);
  const LmdbViews::Snapshot snapshot = impl.core().read();
  if (lsn == 0 || lsn > applied_lsn(snapshot)) return std::nullopt;
  LogCursor log(snapshot, impl.store_dir(), impl.file_system());
  return log.event(lsn);
}

std::uint64_t History::commit_end(std::uint64_t lsn) const {
  const LmdbViews::Snapshot snapshot = database_impl(database_).core().read();
  const std::uint64_t applied = applied_lsn(snapshot);
  if (lsn == 0 || lsn > applied) {
    throw InvalidArgumentError(
        fmt::format("commit_end: lsn {} is outside the store's events 1..{}",
                    lsn, applied));
  }
  const std::optional<hi::CommitEntry> after = hi::commit_after(snapshot, lsn);
  return after ? after->first_lsn - 1 : applied;
}

std::uint64_t History::lsn_at_time(std::int64_t time_ms) const {
  const LmdbViews::Snapshot snapshot = database_impl(database_).core().read();
  const std::uint64_t applied = applied_lsn(snapshot);
  if (time_ms == INT64_MAX) return applied;
  const std::optional<std::uint64_t> after =
      hi::first_commit_at_or_after(snapshot, time_ms + 1);
  return after ? *after - 1 : applied;
}

}  // namespace wfstore
