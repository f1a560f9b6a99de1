// KafkaExporter over librdkafka's transactional producer: read a batch after
// the position (read_committed_commits, transcoded to records), make it
// durable, send it in one transaction, write the position after the commit
// succeeded.

#include <algorithm>
#include <array>
#include <atomic>
#include <condition_variable>
#include <deque>
#include <future>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include <fmt/format.h>
#include <librdkafka/rdkafka.h>

#include "wfstore/kafka_exporter.h"
#include "wfstore/kafka_record.h"

#include "kafka/export_position.h"
#include "kafka/record_encode.h"
#include "wfstore_internal/committed_events.h"
#include "wfstore_internal/event_json_text.h"
#include "wfstore_internal/kafka_client.h"
#include "wfstore_internal/log_format.h"

namespace wfstore {
namespace {

using Stop = std::function<bool()>;
using SteadyClock = std::chrono::steady_clock;

constexpr std::chrono::milliseconds kMaxBackoff{2000};

void check_topic(const std::string& topic) {
  if (!kafka::is_topic_name(topic)) {
    throw InvalidArgumentError(fmt::format(
        "Kafka topic '{}' must be 1-{} characters of [A-Za-z0-9._-] and not "
        "'.' or '..'",
        topic, kafka::kMaxTopicLength));
  }
}

void check_options(const KafkaExporterOptions& o) {
  if (o.brokers.empty()) {
    throw InvalidArgumentError("Kafka export: no brokers given");
  }
  check_topic(o.topic);
  if (o.max_batch_events == 0 || o.max_batch_bytes == 0) {
    throw InvalidArgumentError(
        "Kafka export: max_batch_events and max_batch_bytes must be >= 1");
  }
  if (o.max_batch_time.count() < 0 || o.operation_timeout.count() < 1 ||
      o.retry_backoff.count() < 1 || o.give_up_after.count() < 0 ||
      o.poll_interval.count() < 1) {
    throw InvalidArgumentError(
        "Kafka export: max_batch_time and give_up_after must be >= 0, "
        "operation_timeout, retry_backoff and poll_interval >= 1 ms");
  }
  for (const auto& [name, value] : o.properties) {
    if (name == "bootstrap.servers" || name == "metadata.broker.list" ||
        name == "transactional.id" || name == "enable.idempotence") {
      throw InvalidArgumentError(fmt::format(
          "Kafka export: property '{}' is the exporter's own", name));
    }
  }
}

// The producer's configuration; throws InvalidArgumentError for a property
// librdkafka rejects.
rd_kafka_conf_t* make_conf(const KafkaExporterOptions& o,
                           const std::string& transactional_id) {
  std::vector<std::pair<std::string, std::string>> props = {
      {"compression.type", "lz4"},
      {"linger.ms", "5"},
      {"log_level", "3"},
      {"queue.buffering.max.messages", "1000000"},
  };
  props.insert(props.end(), o.properties.begin(), o.properties.end());
  props.emplace_back("bootstrap.servers", o.brokers);
  props.emplace_back("transactional.id", transactional_id);
  props.emplace_back("enable.idempotence", "true");
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  // A delivery report callback, though it does nothing (a failed delivery
  // fails the transaction's commit): without one, a delivered message wakes
  // nothing, and rd_kafka_commit_transaction's flush sleeps in 10 ms polls
  // after the last delivery (measured: a one-event transaction took 11 ms,
  // not 1).
  rd_kafka_conf_set_dr_msg_cb(
      conf, [](rd_kafka_t*, const rd_kafka_message_t*, void*) {});
  std::array<char, 512> error{};
  for (const auto& [name, value] : props) {
    if (rd_kafka_conf_set(conf, name.c_str(), value.c_str(), error.data(),
                          error.size()) != RD_KAFKA_CONF_OK) {
      rd_kafka_conf_destroy(conf);
      throw InvalidArgumentError(fmt::format("Kafka export: property {}={}: {}",
                                             name, value, error.data()));
    }
  }
  return conf;
}

bool is_fenced(rd_kafka_resp_err_t code) {
  return code == RD_KAFKA_RESP_ERR__FENCED ||
         code == RD_KAFKA_RESP_ERR_INVALID_PRODUCER_EPOCH ||
         code == RD_KAFKA_RESP_ERR_PRODUCER_FENCED;
}

// An encoded batch: the records of [first_lsn, last_lsn].
struct Batch {
  std::uint64_t first_lsn = 0;
  std::uint64_t last_lsn = 0;
  std::vector<KafkaRecord> records;
};

// Encoded records by LSN, in LSN order.
using Records = std::deque<std::pair<std::uint64_t, KafkaRecord>>;

// The bytes of `record` that count against max_batch_bytes: its key, value
// and headers.
std::size_t record_bytes(const KafkaRecord& record) {
  std::size_t size = record.key.size() + record.value.size();
  for (const auto& [name, value] : record.headers) {
    size += name.size() + value.size();
  }
  return size;
}

// The value of `record`'s header `name` ("" when it has none).
std::string header_of(const KafkaRecord& record, std::string_view name) {
  const auto it =
      std::find_if(record.headers.begin(), record.headers.end(),
                   [&](const auto& header) { return header.first == name; });
  return it == record.headers.end() ? std::string() : it->second;
}

// What to do after a failed Kafka call.
enum class Next : std::uint8_t { kRetry, kAbort, kRecreate };

}  // namespace

class KafkaExporter::Impl {
 public:
  Impl(Database& database, KafkaExporterOptions options)
      : db_(database), o_(std::move(options)), files_(store_files(database)) {
    check_options(o_);
    txn_id_ = o_.transactional_id.empty()
                  ? fmt::format("wfstore-{}-{}", files_.store_id, o_.topic)
                  : o_.transactional_id;
    rd_kafka_conf_destroy(make_conf(o_, txn_id_));  // checks the properties
    // A damaged or foreign position file is refused before anything is
    // written.
    const std::optional<kafka::ExportPosition> p =
        kafka::read_position(files_, o_.topic);
    exported_ = p ? p->lsn : 0;
    const std::filesystem::path dir = files_.dir / kafka::kExportsDir;
    files_.fs->create_directories(dir);
    lock_ = files_.fs->try_lock(dir / (o_.topic + ".lock"));
    if (!lock_) {
      throw StoreLockedError(fmt::format(
          "{}: topic '{}' is being exported by another exporter (process or "
          "thread)",
          files_.dir.string(), o_.topic));
    }
  }

  ~Impl() {
    stop();
    destroy_producer();
  }

  std::uint64_t export_until_caught_up(const Stop& stop) {
    const RunGuard guard(*this);
    export_to(store_lsn(), stop ? stop : Stop([] { return false; }));
    return exported_.load();
  }

  void run(const Stop& stop) {
    const RunGuard guard(*this);
    follow(stop);
  }

  void start() {
    const std::scoped_lock lock(bg_mu_);
    if (thread_.joinable()) {
      throw InvalidArgumentError(
          "Kafka export: already started (stop() it first)");
    }
    // The run is taken here and given back by the thread when it ends.
    auto guard = std::make_unique<RunGuard>(*this);
    stopping_ = false;
    {
      const std::scoped_lock error_lock(error_mu_);
      error_ = nullptr;
    }
    thread_ = std::thread([this, held = std::move(guard)] {
      try {
        follow([this] { return stopping_.load(); });
      } catch (...) {
        const std::scoped_lock error_lock(error_mu_);
        error_ = std::current_exception();
      }
    });
  }

  void stop() noexcept {
    const std::scoped_lock lock(bg_mu_);
    if (!thread_.joinable()) return;
    stopping_ = true;
    {
      const std::scoped_lock wake(wake_mu_);
      woken_ = true;
    }
    wake_cv_.notify_all();
    thread_.join();
    stopping_ = false;
  }

  std::exception_ptr error() const {
    const std::scoped_lock lock(error_mu_);
    return error_;
  }

  KafkaExportLag lag() const { return kafka::lag_of(db_, exported_.load()); }

  std::string metric_lines() const {
    return export_metric_lines({{o_.topic, cluster_id(), lag(), {}}});
  }

  const std::string& transactional_id() const { return txn_id_; }
  std::uint64_t restarts() const { return restarts_.load(); }

 private:
  // Marks a run going on; one at a time.
  class RunGuard {
   public:
    explicit RunGuard(Impl& impl) : impl_(impl) {
      if (impl_.running_.exchange(true)) {
        throw InvalidArgumentError(
            "Kafka export: a run of this exporter is going on");
      }
    }
    ~RunGuard() { impl_.running_ = false; }
    RunGuard(const RunGuard&) = delete;
    RunGuard& operator=(const RunGuard&) = delete;

   private:
    Impl& impl_;
  };

  std::string cluster_id() const {
    const std::scoped_lock lock(cluster_mu_);
    return cluster_id_;
  }

  std::uint64_t store_lsn() const {
    return read_committed_events(db_, 0, 0).current_lsn;
  }

  // Exports and follows until `stop`.
  void follow(const Stop& stop) {
    std::optional<std::uint64_t> listener;
    if (!files_.read_only) {
      listener = db_.add_commit_listener([this](const CommitNotice&) {
        {
          const std::scoped_lock lock(wake_mu_);
          woken_ = true;
        }
        wake_cv_.notify_all();
      });
    }
    try {
      bool was_idle = true;
      while (!stop()) {
        const std::uint64_t target = store_lsn();
        if (target > exported_.load()) {
          if (was_idle && o_.max_batch_time.count() > 0) {
            // Let a batch gather for max_batch_time after its first event
            // (the commits meanwhile join it rather than end the wait).
            sleep_unless_stopped(o_.max_batch_time,
                                 [&] { return stop() || stopping_.load(); });
          }
          export_to(store_lsn(), stop);
          was_idle = false;
          continue;
        }
        was_idle = true;
        wait(o_.poll_interval, stop);
      }
    } catch (...) {
      if (listener) db_.remove_commit_listener(*listener);
      throw;
    }
    if (listener) db_.remove_commit_listener(*listener);
  }

  // Waits `interval`, or less when a commit listener wakes it or `stop`.
  void wait(std::chrono::milliseconds interval, const Stop& stop) {
    const auto until = SteadyClock::now() + interval;
    std::unique_lock lock(wake_mu_);
    while (!woken_ && SteadyClock::now() < until && !stopping_.load()) {
      wake_cv_.wait_for(
          lock, std::min<SteadyClock::duration>(until - SteadyClock::now(),
                                                std::chrono::milliseconds(10)));
      if (stop()) break;
    }
    woken_ = false;
  }

  // Exports batches until the position reaches `target` or `stop`.
  void export_to(std::uint64_t target, const Stop& stop) {
    last_progress_ = SteadyClock::now();
    backoff_ = o_.retry_backoff;
    if (target == 0) return;  // an empty store: nothing to prove exported
    while (!stop() && !stopping_.load()) {
      if (!ensure_producer(stop)) return;
      if (exported_.load() >= target) return;
      if (send(next_batch(exported_.load()), stop)) {
        last_progress_ = SteadyClock::now();
        backoff_ = o_.retry_backoff;
      }
    }
  }

  // The batch after `after`: the one sent last again when it failed, else
  // the records encoded beyond the last batch and new ones, up to the
  // batch bounds. Starts encoding the records after it in the background,
  // so the next batch is ready while this one is sent and committed.
  const Batch& next_batch(std::uint64_t after) {
    if (!batch_.records.empty() && batch_.first_lsn == after + 1) {
      return batch_;
    }
    if (!pending_.empty() && pending_.front().first != after + 1) {
      pending_.clear();
    }
    batch_ = Batch{};
    batch_.first_lsn = after + 1;
    std::size_t bytes = 0;
    while (batch_.records.size() < o_.max_batch_events) {
      if (pending_.empty()) {
        const std::uint64_t from = after + batch_.records.size();
        pending_ = take_prefetched(from);
        if (pending_.empty()) {
          pending_ = encode(from, o_.max_batch_events - batch_.records.size());
        }
        if (pending_.empty()) break;
      }
      KafkaRecord& record = pending_.front().second;
      const std::size_t size = record_bytes(record);
      if (!batch_.records.empty() && bytes + size > o_.max_batch_bytes) break;
      bytes += size;
      batch_.last_lsn = pending_.front().first;
      batch_.records.push_back(std::move(record));
      pending_.pop_front();
    }
    if (!batch_.records.empty() && pending_.size() < o_.max_batch_events &&
        !prefetch_.valid()) {
      const std::uint64_t from =
          pending_.empty() ? batch_.last_lsn : pending_.back().first;
      prefetch_after_ = from;
      prefetch_ = std::async(std::launch::async, [this, from] {
        return encode(from, o_.max_batch_events);
      });
    }
    return batch_;
  }

  // The records of the committed events after `after`: at most `max`, and
  // no more once they reach max_batch_bytes. The log's commits are read as
  // stored and transcoded straight to record values.
  // Thread-safety: reads the store and the constant files_ only, so it runs
  // on the prefetch thread too.
  Records encode(std::uint64_t after, std::size_t max) const {
    // Commits read at a time (their bodies are smaller than their records).
    constexpr std::size_t kReadEvents = 2000;
    Records records;
    std::vector<EventJsonText> texts;
    std::size_t bytes = 0;
    while (records.size() < max) {
      const std::uint64_t from = after + records.size();
      const std::size_t want = std::min(kReadEvents, max - records.size());
      const CommittedCommits read = read_committed_commits(db_, from, want);
      if (read.commits.empty()) break;
      const std::uint64_t to =
          from + std::min<std::uint64_t>(want, read.current_lsn - from);
      for (const log::Commit& commit : read.commits) {
        texts.clear();
        append_commit_json_texts(commit.first_lsn, commit.timestamp_ms,
                                 commit.event_count, commit.body, from + 1, to,
                                 texts);
        const std::string hash = log::to_hex(commit.hash);
        for (EventJsonText& text : texts) {
          const std::uint64_t lsn = text.lsn;
          records.emplace_back(
              lsn, kafka::record_of(std::move(text), files_.store_id, hash,
                                    commit.last_lsn()));
          bytes += record_bytes(records.back().second);
          // Bounded in bytes as a batch is, so big events cannot make the
          // records held ahead grow past about one batch.
          if (bytes >= o_.max_batch_bytes) return records;
        }
      }
    }
    return records;
  }

  // The records the background encoding made when it started at `after`
  // (empty otherwise, or when there is none); rethrows its error then only:
  // the error of records no longer wanted (the position moved back after a
  // failed batch) is not this position's.
  Records take_prefetched(std::uint64_t after) {
    if (!prefetch_.valid()) return {};
    if (prefetch_after_ != after) {
      try {
        (void)prefetch_.get();
      } catch (const std::exception&) {  // NOLINT(bugprone-empty-catch)
      }
      return {};
    }
    return prefetch_.get();
  }

  // Creates the producer and initializes its transactions unless done;
  // returns false when stopped first.
  bool ensure_producer(const Stop& stop) {
    while (rk_ == nullptr) {
      if (stop() || stopping_.load()) return false;
      std::array<char, 512> error{};
      rd_kafka_conf_t* conf = make_conf(o_, txn_id_);
      rk_ = rd_kafka_new(RD_KAFKA_PRODUCER, conf, error.data(), error.size());
      if (rk_ == nullptr) {
        rd_kafka_conf_destroy(conf);
        throw KafkaExportError(fmt::format(
            "Kafka export: cannot create a producer: {}", error.data()));
      }
      rd_kafka_error_t* err =
          rd_kafka_init_transactions(rk_, timeout_ms(o_.operation_timeout));
      if (err != nullptr) {
        const std::string what = describe("init_transactions", err);
        const bool fatal = rd_kafka_error_is_fatal(err) != 0;
        rd_kafka_error_destroy(err);
        if (fatal) check_fenced(what);
        destroy_producer();
        failed_attempt(what, stop);
        continue;
      }
      char* id = rd_kafka_clusterid(rk_, timeout_ms(o_.operation_timeout));
      if (id == nullptr) {
        destroy_producer();
        failed_attempt("Kafka export: the cluster id is unknown", stop);
        continue;
      }
      const std::string cluster(id);
      rd_kafka_mem_free(rk_, id);
      const std::optional<kafka::ExportPosition> p =
          kafka::read_position(files_, o_.topic);
      // A position of another cluster does not count: export from LSN 1.
      const std::uint64_t position =
          p && p->cluster_id == cluster ? check_position(*p) : 0;
      {
        const std::scoped_lock lock(cluster_mu_);
        cluster_id_ = cluster;
      }
      exported_ = position;
      learn_topic_leaders();  // after the position was accepted
    }
    return true;
  }

  // Asks the cluster for the topic's partitions and leaders (creating a
  // missing topic where the cluster auto-creates) before the first batch.
  // Without it the first produce() finds no leaders and librdkafka learns
  // them on its one-second topic scan: each new producer's first
  // transaction then waited about a second (measured: a 99,000-event export
  // took 1.5 s instead of 0.55). An error is left to the batch's own
  // produce() and commit, which report it where it is handled.
  void learn_topic_leaders() {
    constexpr std::chrono::milliseconds kMaxWait{1000};
    rd_kafka_topic_t* rkt = rd_kafka_topic_new(rk_, o_.topic.c_str(), nullptr);
    if (rkt == nullptr) return;
    const rd_kafka_metadata_t* md = nullptr;
    (void)rd_kafka_metadata(
        rk_, 0, rkt, &md, timeout_ms(std::min(o_.operation_timeout, kMaxWait)));
    if (md != nullptr) rd_kafka_metadata_destroy(md);
    rd_kafka_topic_destroy(rkt);
  }

  // The LSN of position `p` when the store still holds what was exported up
  // to it: the commit hash of its last event is the one the topic has (the
  // hashes are chained, so the LSNs before it match too). Throws
  // InvalidArgumentError otherwise (the store was replaced or restored from
  // a copy behind the position): resuming after it would leave the events
  // now at those LSNs out of the topic.
  std::uint64_t check_position(const kafka::ExportPosition& p) {
    const std::uint64_t end = store_lsn();
    std::string hash = "none";
    if (p.lsn <= end) {
      if (p.lsn == 0) return 0;
      const CommittedEvents at = read_committed_events(db_, p.lsn - 1, 1, true);
      if (!at.commit_hashes.empty()) {
        hash = log::to_hex(at.commit_hashes.front());
        if (hash == p.commit_hash) return p.lsn;
      }
    }
    throw InvalidArgumentError(fmt::format(
        "Kafka export of topic '{}': the position (lsn {}, commit hash {}) "
        "does not match the store (last lsn {}; commit hash of lsn {}: {}); "
        "it was made for another state of the store; remove {} to export "
        "the store from lsn 1",
        o_.topic, p.lsn, p.commit_hash, end, p.lsn, hash,
        kafka::position_path(files_, o_.topic).string()));
  }

  // Sends `batch` in one transaction and writes the position; returns
  // whether it was committed.
  bool send(const Batch& batch, const Stop& stop) {
    if (db_.stats().durable_lsn < batch.last_lsn) {
      make_log_durable(db_, batch.last_lsn);
    }
    if (rd_kafka_error_t* err = rd_kafka_begin_transaction(rk_)) {
      return after_error("begin_transaction", err, stop);
    }
    for (const KafkaRecord& r : batch.records) {
      if (rd_kafka_error_t* err = produce(r)) {
        return after_error("produce", err, stop);
      }
    }
    for (;;) {
      rd_kafka_error_t* err =
          rd_kafka_commit_transaction(rk_, timeout_ms(o_.operation_timeout));
      if (err == nullptr) break;
      if (rd_kafka_error_is_retriable(err) != 0 && !stop() &&
          !stopping_.load()) {
        const std::string what = describe("commit_transaction", err);
        rd_kafka_error_destroy(err);
        failed_attempt(what, stop);
        continue;
      }
      return after_error("commit_transaction", err, stop);
    }
    kafka::ExportPosition p;
    p.topic = o_.topic;
    p.store_id = files_.store_id;
    p.cluster_id = cluster_id();
    p.transactional_id = txn_id_;
    p.lsn = batch.last_lsn;
    p.commit_hash = header_of(batch.records.back(), kHeaderCommitHash);
    p.updated_ms = db_.options().clock ? db_.options().clock->now_ms() : 0;
    kafka::write_position(files_, p);
    exported_ = batch.last_lsn;
    return true;
  }

  // Queues `record` in the open transaction, waiting while the queue is
  // full; returns the error, or null.
  rd_kafka_error_t* produce(const KafkaRecord& record) {
    return produce_record(rk_, o_.topic, record);
  }

  // Handles the failure `err` (taken) of `call` in a batch: aborts the
  // transaction, or recreates the producer, then backs off. Returns false
  // (the batch is sent again from the position). Throws
  // KafkaExportFencedError, KafkaExportError (give_up_after).
  bool after_error(std::string_view call, rd_kafka_error_t* err,
                   const Stop& stop) {
    const std::string what = describe(call, err);
    Next next = Next::kRetry;
    if (rd_kafka_error_is_fatal(err) != 0 ||
        rd_kafka_error_code(err) == RD_KAFKA_RESP_ERR__FATAL) {
      next = Next::kRecreate;
    } else if (rd_kafka_error_txn_requires_abort(err) != 0 ||
               call == "produce" || call == "commit_transaction") {
      next = Next::kAbort;
    }
    rd_kafka_error_destroy(err);
    if (next == Next::kAbort && !abort_transaction(stop)) {
      next = Next::kRecreate;
    }
    if (next == Next::kRecreate) {
      check_fenced(what);
      destroy_producer();
      restarts_.fetch_add(1);
    }
    failed_attempt(what, stop);
    return false;
  }

  // Aborts the open transaction; false when the producer must be recreated
  // (or a stop came between retries: recreating is then left to the next
  // start).
  bool abort_transaction(const Stop& stop) {
    for (int attempt = 0; attempt < 3; ++attempt) {
      if (attempt > 0 && (stop() || stopping_.load())) return false;
      rd_kafka_error_t* err =
          rd_kafka_abort_transaction(rk_, timeout_ms(o_.operation_timeout));
      if (err == nullptr) return true;
      const bool retry = rd_kafka_error_is_retriable(err) != 0;
      rd_kafka_error_destroy(err);
      if (!retry) return false;
    }
    return false;
  }

  // Throws KafkaExportFencedError when the producer's fatal error says it
  // was fenced.
  void check_fenced(const std::string& what) {
    if (rk_ == nullptr) return;
    std::array<char, 512> reason{};
    const rd_kafka_resp_err_t code =
        rd_kafka_fatal_error(rk_, reason.data(), reason.size());
    if (is_fenced(code)) {
      const std::uint64_t at = exported_.load();
      destroy_producer();
      throw KafkaExportFencedError(fmt::format(
          "Kafka export of topic '{}': the producer (transactional.id '{}') "
          "was fenced: {} ({}); the position stays at lsn {}",
          o_.topic, txn_id_, reason.data(), what, at));
    }
  }

  // After a failed attempt: throws KafkaExportError when give_up_after
  // passed without progress, else sleeps the backoff (stopped early) and
  // doubles it.
  void failed_attempt(const std::string& what, const Stop& stop) {
    if (o_.give_up_after.count() > 0 &&
        SteadyClock::now() - last_progress_ >= o_.give_up_after) {
      throw KafkaExportError(fmt::format(
          "Kafka export of topic '{}' to {}: no progress for {} ms, giving "
          "up; last error: {}; the position stays at lsn {}",
          o_.topic, o_.brokers, o_.give_up_after.count(), what,
          exported_.load()));
    }
    sleep_unless_stopped(backoff_, [&] { return stop() || stopping_.load(); });
    backoff_ = std::min(backoff_ * 2, kMaxBackoff);
  }

  static std::string describe(std::string_view call, rd_kafka_error_t* err) {
    return fmt::format("{}: {} ({})", call, rd_kafka_error_string(err),
                       rd_kafka_error_name(err));
  }

  static int timeout_ms(std::chrono::milliseconds t) {
    return static_cast<int>(std::min<std::int64_t>(t.count(), 1 << 30));
  }

  void destroy_producer() {
    if (rk_ == nullptr) return;
    rd_kafka_purge(rk_, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
    rd_kafka_destroy(rk_);
    rk_ = nullptr;
  }

  Database& db_;
  const KafkaExporterOptions o_;
  const StoreFiles files_;
  std::string txn_id_;
  std::unique_ptr<FileLock> lock_;

  // The running thread's.
  rd_kafka_t* rk_ = nullptr;
  Batch batch_;  // the batch sent last
  // Records encoded beyond batch_, by LSN, in LSN order.
  Records pending_;
  // The records after pending_, being encoded in the background (at most
  // one task, of at most max_batch_events records).
  std::future<Records> prefetch_;
  std::uint64_t prefetch_after_ = 0;  // the LSN prefetch_ encodes after
  SteadyClock::time_point last_progress_;
  std::chrono::milliseconds backoff_{0};

  std::atomic<std::uint64_t> exported_{0};
  std::atomic<std::uint64_t> restarts_{0};
  std::atomic<bool> running_{false};
  mutable std::mutex cluster_mu_;
  std::string cluster_id_;  // Guarded by cluster_mu_.

  std::mutex wake_mu_;
  std::condition_variable wake_cv_;
  bool woken_ = false;  // Guarded by wake_mu_.

  std::mutex bg_mu_;  // start() and stop()
  std::thread thread_;
  std::atomic<bool> stopping_{false};
  mutable std::mutex error_mu_;
  std::exception_ptr error_;  // Guarded by error_mu_.
};

KafkaExporter::KafkaExporter(Database& database, KafkaExporterOptions options)
    : impl_(std::make_unique<Impl>(database, std::move(options))) {}

KafkaExporter::~KafkaExporter() = default;

std::uint64_t KafkaExporter::export_until_caught_up(
    const std::function<bool()>& stop) {
  return impl_->export_until_caught_up(stop);
}

void KafkaExporter::run(const std::function<bool()>& stop) { impl_->run(stop); }

void KafkaExporter::start() { impl_->start(); }

void KafkaExporter::stop() noexcept { impl_->stop(); }

std::exception_ptr KafkaExporter::error() const { return impl_->error(); }

KafkaExportLag KafkaExporter::lag() const { return impl_->lag(); }

std::string KafkaExporter::metric_lines() const {
  return impl_->metric_lines();
}

const std::string& KafkaExporter::transactional_id() const {
  return impl_->transactional_id();
}

std::uint64_t KafkaExporter::producer_restarts_for_testing() const {
  return impl_->restarts();
}

}  // namespace wfstore
