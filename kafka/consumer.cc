// KafkaConsumer over librdkafka's consumer: every partition assigned from its
// earliest offset, records buffered per partition and merged by LSN.

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdint>
#include <deque>
#include <exception>
#include <limits>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <fmt/format.h>
#include <librdkafka/rdkafka.h>

#include "wfstore/kafka_consumer.h"

#include "wfstore_internal/kafka_client.h"

namespace wfstore {
namespace {

using Clock = std::chrono::steady_clock;

// Messages read without waiting after the first of a poll().
constexpr int kDrainPerPoll = 4096;

struct Buffered {
  DecodedRecord record;
  std::string value;
  std::int64_t offset = 0;
};

struct Partition {
  std::int32_t id = 0;
  // The high watermark when the consumer started: caught_up() waits for it.
  std::int64_t start_end = 0;
  // The offset after the last record (or end of partition) read.
  std::int64_t position = 0;
  // Read to its end (the last message of it was librdkafka's end of
  // partition): nothing more to fetch until new records arrive.
  bool at_end = false;
  std::deque<Buffered> records;
  std::size_t bytes = 0;  // of the records' values
  bool paused = false;    // not fetched while its records wait
};

void set_conf(rd_kafka_conf_t* conf, const char* name,
              const std::string& value) {
  std::array<char, 512> error{};
  if (rd_kafka_conf_set(conf, name, value.c_str(), error.data(),
                        error.size()) != RD_KAFKA_CONF_OK) {
    rd_kafka_conf_destroy(conf);
    throw InvalidArgumentError(
        fmt::format("kafka consumer: {}: {}", name, error.data()));
  }
}

bool is_topic_missing(rd_kafka_resp_err_t err) {
  return err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART ||
         err == RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC ||
         err == RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION;
}

// Errors librdkafka reports on the way and recovers from by itself.
bool is_transient(rd_kafka_resp_err_t err) {
  return err == RD_KAFKA_RESP_ERR__TRANSPORT ||
         err == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN ||
         err == RD_KAFKA_RESP_ERR__RESOLVE ||
         err == RD_KAFKA_RESP_ERR__TIMED_OUT ||
         err == RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION ||
         err == RD_KAFKA_RESP_ERR_LEADER_NOT_AVAILABLE ||
         err == RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT;
}

}  // namespace

KafkaTopicNotFoundError::KafkaTopicNotFoundError(const std::string& topic)
    : NotFoundError(ErrorCode::kKafkaTopicNotFound,
                    fmt::format("Kafka topic '{}' does not exist", topic)),
      topic_(topic) {}

struct KafkaConsumer::State {
  KafkaConsumerOptions options;
  rd_kafka_t* rk = nullptr;
  std::vector<Partition> partitions;
  std::string store_id;
  std::uint64_t last_lsn = 0;
  // The commit of the event at last_lsn (commit_last == 0: none delivered).
  std::uint64_t commit_first = 0;
  std::uint64_t commit_last = 0;
  std::string commit_hash;
  // The last kRecentEvents delivered events (consecutive LSNs, oldest first):
  // a copy that arrives again is compared with them.
  struct Delivered {
    std::uint64_t commit_first;
    std::uint64_t commit_last;
    std::string commit_hash;
  };
  static constexpr std::size_t kRecentEvents = 8192;
  std::deque<Delivered> recent;
  std::exception_ptr failed;

  ~State() {
    if (rk != nullptr) {
      rd_kafka_consumer_close(rk);
      rd_kafka_destroy(rk);
    }
  }

  Partition& partition(std::int32_t id) {
    for (Partition& p : partitions) {
      if (p.id == id) return p;
    }
    throw IOError(
        fmt::format("kafka consumer: a record of unassigned "
                    "partition {} of '{}'",
                    id, options.topic));
  }

  // Reads one message (or none within `timeout_ms`) into its partition;
  // false when there was none.
  bool read(int timeout_ms) {
    rd_kafka_message_t* m = rd_kafka_consumer_poll(rk, timeout_ms);
    if (m == nullptr) return false;
    struct Release {
      rd_kafka_message_t* m;
      ~Release() { rd_kafka_message_destroy(m); }
    } release{m};
    if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
      Partition& p = partition(m->partition);
      p.position = m->offset;
      p.at_end = true;
      return true;
    }
    if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      if (is_topic_missing(m->err)) {
        throw KafkaTopicNotFoundError(options.topic);
      }
      if (is_transient(m->err)) return true;
      throw IOError(fmt::format("kafka consumer: topic '{}': {}", options.topic,
                                rd_kafka_message_errstr(m)));
    }
    Partition& p = partition(m->partition);
    p.at_end = false;
    // Fetched again after a resume (librdkafka drops what it held for a
    // paused partition): already read.
    if (m->offset < p.position) return true;
    const std::string where = fmt::format("topic '{}' partition {} offset {}",
                                          options.topic, p.id, m->offset);
    Buffered buffered;
    buffered.offset = m->offset;
    KafkaRecord raw = record_of_message(*m);
    try {
      buffered.record = decode_kafka_record(raw);
    } catch (const ForeignRecordError& e) {
      throw ForeignRecordError(fmt::format("{}: {}", where, e.what()));
    }
    if (store_id.empty()) store_id = buffered.record.store_id;
    if (buffered.record.store_id != store_id) {
      throw ForeignRecordError(
          fmt::format("{}: a record of store {} on a topic of store {}", where,
                      buffered.record.store_id, store_id));
    }
    p.position = m->offset + 1;
    if (buffered.record.event.lsn <= last_lsn) {  // a copy sent again
      check_again(p, buffered);
      return true;
    }
    buffered.value = std::move(raw.value);
    p.bytes += buffered.value.size();
    p.records.push_back(std::move(buffered));
    if (!p.paused && p.bytes > options.max_buffered_bytes_per_partition) {
      pause_or_resume(p, true);
    }
    return true;
  }

  // Stops or restarts fetching `p`.
  void pause_or_resume(Partition& p, bool pause) {
    rd_kafka_topic_partition_list_t* list =
        rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(list, options.topic.c_str(), p.id);
    const rd_kafka_resp_err_t err = pause
                                        ? rd_kafka_pause_partitions(rk, list)
                                        : rd_kafka_resume_partitions(rk, list);
    const rd_kafka_resp_err_t partition_err = list->elems[0].err;
    rd_kafka_topic_partition_list_destroy(list);
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR ||
        partition_err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      throw IOError(fmt::format(
          "kafka consumer: {} partition {} of '{}': {}",
          pause ? "pausing" : "resuming", p.id, options.topic,
          rd_kafka_err2str(err != RD_KAFKA_RESP_ERR_NO_ERROR ? err
                                                             : partition_err)));
    }
    p.paused = pause;
  }

  // Drops `p`'s first record.
  static void pop(Partition& p) {
    p.bytes -= p.records.front().value.size();
    p.records.pop_front();
  }

  // Moves every deliverable event to `out`; throws KafkaGapError when the
  // next LSN can no longer arrive and nothing was delivered.
  void deliver(std::vector<ReceivedEvent>& out) {
    while (true) {
      bool all_past = !partitions.empty();
      bool delivered = false;
      std::uint64_t lowest = 0;
      for (Partition& p : partitions) {
        while (!p.records.empty() &&
               p.records.front().record.event.lsn <= last_lsn) {
          check_again(p, p.records.front());
          pop(p);  // a re-sent run
        }
        if (p.records.empty()) {
          all_past = false;
          continue;
        }
        Buffered& head = p.records.front();
        if (head.record.event.lsn == last_lsn + 1) {
          check_commit(p, head);
          p.bytes -= head.value.size();
          ReceivedEvent event;
          event.event = std::move(head.record.event);
          event.store_id = std::move(head.record.store_id);
          event.commit_hash = std::move(head.record.commit_hash);
          event.commit_last_lsn = head.record.commit_last_lsn;
          event.value = std::move(head.value);
          event.partition = p.id;
          event.offset = head.offset;
          last_lsn = event.event.lsn;
          commit_first = event.event.commit_id;
          commit_last = event.commit_last_lsn;
          commit_hash = event.commit_hash;
          recent.push_back({commit_first, commit_last, commit_hash});
          if (recent.size() > kRecentEvents) recent.pop_front();
          out.push_back(std::move(event));
          p.records.pop_front();
          delivered = true;
          break;
        }
        if (lowest == 0 || head.record.event.lsn < lowest) {
          lowest = head.record.event.lsn;
        }
      }
      if (delivered) continue;
      if (all_past && out.empty()) throw gap(lowest - 1);
      for (Partition& p : partitions) {
        if (p.paused &&
            p.bytes <= options.max_buffered_bytes_per_partition / 2) {
          pause_or_resume(p, false);
        }
      }
      return;
    }
  }

  // Throws ForeignRecordError unless `next`, the event at last_lsn + 1,
  // continues the commit of the event at last_lsn (same first and last LSN
  // and hash) or, after its last, starts the next one (its commit_id is its
  // LSN). The first event delivered may start anywhere in its commit.
  void check_commit(const Partition& p, const Buffered& next) const {
    if (commit_last == 0) return;
    const DecodedRecord& r = next.record;
    const std::uint64_t lsn = r.event.lsn;
    const std::string where = fmt::format("topic '{}' partition {} offset {}",
                                          options.topic, p.id, next.offset);
    if (commit_last < lsn) {
      if (r.event.commit_id != lsn) {
        throw ForeignRecordError(fmt::format(
            "{}: lsn {}: commit_id {} continues a commit that ended at lsn {}",
            where, lsn, r.event.commit_id, last_lsn));
      }
      return;
    }
    if (r.event.commit_id != commit_first || r.commit_last_lsn != commit_last ||
        r.commit_hash != commit_hash) {
      throw ForeignRecordError(fmt::format(
          "{}: lsn {}: commit {} ending at lsn {} with hash {} is not the "
          "commit {} ending at lsn {} with hash {} of lsn {}",
          where, lsn, r.event.commit_id, r.commit_last_lsn, r.commit_hash,
          commit_first, commit_last, commit_hash, last_lsn));
    }
  }

  // A record of an LSN already delivered: when that event is among the
  // recent ones, the copy must name the same commit (first LSN, last LSN and
  // hash, which covers the commit's content); an older copy cannot be
  // compared. The value is not compared: a later build may render the same
  // event differently.
  void check_again(const Partition& p, const Buffered& copy) const {
    const std::uint64_t lsn = copy.record.event.lsn;
    if (recent.empty() || lsn + recent.size() <= last_lsn) return;
    const Delivered& first = recent[recent.size() - 1 - (last_lsn - lsn)];
    const DecodedRecord& r = copy.record;
    if (r.event.commit_id == first.commit_first &&
        r.commit_last_lsn == first.commit_last &&
        r.commit_hash == first.commit_hash) {
      return;
    }
    throw ForeignRecordError(fmt::format(
        "topic '{}' partition {} offset {}: lsn {} arrived again as another "
        "event (commit {} ending at lsn {} with hash {}) than the one "
        "delivered (commit {} ending at lsn {} with hash {})",
        options.topic, p.id, copy.offset, lsn, r.event.commit_id,
        r.commit_last_lsn, r.commit_hash, first.commit_first, first.commit_last,
        first.commit_hash));
  }

  // `why`: how it is known that the LSNs cannot arrive any more.
  KafkaGapError gap(std::uint64_t last_missing,
                    std::string_view why = "every partition is past it") const {
    return KafkaGapError(
        fmt::format("gap in the topic '{}' of store {}: lsn {}..{} missing "
                    "({})",
                    options.topic, store_id, last_lsn + 1, last_missing, why),
        last_lsn + 1, last_missing);
  }

  // Called after a poll that delivered nothing, `quiet` when no partition
  // can bring a missing LSN now. Throws KafkaGapError (and keeps it for the
  // next call) when records past a missing LSN are held, the partitions are
  // quiet, and stall_timeout has passed since `stalled_since`: the first
  // such call with the partitions quiet (set here; not reset when they stop
  // being quiet, so a trickle of new records cannot defer the error for
  // ever; reset here when nothing is held, and by the caller on a
  // delivery).
  void check_stalled(std::optional<Clock::time_point>& stalled_since,
                     bool quiet) {
    // The lowest LSN still to deliver; a re-sent run behind a partition's
    // head may hold LSNs already delivered.
    std::uint64_t lowest = 0;
    for (const Partition& p : partitions) {
      for (const Buffered& b : p.records) {
        const std::uint64_t lsn = b.record.event.lsn;
        if (lsn > last_lsn && (lowest == 0 || lsn < lowest)) lowest = lsn;
      }
    }
    if (lowest == 0) {
      stalled_since.reset();
      return;
    }
    if (!quiet) return;
    if (!stalled_since) stalled_since = Clock::now();
    if (Clock::now() - *stalled_since < options.stall_timeout) return;
    KafkaGapError error = gap(
        lowest - 1,
        fmt::format("lsn {} and later were read and waited {} ms for it while "
                    "no partition had more to read",
                    lowest, options.stall_timeout.count()));
    failed = std::make_exception_ptr(error);
    throw error;
  }

  // Whether no partition can bring a missing LSN now: each one is read to
  // its current end or paused (see reached_start_end_or_paused).
  bool at_end_or_paused() const {
    for (const Partition& p : partitions) {
      if (!p.paused && !p.at_end) return false;
    }
    return true;
  }

  bool buffered() const {
    for (const Partition& p : partitions) {
      if (!p.records.empty()) return true;
    }
    return false;
  }

  // Whether no partition can still bring an LSN that is missing: each one
  // reached its starting end or is paused (a paused partition's next record
  // is past the missing LSN, and its later records are past that one).
  bool reached_start_end_or_paused() const {
    for (const Partition& p : partitions) {
      if (!p.paused && p.position < p.start_end) return false;
    }
    return true;
  }

  bool reached_start_end() const {
    for (const Partition& p : partitions) {
      if (p.position < p.start_end) return false;
    }
    return true;
  }
};

KafkaConsumer::KafkaConsumer(KafkaConsumerOptions options)
    : state_(std::make_unique<State>()) {
  if (options.brokers.empty()) {
    throw InvalidArgumentError("kafka consumer: brokers: empty");
  }
  if (options.topic.empty()) {
    throw InvalidArgumentError("kafka consumer: topic: empty");
  }
  if (options.fetch_wait.count() < 1 || options.fetch_wait.count() > 60000) {
    throw InvalidArgumentError(
        fmt::format("kafka consumer: fetch_wait: {} ms is not in 1-60000",
                    options.fetch_wait.count()));
  }
  // librdkafka takes an int of milliseconds, a negative one as "for ever".
  constexpr std::int64_t kMaxTimeoutMs = std::numeric_limits<int>::max();
  if (options.metadata_timeout.count() < 1 ||
      options.metadata_timeout.count() > kMaxTimeoutMs) {
    throw InvalidArgumentError(
        fmt::format("kafka consumer: metadata_timeout: {} ms is not in 1-{}",
                    options.metadata_timeout.count(), kMaxTimeoutMs));
  }
  constexpr std::size_t kMiB = std::size_t{1} << 20;
  if (options.max_buffered_bytes_per_partition < kMiB ||
      options.max_buffered_bytes_per_partition > 1024 * kMiB) {
    throw InvalidArgumentError(fmt::format(
        "kafka consumer: max_buffered_bytes_per_partition: {} is not in "
        "1 MiB-1 GiB",
        options.max_buffered_bytes_per_partition));
  }
  if (options.stall_timeout.count() < 0) {
    throw InvalidArgumentError(
        fmt::format("kafka consumer: stall_timeout: {} ms is negative",
                    options.stall_timeout.count()));
  }
  State& s = *state_;
  s.options = std::move(options);
  s.store_id = s.options.store_id;
  s.last_lsn = s.options.start_after_lsn;
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  set_conf(conf, "bootstrap.servers", s.options.brokers);
  // A group id is required by the consumer API; no offsets are ever
  // committed or fetched under it (offsets are assigned explicitly).
  set_conf(conf, "group.id", "wfstore-consumer");
  set_conf(conf, "enable.auto.commit", "false");
  set_conf(conf, "enable.auto.offset.store", "false");
  set_conf(conf, "enable.partition.eof", "true");
  set_conf(conf, "isolation.level", "read_committed");
  set_conf(conf, "allow.auto.create.topics", "false");
  set_conf(conf, "log_level", "3");
  set_conf(conf, "queued.max.messages.kbytes",
           std::to_string(s.options.max_buffered_bytes_per_partition >> 10));
  set_conf(conf, "fetch.wait.max.ms",
           std::to_string(s.options.fetch_wait.count()));
  std::array<char, 512> error{};
  s.rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, error.data(), error.size());
  if (s.rk == nullptr) {
    rd_kafka_conf_destroy(conf);
    throw IOError(fmt::format("kafka consumer: {}", error.data()));
  }
  rd_kafka_poll_set_consumer(s.rk);
  const int timeout_ms = static_cast<int>(s.options.metadata_timeout.count());
  // The metadata of every topic: a request naming the topic would let the
  // cluster create it.
  const rd_kafka_metadata_t* metadata = nullptr;
  const rd_kafka_resp_err_t err =
      rd_kafka_metadata(s.rk, /*all_topics=*/1, nullptr, &metadata, timeout_ms);
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    throw IOError(fmt::format("kafka consumer: metadata of '{}' from {}: {}",
                              s.options.topic, s.options.brokers,
                              rd_kafka_err2str(err)));
  }
  rd_kafka_resp_err_t topic_err = RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART;
  for (int i = 0; i < metadata->topic_cnt; ++i) {
    const rd_kafka_metadata_topic_t& t = metadata->topics[i];
    if (s.options.topic != t.topic) continue;
    topic_err = t.err;
    for (int j = 0; j < t.partition_cnt; ++j) {
      Partition p;
      p.id = t.partitions[j].id;
      s.partitions.push_back(std::move(p));
    }
  }
  rd_kafka_metadata_destroy(metadata);
  if (is_topic_missing(topic_err) ||
      (topic_err == RD_KAFKA_RESP_ERR_NO_ERROR && s.partitions.empty())) {
    throw KafkaTopicNotFoundError(s.options.topic);
  }
  if (topic_err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    throw IOError(fmt::format("kafka consumer: metadata of '{}': {}",
                              s.options.topic, rd_kafka_err2str(topic_err)));
  }
  rd_kafka_topic_partition_list_t* assignment =
      rd_kafka_topic_partition_list_new(static_cast<int>(s.partitions.size()));
  for (Partition& p : s.partitions) {
    std::int64_t low = 0;
    std::int64_t high = 0;
    const rd_kafka_resp_err_t werr = rd_kafka_query_watermark_offsets(
        s.rk, s.options.topic.c_str(), p.id, &low, &high, timeout_ms);
    if (werr != RD_KAFKA_RESP_ERR_NO_ERROR) {
      rd_kafka_topic_partition_list_destroy(assignment);
      throw IOError(
          fmt::format("kafka consumer: the end of '{}' partition {}: "
                      "{}",
                      s.options.topic, p.id, rd_kafka_err2str(werr)));
    }
    p.start_end = high;
    p.position = low;
    rd_kafka_topic_partition_list_add(assignment, s.options.topic.c_str(), p.id)
        ->offset = RD_KAFKA_OFFSET_BEGINNING;
  }
  const rd_kafka_resp_err_t aerr = rd_kafka_assign(s.rk, assignment);
  rd_kafka_topic_partition_list_destroy(assignment);
  if (aerr != RD_KAFKA_RESP_ERR_NO_ERROR) {
    throw IOError(fmt::format("kafka consumer: assign '{}': {}",
                              s.options.topic, rd_kafka_err2str(aerr)));
  }
}

KafkaConsumer::~KafkaConsumer() = default;

std::vector<ReceivedEvent> KafkaConsumer::poll(
    std::chrono::milliseconds timeout) {
  State& s = *state_;
  if (s.failed) std::rethrow_exception(s.failed);
  std::vector<ReceivedEvent> out;
  try {
    const Clock::time_point deadline = Clock::now() + timeout;
    // Reads until something is deliverable or the time is up, then drains
    // what librdkafka already holds without waiting.
    while (true) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - Clock::now());
      s.read(static_cast<int>(std::max<std::int64_t>(0, left.count())));
      for (int i = 0; i < kDrainPerPoll && s.read(0); ++i) {
      }
      s.deliver(out);
      if (!out.empty() || Clock::now() >= deadline) break;
    }
  } catch (...) {
    // Events already taken (last_lsn counts them) are returned first; the
    // error comes with the next call.
    s.failed = std::current_exception();
    if (out.empty()) throw;
  }
  return out;
}

bool KafkaConsumer::caught_up() const {
  return state_->reached_start_end() && !state_->buffered();
}

std::uint64_t KafkaConsumer::last_lsn() const { return state_->last_lsn; }

const std::string& KafkaConsumer::store_id() const { return state_->store_id; }

std::size_t KafkaConsumer::buffered_bytes() const {
  std::size_t bytes = 0;
  for (const Partition& p : state_->partitions) bytes += p.bytes;
  return bytes;
}

int KafkaConsumer::partitions() const {
  return static_cast<int>(state_->partitions.size());
}

void KafkaConsumer::consume_until_caught_up(
    const std::function<void(std::vector<ReceivedEvent>&)>& handler) {
  std::optional<Clock::time_point> stalled_since;
  while (!caught_up()) {
    std::vector<ReceivedEvent> batch = poll(std::chrono::milliseconds(100));
    if (!batch.empty()) {
      stalled_since.reset();
      handler(batch);
      continue;
    }
    // At the starting end with records past a missing LSN: wait a while for
    // it, then call it a gap.
    state_->check_stalled(stalled_since, state_->reached_start_end_or_paused());
  }
}

void KafkaConsumer::run(
    const std::function<void(std::vector<ReceivedEvent>&)>& handler,
    const std::function<bool()>& stop) {
  std::optional<Clock::time_point> stalled_since;
  while (!stop()) {
    std::vector<ReceivedEvent> batch = poll(std::chrono::milliseconds(100));
    if (!batch.empty()) {
      stalled_since.reset();
      handler(batch);
      continue;
    }
    // Records past a missing LSN, held for stall_timeout, every partition
    // read to its current end (or paused): a gap, as when catching up.
    state_->check_stalled(stalled_since, state_->at_end_or_paused());
  }
}

}  // namespace wfstore
