// Raw LMDB put loops with the views' environment flags: the bounds that
// `wfstore bench` prints beside the store's own rates
// (README.md "Performance").

#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace wfstore {

struct RawBenchOptions {
  // Puts in total.
  std::uint64_t count = 100000;
  // Bytes of each value.
  std::size_t value_size = 400;
  // Puts per write transaction: 1 for the single-put loop, e.g. 10000 for the
  // batched one.
  std::uint64_t puts_per_txn = 1;
  // Keys are 8-byte big-endian numbers: scattered (a fixed odd multiplier
  // permutes the counter) when true, ascending when false.
  bool scattered_keys = true;
  // MDB_WRITEMAP as the views use it; false measures the flag's effect.
  bool write_map = true;
};

struct RawBenchResult {
  std::uint64_t ops = 0;
  double seconds = 0;
  double ops_per_second = 0;
};

// Puts options.count values into one database of a fresh environment in `dir`
// (created; REQUIRES: missing or empty), opened with the writer flags of the
// views (lmdb::writer_flags()), committing every options.puts_per_txn puts, and
// times the loop (open and close excluded). Throws IOError,
// InvalidArgumentError for a zero count or batch.
RawBenchResult raw_lmdb_put_rate(const std::filesystem::path& dir,
                                 const RawBenchOptions& options);

// The single-put rate: options.count transactions of one put each.
inline RawBenchResult raw_lmdb_single_put_rate(const std::filesystem::path& dir,
                                               std::uint64_t count,
                                               std::size_t value_size) {
  RawBenchOptions options;
  options.count = count;
  options.value_size = value_size;
  options.puts_per_txn = 1;
  return raw_lmdb_put_rate(dir, options);
}

// The batched-put rate: `puts_per_txn` puts per transaction.
inline RawBenchResult raw_lmdb_batched_put_rate(
    const std::filesystem::path& dir, std::uint64_t count,
    std::size_t value_size, std::uint64_t puts_per_txn = 10000) {
  RawBenchOptions options;
  options.count = count;
  options.value_size = value_size;
  options.puts_per_txn = puts_per_txn;
  return raw_lmdb_put_rate(dir, options);
}

// The shape of one write transaction of a store operation: `gets` gets of
// keys written earlier, `big_puts` puts of `big_value_size` bytes and
// `small_puts` puts of `small_value_size` bytes under fresh keys.
struct RawTxnShape {
  std::size_t gets = 1;
  std::size_t big_puts = 1;
  std::size_t big_value_size = 400;
  std::size_t small_puts = 2;
  std::size_t small_value_size = 16;
};

// Runs `count` write transactions of `shape` in a fresh environment in `dir`
// (REQUIRES: missing or empty; writer flags of the views), calling `after_op`
// after each commit (e.g. a log write), and times the loop. Throws IOError,
// InvalidArgumentError for a zero count, what `after_op` throws.
RawBenchResult raw_lmdb_txn_rate(const std::filesystem::path& dir,
                                 std::uint64_t count, const RawTxnShape& shape,
                                 const std::function<void()>& after_op);

// Puts `records` into a fresh environment in `dir` (REQUIRES: missing or
// empty), then times `count` read transactions, each getting
// `gets_per_op` consecutive records (cyclically) and passing each to
// `decode`. Throws IOError, InvalidArgumentError for no records or a zero
// count, what `decode` throws.
RawBenchResult raw_lmdb_get_rate(
    const std::filesystem::path& dir, const std::vector<std::string>& records,
    std::size_t gets_per_op, std::uint64_t count,
    const std::function<void(std::string_view)>& decode);

// The number of entries in all named databases of the environment in `dir`,
// opened read-only (REQUIRES: no writer open of it in this process). Throws
// IOError, CorruptionError.
std::uint64_t lmdb_entry_count(const std::filesystem::path& dir);

}  // namespace wfstore
