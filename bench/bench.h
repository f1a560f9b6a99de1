// The measurements behind `wfstore bench`: the standard workload with the raw
// loops that bound it, and the log against a raw append-only file. The
// `wfstore` tool parses the flags and calls these; the bench library is built
// beside the store's libraries and not installed.

#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "wfstore/database.h"

namespace wfstore::bench {

// Runs `op` (which does `per_op` units of work) until `seconds` pass or
// `max_units` are done; returns units per second. Throws what `op` throws.
double measure(double seconds, std::uint64_t per_op, std::uint64_t max_units,
               const std::function<void()>& op);

// A file opened for appending with plain write(2), closed on destruction.
// Not thread-safe.
class RawAppendFile {
 public:
  // Creates or opens `path`. Throws IOError.
  explicit RawAppendFile(const std::filesystem::path& path);
  ~RawAppendFile();
  RawAppendFile(const RawAppendFile&) = delete;
  RawAppendFile& operator=(const RawAppendFile&) = delete;

  // Writes `bytes` at the end, then fdatasyncs if `sync`. Throws IOError.
  void append(std::string_view bytes, bool sync);

 private:
  std::filesystem::path path_;
  int fd_;
};

// Raw write()+fdatasync records per second of `record` bytes each into a new
// file `path`, for `seconds` or `max_ops` records. Throws IOError.
double raw_append_sync_rate(const std::filesystem::path& path,
                            std::size_t record, double seconds,
                            std::uint64_t max_ops = UINT64_MAX);

struct StoreBenchOptions {
  std::uint64_t n = 2000;
  std::uint64_t dedup = 10000;      // message ids of the dedup phases
  std::string durability = "both";  // sync | buffered | both
  std::string dir;                  // empty: a temporary directory
  bool json = false;
  double thread_seconds = 1.0;        // per thread count
  std::size_t wakeup_samples = 1000;  // blocking-poll wake-up latency samples
  // Also run stabilize's SqliteWorkflowStore (WAL mode) on the workload and
  // set each phase beside it (stabilize_run.cc).
  bool vs_stabilize = false;
};

// `wfstore bench` without --log: the standard workload with its bounds
// (bench_store.cc), printed to stdout. Returns the exit code: 0, or 1 when a
// check failed. Throws what the store throws.
int run_store_bench(const StoreBenchOptions& options);

struct ScaleBenchOptions {
  std::uint64_t small_n = 2000;    // workflows of the small run
  std::uint64_t large_n = 100000;  // workflows of the large run
  std::uint64_t dedup = 10000;     // message ids of the dedup phases
  // Expired leases a poll picks among (against kPolls = 2000).
  std::uint64_t leases = 100000;
  // Events the memory run grows its store to.
  std::uint64_t rss_events = 10000000;
  std::string dir;  // empty: a temporary directory
  bool json = false;
};

// `wfstore bench --scale` (scale_bench.cc): the standard workload's phases at
// small_n and large_n workflows, per-operation cost side by side (flat: large
// at most 1.5x small); poll_one+ack among `leases` expired leases against
// among 2000; resident memory sampled ten times while a store grows to
// rss_events events. Printed to stdout. Returns 0, or 1 when an answer was
// wrong. Throws what the store throws.
int run_scale_bench(const ScaleBenchOptions& options);

struct LogBenchOptions {
  std::string dir = ".";  // a scratch subdirectory is made in it
  double seconds = 2.0;   // per measurement
  std::size_t body_bytes = 500;
};

// `wfstore bench --log`: the log's append+fdatasync rate against a raw
// write()+fdatasync loop of the same record size, plus group-sync and no-sync
// rates (bench_log.cc), printed to stdout. Returns 0. Throws IOError.
int run_log_bench(const LogBenchOptions& options);

struct HistoryBenchOptions {
  // Events of the large store (one workflow's history is also measured among
  // a tenth of them).
  std::uint64_t events = 200000;
  // Events of the one workflow of `show --at` and export.
  std::uint64_t workflow_events = 10000;
  // Most samples per latency figure (each loop also stops after 2 s).
  std::size_t samples = 200;
  std::string dir;  // empty: a temporary directory
  bool json = false;
};

// Grows the store to at most `events` events (by whole batches of workflows
// of the history benchmark: each stored, then completed stage by stage in
// one transaction per round). REQUIRES: a store grown only by this. Throws
// what the store throws.
void grow_history_store(Database& db, std::uint64_t events);

// One commit of one event (a WorkflowStored) in a store grown by
// grow_history_store(): stores the `i`th extra workflow, whose id no grown
// workflow has. Throws what the store throws (DuplicateError for an `i`
// stored before).
void commit_one_event(Database& db, std::uint64_t i);

struct HistoryLatency {
  std::size_t samples = 0;
  double median_us = 0;
  double p99_us = 0;
};

// The median and p99 of microsecond samples (sorted here). Throws
// CheckFailed (store_bench.h) for no samples.
HistoryLatency latency_of(std::vector<double> us);

// One figure of `wfstore bench --history`: a latency or a rate, beside the
// raw figure that bounds it, measured in the same run.
struct HistoryFigure {
  std::string name;
  // What was measured on (log_events, workflow_events, bytes, ...).
  std::vector<std::pair<std::string, std::uint64_t>> params;
  bool latency = true;
  HistoryLatency measured;  // latency figures
  double rate = 0;          // rate figures, in `unit`
  std::string unit;         // "events_per_sec" or "mb_per_sec"
  std::string bound;        // the raw figure's name (its unit in the name)
  double bound_value = 0;

  // Latency: how many bound latencies one operation costs; rate: the share of
  // the bound's rate reached.
  double ratio() const {
    if (bound_value <= 0) return 0;
    return latency ? measured.median_us / bound_value : rate / bound_value;
  }
};

// Measures the figures of `wfstore bench --history` (history_bench.cc) in
// stores built in `dir` (REQUIRES: an empty directory, no store open in this
// process: the cross-process subscriber figure forks). Throws CheckFailed
// (store_bench.h) for a wrong answer, what the store throws.
std::vector<HistoryFigure> run_history_figures(
    const HistoryBenchOptions& options, const std::filesystem::path& dir);

// `wfstore bench --history`: run_history_figures() in a scratch directory,
// printed to stdout as lines or one JSON document. Returns the exit code: 0,
// or 1 when an answer was wrong.
int run_history_bench(const HistoryBenchOptions& options);

}  // namespace wfstore::bench
