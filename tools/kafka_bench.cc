// `wfstore bench --kafka`: the Kafka export, consumer and replica figures
// beside their bounds, measured in one run against an in-process mock
// cluster.

#include "tools/kafka_bench.h"

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <iostream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <spawn.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "wfstore/database.h"
#include "wfstore/errors.h"
#include "wfstore/history.h"
#include "wfstore/kafka_bench.h"
#include "wfstore/kafka_consumer.h"
#include "wfstore/kafka_exporter.h"
#include "wfstore/kafka_mock.h"
#include "wfstore/kafka_record.h"

#include "bench/bench.h"
#include "bench/store_bench.h"

extern char** environ;

namespace wfstore::tools {
namespace {

using SteadyClock = std::chrono::steady_clock;

constexpr int kPartitions = 16;

double seconds_since(SteadyClock::time_point start) {
  return std::chrono::duration<double>(SteadyClock::now() - start).count();
}

// The CPU time (user and system) this process used so far, in seconds.
double process_cpu_seconds() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  const auto seconds = [](const timeval& t) {
    return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_usec) / 1e6;
  };
  return seconds(usage.ru_utime) + seconds(usage.ru_stime);
}

// A closed store of (at most) `events` events in `dir`; returns its last LSN.
std::uint64_t build_store(const std::filesystem::path& dir,
                          std::uint64_t events) {
  DatabaseOptions options;
  options.durability = Durability::kBuffered;
  auto db = Database::open(dir, options);
  bench::grow_history_store(*db, events);
  const std::uint64_t last = db->stats().applied_lsn;
  db->close();
  return last;
}

// The peak resident memory of `wfstore stream --until-caught-up` exporting
// the store in `dir` to `topic`: a process of its own, so the figure is the
// exporter's alone. Its VmHWM (the high-water mark of its own memory since
// exec; getrusage's maxrss would include this process's, which a spawned
// child inherits) and RssAnon are read every 5 ms until it exits.
bench::ProcMemory stream_peak_memory(const std::filesystem::path& dir,
                                     const std::string& brokers,
                                     const std::string& topic) {
  const std::string self = std::filesystem::read_symlink("/proc/self/exe");
  std::vector<std::string> args = {
      self,    "stream",  "--dir", dir.string(),       "--brokers",
      brokers, "--topic", topic,   "--until-caught-up"};
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t pid = 0;
  if (posix_spawn(&pid, self.c_str(), nullptr, nullptr, argv.data(), environ) !=
      0) {
    throw IOError("bench --kafka: cannot start wfstore stream");
  }
  // hwm_kib: VmHWM, resident with the mapped files' pages; anon_kib: the
  // highest RssAnon seen, the process's own memory.
  bench::ProcMemory peak;
  int status = 0;
  for (;;) {
    const bench::ProcMemory now = bench::proc_memory(pid);
    peak.hwm_kib = std::max(peak.hwm_kib, now.hwm_kib);
    peak.anon_kib = std::max(peak.anon_kib, now.anon_kib);
    const pid_t done = waitpid(pid, &status, WNOHANG);
    if (done == pid) break;
    if (done < 0) throw IOError("bench --kafka: waitpid failed");
    std::this_thread::sleep_for(std::chrono::milliseconds{5});
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 || peak.hwm_kib < 0) {
    throw IOError(
        fmt::format("bench --kafka: wfstore stream of {} failed (status {})",
                    dir.string(), status));
  }
  return peak;
}

struct Figures {
  std::uint64_t events = 0;
  double export_per_s = 0;
  // The process's CPU time per exported event: the exporter's threads and
  // librdkafka's, and the in-process mock broker's.
  double export_cpu_us = 0;
  double raw_per_s = 0;
  bench::HistoryLatency latency;
  ReplicaBenchResult replica;
  std::uint64_t small_events = 0;
  bench::ProcMemory small_peak;
  bench::ProcMemory big_peak;
  bool ok = true;
};

// Every record of the store in `dir`, encoded as the exporter does (the
// commit hash is a placeholder of the same length: the bound's records are
// the exporter's in size and content otherwise).
std::vector<KafkaRecord> records_of(const std::filesystem::path& dir) {
  auto db = Database::open_read_only(dir);
  const std::string id = store_id(*db);
  std::vector<KafkaRecord> records;
  for_each_event(dir, 0, [&](const Event& event) {
    records.push_back(
        kafka_record_of(event, id, std::string(64, '0'), event.lsn));
    return true;
  });
  return records;
}

// Commit-to-delivery latency: a writer with an exporter running in its
// background thread (woken by its commit listener) and a consumer polling;
// one commit of one event at a time.
bench::HistoryLatency commit_to_consumer(const std::filesystem::path& dir,
                                         KafkaMockCluster& cluster,
                                         std::size_t samples) {
  const std::string topic = "wfstore-bench-latency";
  cluster.create_topic(topic, 4);
  auto db = Database::open(dir);
  bench::grow_history_store(*db, 1000);
  KafkaExporterOptions eo;
  eo.brokers = cluster.bootstrap_servers();
  eo.topic = topic;
  eo.max_batch_time = std::chrono::milliseconds{0};
  KafkaExporter exporter(*db, eo);
  exporter.start();
  KafkaConsumerOptions co;
  co.brokers = cluster.bootstrap_servers();
  co.topic = topic;
  co.fetch_wait = std::chrono::milliseconds{1};
  KafkaConsumer consumer(co);
  const auto wait_for = [&](std::uint64_t lsn) {
    const auto deadline = SteadyClock::now() + std::chrono::seconds{30};
    while (consumer.last_lsn() < lsn) {
      if (SteadyClock::now() > deadline) {
        throw IOError(fmt::format(
            "bench --kafka: lsn {} did not reach the consumer in 30 s", lsn));
      }
      consumer.poll(std::chrono::milliseconds{1});
    }
  };
  wait_for(db->stats().applied_lsn);
  // Warm-up: the producer's first transaction starts it (about a second).
  constexpr std::size_t kWarmUp = 5;
  for (std::size_t i = 0; i < kWarmUp; ++i) {
    bench::commit_one_event(*db, i);
    wait_for(db->stats().applied_lsn);
  }
  std::vector<double> us;
  for (std::size_t i = kWarmUp; i < kWarmUp + samples; ++i) {
    bench::commit_one_event(*db, i);
    const auto acked = SteadyClock::now();
    wait_for(db->stats().applied_lsn);
    us.push_back(
        std::chrono::duration<double, std::micro>(SteadyClock::now() - acked)
            .count());
  }
  exporter.stop();
  if (std::exception_ptr error = exporter.error())
    std::rethrow_exception(error);
  return bench::latency_of(std::move(us));
}

Figures measure(const KafkaBenchOptions& o, const std::filesystem::path& dir) {
  Figures f;
  const std::filesystem::path store = dir / "store";
  f.events = build_store(store, o.events);
  KafkaMockCluster cluster(1);
  const std::string& brokers = cluster.bootstrap_servers();

  // The bound: a plain producer sending the same records.
  {
    const std::vector<KafkaRecord> records = records_of(store);
    cluster.create_topic("wfstore-bench-raw", kPartitions);
    f.raw_per_s = static_cast<double>(records.size()) /
                  bench_raw_produce(brokers, "wfstore-bench-raw", records);
  }

  // The exporter over a read-only open, as `wfstore stream` runs.
  const std::string topic = "wfstore-bench-export";
  cluster.create_topic(topic, kPartitions);
  {
    auto db = Database::open_read_only(store);
    KafkaExporterOptions eo;
    eo.brokers = brokers;
    eo.topic = topic;
    KafkaExporter exporter(*db, eo);
    const double cpu = process_cpu_seconds();
    const auto start = SteadyClock::now();
    const std::uint64_t exported = exporter.export_until_caught_up();
    const double seconds = seconds_since(start);
    f.ok &= exported == f.events;
    f.export_per_s = static_cast<double>(exported) / seconds;
    f.export_cpu_us =
        1e6 * (process_cpu_seconds() - cpu) / static_cast<double>(exported);
  }

  // A replica from that topic beside the rebuild of the same views.
  f.replica = bench_replica_fold(brokers, topic, store, dir / "replica");
  f.ok &= f.replica.checksums_equal && f.replica.events == f.events;

  // The exporter's peak memory for the store and one a quarter of its size.
  const std::filesystem::path small = dir / "small";
  f.small_events = build_store(small, o.events / 4);
  cluster.create_topic("wfstore-bench-memory-small", kPartitions);
  cluster.create_topic("wfstore-bench-memory", kPartitions);
  f.small_peak =
      stream_peak_memory(small, brokers, "wfstore-bench-memory-small");
  f.big_peak = stream_peak_memory(store, brokers, "wfstore-bench-memory");

  f.latency = commit_to_consumer(dir / "latency", cluster, o.latency_samples);
  return f;
}

}  // namespace

int run_kafka_bench(const KafkaBenchOptions& o) {
  Figures f;
  {
    const bench::ScratchDir scratch =
        bench::ScratchDir::make(o.dir, "wfstore-bench-kafka");
    f = measure(o, scratch.path);
  }
  if (o.json) {
    const nlohmann::json doc = {
        {"events", f.events},
        {"partitions", kPartitions},
        {"export_events_per_sec", f.export_per_s},
        {"export_cpu_us_per_event", f.export_cpu_us},
        {"raw_produce_events_per_sec", f.raw_per_s},
        {"commit_to_consumer_us",
         {{"samples", f.latency.samples},
          {"median", f.latency.median_us},
          {"p99", f.latency.p99_us}}},
        {"replica_events_per_sec", f.replica.replica_events_per_s},
        {"rebuild_events_per_sec", f.replica.rebuild_events_per_s},
        {"replica_checksum_equal", f.replica.checksums_equal},
        {"exporter_peak_kib",
         {{"events", f.events},
          {"kib", f.big_peak.hwm_kib},
          {"anon_kib", f.big_peak.anon_kib}}},
        {"exporter_peak_kib_small",
         {{"events", f.small_events},
          {"kib", f.small_peak.hwm_kib},
          {"anon_kib", f.small_peak.anon_kib}}},
        {"ok", f.ok}};
    std::cout << doc.dump(2) << '\n';
  } else {
    std::cout << fmt::format(
        "kafka export        {:>10.0f} events/s   bound: a plain producer of "
        "the same records {:.0f} events/s ({:.0f}%); {} events, {} "
        "partitions, one broker; {:.1f} us of CPU per event (the process, "
        "broker included)\n",
        f.export_per_s, f.raw_per_s, 100 * f.export_per_s / f.raw_per_s,
        f.events, kPartitions, f.export_cpu_us);
    std::cout << fmt::format(
        "commit -> consumer  median {:.0f} us, p99 {:.0f} us ({} commits of "
        "one event, exporter in the writer's process)\n",
        f.latency.median_us, f.latency.p99_us, f.latency.samples);
    std::cout << fmt::format(
        "replica fold        {:>10.0f} events/s   beside the rebuild of the "
        "same views {:.0f} events/s; checksums {}\n",
        f.replica.replica_events_per_s, f.replica.rebuild_events_per_s,
        f.replica.checksums_equal ? "equal" : "DIFFER");
    std::cout << fmt::format(
        "exporter memory     peak {} KiB (anonymous {} KiB) exporting {} "
        "events, {} KiB (anonymous {} KiB) exporting {} (a wfstore stream "
        "process)\n",
        f.big_peak.hwm_kib, f.big_peak.anon_kib, f.events, f.small_peak.hwm_kib,
        f.small_peak.anon_kib, f.small_events);
    if (!f.ok) std::cout << "FAILED: an export or replica check failed\n";
  }
  return f.ok ? 0 : 1;
}

}  // namespace wfstore::tools
