// KafkaConsumer: reads a store's events back from its Kafka topic (README
// "Streaming to Kafka") in LSN order, each exactly once.
//
// It assigns itself every partition of the topic from its earliest offset (no
// consumer group, no committed offsets), decodes each record
// (decode_kafka_record), and merges the partitions back into LSN order:
//
// - a record whose LSN is at most the last one delivered (or at most
//   start_after_lsn) is a duplicate, dropped (an exporter that crashed
//   re-sends its last batch: a partition may hold 100, 104, 100, 104, 108);
// - the next LSN is delivered as soon as any partition's next record holds it;
// - a gap is an LSN that can no longer arrive because every partition's next
//   record is past it: KafkaGapError naming the missing range. Nothing after
//   the gap is delivered.
//
// Every record must be a wfstore record (else ForeignRecordError) of one
// store: the expected store id, or, without one, the store of the first record
// read; a record of another store is a ForeignRecordError. So is the next
// LSN's record when it does not fit the commit of the LSN before it: inside
// that commit it names the same first and last LSN and hash, after it a
// commit starting at its own LSN (a commit's events are never delivered
// under another commit or cut short). Nothing is ever skipped.
//
// Thread-safety: a KafkaConsumer is used by one thread at a time (none of its
// methods may run concurrently); run()'s `stop` may read state other threads
// set. Lifetime: the consumer's librdkafka handle lives until destruction.

#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "wfstore/errors.h"
#include "wfstore/event.h"
#include "wfstore/kafka_record.h"

namespace wfstore {

// The topic does not exist (by the cluster's metadata).
class KafkaTopicNotFoundError : public NotFoundError {
 public:
  explicit KafkaTopicNotFoundError(const std::string& topic);
  const std::string& topic() const noexcept { return topic_; }

 private:
  std::string topic_;
};

// LSNs first_missing()..last_missing() of the store can no longer arrive:
// every partition's next record is past them. Message: "gap in the topic
// 't' of store S: lsn 41..43 missing (every partition is past it)".
class KafkaGapError : public CorruptionError {
 public:
  KafkaGapError(const std::string& message, std::uint64_t first_missing,
                std::uint64_t last_missing)
      : CorruptionError(message),
        first_missing_(first_missing),
        last_missing_(last_missing) {}
  std::uint64_t first_missing() const noexcept { return first_missing_; }
  std::uint64_t last_missing() const noexcept { return last_missing_; }

 private:
  std::uint64_t first_missing_ = 0;
  std::uint64_t last_missing_ = 0;
};

struct KafkaConsumerOptions {
  // bootstrap.servers, e.g. "127.0.0.1:9092".
  std::string brokers;
  std::string topic;
  // The store whose records the topic must hold; empty: the store of the
  // first record read.
  std::string store_id;
  // Deliver LSNs after this one (a replica's applied LSN); 0: from LSN 1.
  std::uint64_t start_after_lsn = 0;
  // How long the metadata and watermark queries of the constructor may take;
  // 1 ms up to INT_MAX ms.
  std::chrono::milliseconds metadata_timeout{10000};
  // consume_until_caught_up() and run(): how long to wait, once every
  // partition reached its starting end (run(): its current end), for a
  // missing LSN while records past it are buffered, before reporting a gap;
  // not negative.
  std::chrono::milliseconds stall_timeout{5000};
  // fetch.wait.max.ms: how long a broker may hold a fetch that found nothing
  // new. A real broker answers as soon as records arrive; the mock cluster
  // holds every such fetch this long, so a tailing consumer on it sees new
  // records this late. 1-60000.
  std::chrono::milliseconds fetch_wait{100};
  // How many bytes of record values a partition may hold back while an
  // earlier LSN is awaited from another partition: past it the partition is
  // no longer fetched until the merge has delivered it down to half (its
  // later records wait in the topic, not in memory). librdkafka's own queue
  // of fetched records is bounded by the same amount. 1 MiB up to 1 GiB.
  std::size_t max_buffered_bytes_per_partition = std::size_t{16} << 20;
};

// One event as delivered, with where it was read.
struct ReceivedEvent {
  Event event;
  std::string store_id;
  std::string commit_hash;
  // The last LSN of the event's commit (event.commit_id is its first).
  std::uint64_t commit_last_lsn = 0;
  // The record's value as sent (event_to_json text).
  std::string value;
  std::int32_t partition = 0;
  std::int64_t offset = 0;
};

class KafkaConsumer {
 public:
  // Connects, reads the topic's partitions and each one's high watermark (the
  // end caught_up() waits for), and assigns them all from their earliest
  // offset. Throws InvalidArgumentError for empty brokers or topic, or a
  // timeout, fetch_wait or max_buffered_bytes_per_partition out of its range
  // (nothing connected then),
  // KafkaTopicNotFoundError, IOError (no broker answered in
  // metadata_timeout, a librdkafka failure).
  explicit KafkaConsumer(KafkaConsumerOptions options);
  ~KafkaConsumer();
  KafkaConsumer(const KafkaConsumer&) = delete;
  KafkaConsumer& operator=(const KafkaConsumer&) = delete;

  // Waits up to `timeout` for records and returns the events that became
  // deliverable, in LSN order, each LSN once (possibly none). Throws
  // KafkaGapError (only once every event before the gap was returned),
  // ForeignRecordError, KafkaTopicNotFoundError (deleted meanwhile), IOError.
  // After a throw the consumer delivers nothing more.
  std::vector<ReceivedEvent> poll(std::chrono::milliseconds timeout);

  // True once every partition was read up to the high watermark it had when
  // the consumer started and every event read was delivered.
  bool caught_up() const;

  // The last LSN delivered (start_after_lsn before the first).
  std::uint64_t last_lsn() const;
  // The store the records belong to: the expected one, else empty until the
  // first record is read.
  const std::string& store_id() const;
  int partitions() const;
  // The bytes of record values read and not yet delivered, over every
  // partition (see max_buffered_bytes_per_partition).
  std::size_t buffered_bytes() const;

  // Calls `handler` with every batch poll() returns (never an empty one)
  // until caught_up(). Throws what poll() and `handler` throw, and
  // KafkaGapError when, after catching up, a missing LSN stays missing for
  // stall_timeout while records past it are read.
  void consume_until_caught_up(
      const std::function<void(std::vector<ReceivedEvent>&)>& handler);

  // Calls `handler` with every batch until `stop` returns true (checked
  // between polls, at least every 100 ms). Throws what poll() and `handler`
  // throw, and KafkaGapError when records past a missing LSN have been held
  // for stall_timeout while every partition was read to its current end (or
  // paused with records waiting).
  void run(const std::function<void(std::vector<ReceivedEvent>&)>& handler,
           const std::function<bool()>& stop);

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace wfstore
