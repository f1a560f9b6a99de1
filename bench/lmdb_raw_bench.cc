// The raw LMDB put loops behind the bench's bounds.

#include "bench/lmdb_raw_bench.h"

#include <algorithm>
#include <chrono>
#include <functional>
#include <string>

#include <fmt/format.h>

#include "projector/lmdb.h"
#include "wfstore_internal/keys.h"

namespace wfstore {

namespace {

// Commits what `fn` puts in one write transaction, growing the map and
// putting it again when it does not fit (as the views do).
void commit_growing(lmdb::Env& env, const std::function<void(lmdb::Txn&)>& fn) {
  for (;;) {
    const std::uint64_t seen = env.map_size();
    try {
      lmdb::Txn txn(env, false);
      fn(txn);
      txn.commit();
      return;
    } catch (const MapFullError&) {
      env.grow(seen);
    }
  }
}

// Options whose map holds about `bytes` of puts from the start, so that
// growing it is rarely timed.
lmdb::EnvOptions options_for(std::uint64_t bytes, bool write_map = true) {
  lmdb::EnvOptions options;
  options.write_map = write_map;
  options.map_size = std::max(
      options.map_size, (2 * bytes + (1u << 20) - 1) / (1u << 20) * (1u << 20));
  return options;
}

}  // namespace

RawBenchResult raw_lmdb_put_rate(const std::filesystem::path& dir,
                                 const RawBenchOptions& options) {
  if (options.count == 0 || options.puts_per_txn == 0) {
    throw InvalidArgumentError(
        fmt::format("raw bench: count {} and puts_per_txn {} must be > 0",
                    options.count, options.puts_per_txn));
  }
  RawBenchResult result;
  {
    std::shared_ptr<lmdb::Env> env = lmdb::Env::open(
        dir, options_for(options.count * (options.value_size + 64),
                         options.write_map));
    const MDB_dbi dbi = *env->dbis({"raw_bench"}, true).front();
    const std::string value(options.value_size, 'v');
    std::string key;
    const auto start = std::chrono::steady_clock::now();
    std::uint64_t done = 0;
    while (done < options.count) {
      const std::uint64_t end =
          std::min(options.count, done + options.puts_per_txn);
      commit_growing(*env, [&](lmdb::Txn& txn) {
        for (std::uint64_t i = done; i < end; ++i) {
          key.clear();
          keys::append_u64(
              key, options.scattered_keys ? i * 0x9e3779b97f4a7c15ULL : i);
          txn.put(dbi, key, value);
        }
      });
      done = end;
    }
    const std::chrono::duration<double> elapsed =
        std::chrono::steady_clock::now() - start;
    result.ops = options.count;
    result.seconds = elapsed.count();
    result.ops_per_second =
        result.seconds > 0 ? static_cast<double>(result.ops) / result.seconds
                           : 0;
  }
  return result;
}

namespace {

RawBenchResult result_since(std::chrono::steady_clock::time_point start,
                            std::uint64_t ops) {
  const std::chrono::duration<double> elapsed =
      std::chrono::steady_clock::now() - start;
  RawBenchResult result;
  result.ops = ops;
  result.seconds = elapsed.count();
  result.ops_per_second =
      result.seconds > 0 ? static_cast<double>(ops) / result.seconds : 0;
  return result;
}

std::string scattered_key(std::uint64_t n) {
  std::string key;
  keys::append_u64(key, n * 0x9e3779b97f4a7c15ULL);
  return key;
}

MDB_dbi open_bench_dbi(lmdb::Env& env) {
  return *env.dbis({"raw_bench"}, true).front();
}

}  // namespace

RawBenchResult raw_lmdb_txn_rate(const std::filesystem::path& dir,
                                 std::uint64_t count, const RawTxnShape& shape,
                                 const std::function<void()>& after_op) {
  if (count == 0) {
    throw InvalidArgumentError("raw bench: count must be > 0");
  }
  const std::size_t puts = shape.big_puts + shape.small_puts;
  std::shared_ptr<lmdb::Env> env = lmdb::Env::open(
      dir,
      options_for(count * (shape.big_puts * (shape.big_value_size + 64) +
                           shape.small_puts * (shape.small_value_size + 64))));
  const MDB_dbi dbi = open_bench_dbi(*env);
  const std::string big(shape.big_value_size, 'v');
  const std::string small(shape.small_value_size, 's');
  std::uint64_t next_key = 0;
  std::size_t found = 0;
  const auto start = std::chrono::steady_clock::now();
  for (std::uint64_t op = 0; op < count; ++op) {
    const std::uint64_t first_key = next_key;
    commit_growing(*env, [&](lmdb::Txn& txn) {
      next_key = first_key;
      for (std::size_t g = 0; g < shape.gets; ++g) {
        // Keys of the previous operation's puts (misses on the first).
        const std::uint64_t back = next_key >= puts ? next_key - puts : 0;
        if (txn.get(dbi,
                    scattered_key(back + g % std::max<std::size_t>(puts, 1)))) {
          ++found;
        }
      }
      for (std::size_t p = 0; p < puts; ++p) {
        txn.put(dbi, scattered_key(next_key++),
                p < shape.big_puts ? big : small);
      }
    });
    if (after_op) after_op();
  }
  RawBenchResult result = result_since(start, count);
  if (count > 1 && shape.gets > 0 && found == 0) {
    throw InvalidArgumentError("raw bench: the gets found nothing");
  }
  return result;
}

RawBenchResult raw_lmdb_get_rate(
    const std::filesystem::path& dir, const std::vector<std::string>& records,
    std::size_t gets_per_op, std::uint64_t count,
    const std::function<void(std::string_view)>& decode) {
  if (records.empty() || count == 0 || gets_per_op == 0) {
    throw InvalidArgumentError(
        "raw bench: records, count and gets_per_op must be non-empty");
  }
  std::uint64_t bytes = 0;
  for (const std::string& record : records) bytes += record.size() + 64;
  std::shared_ptr<lmdb::Env> env = lmdb::Env::open(dir, options_for(bytes));
  const MDB_dbi dbi = open_bench_dbi(*env);
  commit_growing(*env, [&](lmdb::Txn& txn) {
    for (std::size_t i = 0; i < records.size(); ++i) {
      txn.put(dbi, scattered_key(i), records[i]);
    }
  });
  std::uint64_t next = 0;
  const auto start = std::chrono::steady_clock::now();
  for (std::uint64_t op = 0; op < count; ++op) {
    lmdb::Txn txn(*env, true);
    for (std::size_t g = 0; g < gets_per_op; ++g) {
      const auto value = txn.get(dbi, scattered_key(next++ % records.size()));
      if (!value) throw CorruptionError("raw bench: a record is missing");
      decode(*value);
    }
  }
  return result_since(start, count);
}

std::uint64_t lmdb_entry_count(const std::filesystem::path& dir) {
  lmdb::EnvOptions options;
  options.read_only = true;
  std::shared_ptr<lmdb::Env> env = lmdb::Env::open(dir, options);
  std::vector<std::string> names;
  {
    lmdb::Txn txn(*env, true);
    MDB_dbi main_dbi = 0;
    lmdb::check(mdb_dbi_open(txn.get(), nullptr, 0, &main_dbi), "mdb_dbi_open",
                env->path());
    lmdb::Cursor cursor(txn, main_dbi);
    for (bool ok = cursor.move(MDB_FIRST); ok; ok = cursor.move(MDB_NEXT)) {
      names.emplace_back(cursor.key());
    }
  }
  const auto dbis = env->dbis(names, false);
  lmdb::Txn txn(*env, true);
  std::uint64_t entries = 0;
  for (const auto& dbi : dbis) {
    if (!dbi) continue;
    MDB_stat stat{};
    lmdb::check(mdb_stat(txn.get(), *dbi, &stat), "mdb_stat", env->path());
    entries += stat.ms_entries;
  }
  return entries;
}

}  // namespace wfstore
