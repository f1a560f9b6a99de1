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
  std::string durability = "both";  // sync | buffered | both
  std::string dir;                  // empty: a temporary directory
  bool json = false;
  double thread_seconds = 1.0;        // per thread count
  std::size_t wakeup_samples = 1000;  // blocking-poll wake-up latency samples
};

// `wfstore bench` without --log: the standard workload with its bounds
// (bench_store.cc), printed to stdout. Returns the exit code: 0, or 1 when a
// check failed. Throws what the store throws.
int run_store_bench(const StoreBenchOptions& options);

struct LogBenchOptions {
  std::string dir = ".";  // a scratch subdirectory is made in it
  double seconds = 2.0;   // per measurement
  std::size_t body_bytes = 500;
};

// `wfstore bench --log`: the log's append+fdatasync rate against a raw
// write()+fdatasync loop of the same record size, plus group-sync and no-sync
// rates (bench_log.cc), printed to stdout. Returns 0. Throws IOError.
int run_log_bench(const LogBenchOptions& options);

}  // namespace wfstore::bench
