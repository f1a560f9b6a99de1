// The raw LMDB put loops behind the bench's bounds.

#include "bench/lmdb_raw_bench.h"

#include <algorithm>
#include <chrono>
#include <string>

#include <fmt/format.h>

#include "projector/lmdb.h"
#include "wfstore_internal/keys.h"

namespace wfstore {

RawBenchResult raw_lmdb_put_rate(const std::filesystem::path& dir,
                                 const RawBenchOptions& options) {
  if (options.count == 0 || options.puts_per_txn == 0) {
    throw InvalidArgumentError(
        fmt::format("raw bench: count {} and puts_per_txn {} must be > 0",
                    options.count, options.puts_per_txn));
  }
  RawBenchResult result;
  {
    lmdb::EnvOptions env_options;
    env_options.write_map = options.write_map;
    std::shared_ptr<lmdb::Env> env = lmdb::Env::open(dir, env_options);
    const MDB_dbi dbi = *env->dbis({"raw_bench"}, true).front();
    const std::string value(options.value_size, 'v');
    std::string key;
    const auto start = std::chrono::steady_clock::now();
    std::uint64_t done = 0;
    while (done < options.count) {
      lmdb::Txn txn(*env, false);
      const std::uint64_t end =
          std::min(options.count, done + options.puts_per_txn);
      for (; done < end; ++done) {
        key.clear();
        keys::append_u64(
            key, options.scattered_keys ? done * 0x9e3779b97f4a7c15ULL : done);
        txn.put(dbi, key, value);
      }
      txn.commit();
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
  std::shared_ptr<lmdb::Env> env = lmdb::Env::open(dir, lmdb::EnvOptions{});
  const MDB_dbi dbi = open_bench_dbi(*env);
  const std::string big(shape.big_value_size, 'v');
  const std::string small(shape.small_value_size, 's');
  const std::size_t puts = shape.big_puts + shape.small_puts;
  std::uint64_t next_key = 0;
  std::size_t found = 0;
  const auto start = std::chrono::steady_clock::now();
  for (std::uint64_t op = 0; op < count; ++op) {
    lmdb::Txn txn(*env, false);
    for (std::size_t g = 0; g < shape.gets; ++g) {
      // Keys of the previous operation's puts (misses on the first).
      const std::uint64_t back = next_key >= puts ? next_key - puts : 0;
      if (txn.get(dbi,
                  scattered_key(back + g % std::max<std::size_t>(puts, 1)))) {
        ++found;
      }
    }
    for (std::size_t p = 0; p < puts; ++p) {
      txn.put(dbi, scattered_key(next_key++), p < shape.big_puts ? big : small);
    }
    txn.commit();
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
  std::shared_ptr<lmdb::Env> env = lmdb::Env::open(dir, lmdb::EnvOptions{});
  const MDB_dbi dbi = open_bench_dbi(*env);
  {
    lmdb::Txn txn(*env, false);
    for (std::size_t i = 0; i < records.size(); ++i) {
      txn.put(dbi, scattered_key(i), records[i]);
    }
    txn.commit();
  }
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
