// KafkaReplica: a read replica of a store fed from its Kafka topic (README
// "Streaming to Kafka"). The replica directory holds REPLICA and STORE (the
// source store's id) and views/, and no log/; Database::open_read_only() serves
// the normal read API from it (WorkflowStore's retrieve and every query;
// History calls that read events from a log throw).
//
// The replica folds the events a KafkaConsumer delivers with the store's own
// fold (fold_events, the fold of catch-up and rebuild), each batch in one LMDB
// write transaction together with its applied LSN and view checksum; at the
// same applied LSN its view checksum is the source's. A batch holds whole
// commits only (each record names its commit's last LSN): a commit whose
// later events sit on a partition not read yet, or that an exporter's crash
// left unfinished in the topic, waits until they arrive, so a reader sees the
// replica at a commit boundary of the source. After a crash it resumes
// after its own applied LSN. On a gap it applies everything before it,
// nothing past it, and throws the KafkaGapError.
//
// Thread-safety: one thread uses a KafkaReplica; the directory's LOCK keeps
// other replicators and writers out. Readers in any process may open the
// directory read-only at any time.

#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>

#include "wfstore/kafka_consumer.h"

namespace wfstore {

struct KafkaReplicaOptions {
  std::string brokers;
  std::string topic;
  // The replica directory: missing or empty (created with the first record,
  // for the store that record belongs to), or an existing replica.
  std::filesystem::path dir;
  // The expected source store; empty: the replica's own, or for a new one
  // the store of the first record.
  std::string store_id;
  // As KafkaConsumerOptions.
  std::chrono::milliseconds metadata_timeout{10000};
  std::chrono::milliseconds stall_timeout{5000};
};

// What a replica did so far.
struct ReplicaProgress {
  std::uint64_t applied_lsn = 0;
  // Events folded by this KafkaReplica.
  std::uint64_t events = 0;
  // Lowercase hex of the view checksum at applied_lsn.
  std::string view_checksum;
};

class KafkaReplica {
 public:
  // Opens (without changing anything yet) the replica in options.dir and
  // connects its consumer after the replica's applied LSN. Throws
  // InvalidArgumentError for a directory that is a store with a log, or
  // neither a replica nor empty; CorruptionError for damaged STORE or views;
  // StoreLockedError when another process replicates into it;
  // KafkaTopicNotFoundError, IOError.
  explicit KafkaReplica(KafkaReplicaOptions options);
  ~KafkaReplica();
  KafkaReplica(const KafkaReplica&) = delete;
  KafkaReplica& operator=(const KafkaReplica&) = delete;

  // Folds everything up to the end the topic had when the replica was opened,
  // then flushes the views and marks them closed cleanly. Throws
  // KafkaGapError (after applying everything before the gap),
  // ForeignRecordError (another store's topic: the directory is left as it
  // was), what the consumer and the views throw.
  ReplicaProgress replicate_until_caught_up();
  // Folds what arrives until `stop` returns true (checked at least every
  // 100 ms), then flushes as above. Throws as replicate_until_caught_up().
  ReplicaProgress run(const std::function<bool()>& stop);

  ReplicaProgress progress() const;

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace wfstore
