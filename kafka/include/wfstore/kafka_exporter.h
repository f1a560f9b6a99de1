// KafkaExporter: streams a store's events, in LSN order, to one Kafka topic
// (README "Streaming to Kafka"), one record per event as kafka_record_of()
// encodes it (wfstore/kafka_record.h), with an idempotent transactional
// producer (enable.idempotence, transactional.id, compression.type=lz4): one
// Kafka transaction per batch of events.
//
// The export position: <store>/exports/<topic>.pos, a small checksummed file
// naming the topic, the Kafka cluster id (rd_kafka_clusterid), the last
// exported LSN and the hash of its commit record. It is replaced atomically (write_file_atomically) only AFTER
// rd_kafka_commit_transaction of the batch that ends at that LSN returned
// success, and a run resumes at position + 1. Why this is crash-safe:
// - a crash before the commit returned leaves the old position; the batch is
//   sent again from position + 1 (the transaction it was in is aborted by the
//   broker or, with the mock, stays visible): a crash re-sends at most the
//   last batch, never skips an LSN;
// - a crash after the commit but before the rename leaves the old position:
//   the same batch is sent again with the same content (records are
//   identified by (store id, LSN) and the log never changes an LSN's event);
// - the file is written whole or not at all (temporary file, fdatasync,
//   rename, directory fsync), and its checksum rejects a damaged one;
// - a position written for another cluster (a different cluster id: a fresh
//   cluster, or another one) is ignored: the export starts again at LSN 1;
// - a position the store does not match (the commit hash of its LSN, kept
//   in the file, differs from the log's, or the LSN is beyond the store: the
//   store was replaced or restored from a copy behind it) stops the run with
//   InvalidArgumentError rather than leave the store's events at those LSNs
//   out of the topic.
//
// Never ahead of the log: on a writer open the log is fdatasynced up to a
// batch's last LSN before the batch is sent, so a power cut cannot take back
// an event Kafka already has. A read-only open (`wfstore stream` beside a
// writer process) cannot sync the writer's log: it exports what the views
// show committed, which is durable with a `sync` writer (its views show a
// group only after the group's fdatasync) but may be a few milliseconds
// beyond the durable log beside a `buffered` writer.
//
// One exporter per store and topic: the exporter holds a lock on
// <store>/exports/<topic>.lock (flock) for its whole life; a second one, in
// this process or another, is refused with StoreLockedError. (A new
// transactional producer with the same transactional.id would fence the
// old one on a real broker; the lock makes that unnecessary and covers the
// mock, which fences nothing.)
//
// Errors while exporting: a retriable Kafka error is retried with backoff; an
// abortable transaction error aborts the transaction and sends the batch
// again from the position; a fatal producer error destroys the producer,
// creates a new one and resumes from the position; a fenced producer
// (another producer took the transactional.id) stops the run with
// KafkaExportFencedError, the position at the last committed batch. Brokers
// that are down are retried for ever (unless give_up_after says otherwise);
// the store is never slowed or failed by the export: every Kafka call runs on
// the exporter's thread, the commit listener only wakes it.
//
// Memory is bounded by batches, not by the log's size: the log is read a
// few thousand events at a time up to a batch; while a batch is sent and
// committed, the records after it (at most max_batch_events more) are read
// and encoded on a second thread.
//
// Lifetime: the Database must outlive the exporter. Thread-safety: run(),
// export_until_caught_up() and start() must not overlap (one run at a time,
// InvalidArgumentError otherwise); lag(), metric_lines(), error() and stop()
// may be called from any thread at any time.

#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "wfstore/database.h"
#include "wfstore/errors.h"

namespace wfstore {

// Kafka failed in a way the exporter does not retry (give_up_after passed
// without progress, or the cluster refused the producer for good).
class KafkaExportError : public IOError {
 public:
  using IOError::IOError;
};

// Another producer with the same transactional.id fenced this one. The
// position stays at the last committed batch; a new exporter resumes there.
class KafkaExportFencedError : public KafkaExportError {
 public:
  using KafkaExportError::KafkaExportError;
};

struct KafkaExporterOptions {
  // bootstrap.servers, e.g. "127.0.0.1:9092,127.0.0.1:9093". Required.
  std::string brokers;
  // The topic: 1-249 characters of [A-Za-z0-9._-], not "." or "..".
  // Required. Partitioned by the record key (the workflow id).
  std::string topic;
  // One Kafka transaction per batch; a batch ends at whichever bound comes
  // first. Each >= 1. A Kafka transaction costs a few round trips, so
  // larger batches export faster; they also bound the exporter's memory
  // (about three batches: the one sent, the records encoded after it and
  // those encoded ahead in the background).
  std::size_t max_batch_events = 10000;
  // The bytes of keys, values and headers of a batch (a batch holds at least
  // one event).
  std::size_t max_batch_bytes = std::size_t{16} << 20;
  // While following: how long a batch may wait for more events after the
  // exporter saw its first one. >= 0.
  std::chrono::milliseconds max_batch_time{5};
  // Empty: "wfstore-<store id>-<topic>".
  std::string transactional_id;
  // Extra librdkafka producer properties, set after the exporter's defaults
  // (compression.type=lz4, linger.ms=5, log_level=3), which they may
  // override; may not set bootstrap.servers, transactional.id or
  // enable.idempotence (InvalidArgumentError).
  std::vector<std::pair<std::string, std::string>> properties;
  // How long one Kafka call (init, commit, abort) may block before it is
  // retried; also how long a stop may wait for it. >= 1 ms.
  std::chrono::milliseconds operation_timeout{5000};
  // The first retry's backoff, doubling up to 2 s. >= 1 ms.
  std::chrono::milliseconds retry_backoff{100};
  // When > 0: a run whose Kafka calls fail for this long without a
  // committed batch throws KafkaExportError (checked after each failed
  // call, so up to one operation_timeout later). 0: retry for ever.
  std::chrono::milliseconds give_up_after{0};
  // A read-only open: how often run() looks for new commits. >= 1 ms.
  std::chrono::milliseconds poll_interval{20};
};

// The export's progress.
struct KafkaExportLag {
  std::uint64_t exported_lsn = 0;  // the position: last committed batch's end
  std::uint64_t store_lsn = 0;     // the store's last committed LSN
  std::uint64_t lag_lsns = 0;      // store_lsn - exported_lsn
  // Now minus the commit time of the first event not exported; 0 when
  // caught up.
  double lag_seconds = 0;
};

class KafkaExporter {
 public:
  // Checks `options` and takes the exporter lock; connects to nothing yet.
  // Throws InvalidArgumentError (bad options: nothing written),
  // StoreLockedError (another exporter of this store and topic),
  // CorruptionError (a damaged position file), IOError.
  KafkaExporter(Database& database, KafkaExporterOptions options);
  // Stops a background run (stop()) and releases the lock.
  ~KafkaExporter();
  KafkaExporter(const KafkaExporter&) = delete;
  KafkaExporter& operator=(const KafkaExporter&) = delete;

  // Exports up to the store's last LSN as of the call, or until `stop` (may
  // be empty) returns true (checked between Kafka calls and while backing
  // off); returns the position reached: at least that LSN unless stopped.
  // Throws KafkaExportFencedError, KafkaExportError (give_up_after), IOError
  // and CorruptionError from the store.
  std::uint64_t export_until_caught_up(
      const std::function<bool()>& stop = nullptr);
  // Exports and follows new commits (woken by a commit listener on a writer
  // open, polling on a read-only one) until `stop` returns true (checked
  // between Kafka calls and while waiting). Throws as
  // export_until_caught_up().
  void run(const std::function<bool()>& stop);
  // Runs run() on a background thread until stop(). Its failure ends the
  // thread and is kept in error(). Throws InvalidArgumentError when a run is
  // going on or the background thread was not stop()ped.
  void start();
  // Stops the background run and waits for it (at most one operation_timeout
  // plus the batch in flight). Idempotent; never throws.
  void stop() noexcept;
  // What ended the background run with an error; null while it runs without
  // one or when it was stopped without one. start() resets it.
  std::exception_ptr error() const;

  // The progress now. Throws IOError from the store.
  KafkaExportLag lag() const;
  // lag() as Prometheus text lines (export_metric_lines()).
  std::string metric_lines() const;

  // The transactional.id in use.
  const std::string& transactional_id() const;
  // The producer was created anew after a fatal error (tests).
  std::uint64_t producer_restarts_for_testing() const;

  class Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

// One export position as `wfstore stats` shows it.
struct KafkaExportStatus {
  std::string topic;
  std::string cluster_id;
  KafkaExportLag lag;
  // Non-empty when the position file cannot be used (damaged, another
  // topic's or another store's): why, as the exporter would refuse it; then
  // cluster_id and lag are empty.
  std::string damage;
};

// The export positions kept in the store of `database`
// (<store>/exports/*.pos), read without Kafka, with their lag, in topic
// order; a file that cannot be used is listed with its `damage` and the
// others are still read. Throws IOError.
std::vector<KafkaExportStatus> read_export_positions(Database& database);

// Prometheus text lines of the exports:
//   wfstore_kafka_export_lsn{topic="T"} N
//   wfstore_kafka_export_lag_lsns{topic="T"} N
//   wfstore_kafka_export_lag_seconds{topic="T"} S
// or, for a position with damage, only
//   wfstore_kafka_export_damaged{topic="T"} 1
std::string export_metric_lines(const std::vector<KafkaExportStatus>& exports);

}  // namespace wfstore
