// The raw LMDB put loops behind the bench's bounds.

#include "wfstore_internal/lmdb_raw_bench.h"

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

}  // namespace wfstore
