// Tests of the raw LMDB put loops: they put what they claim and report a rate.
// Sizes come from WFSTORE_RAW_BENCH_COUNT (default 2000) so the same test can
// print real figures.

#include "bench/lmdb_raw_bench.h"

#include <cstdio>

#include <gtest/gtest.h>

#include "wfstore/errors.h"

#include "projector/lmdb.h"
#include "tests/testutil/temp_dir.h"

namespace wfstore {
namespace {

std::uint64_t count_keys(const std::filesystem::path& dir) {
  auto env = lmdb::Env::open(dir, lmdb::EnvOptions{});
  const MDB_dbi dbi = *env->dbis({"raw_bench"}, false).front();
  lmdb::Txn txn(*env, true);
  MDB_stat stat{};
  lmdb::check(mdb_stat(txn.get(), dbi, &stat), "mdb_stat", env->path());
  return stat.ms_entries;
}

TEST(LmdbRawBenchTest, SingleAndBatchedLoopsPutEveryValue) {
  const auto count = static_cast<std::uint64_t>(
      testutil::env_knob("WFSTORE_RAW_BENCH_COUNT", 2000));
  testutil::TempDir dir;
  const RawBenchResult single =
      raw_lmdb_single_put_rate(dir / "single", count, 400);
  const RawBenchResult batched =
      raw_lmdb_batched_put_rate(dir / "batched", count, 400, 1000);
  std::printf(
      "raw LMDB puts of 400 bytes: %.0f/s one per txn, %.0f/s 1000 per txn "
      "(%llu puts)\n",
      single.ops_per_second, batched.ops_per_second,
      static_cast<unsigned long long>(count));
  EXPECT_EQ(single.ops, count);
  EXPECT_EQ(batched.ops, count);
  EXPECT_GT(single.ops_per_second, 0);
  EXPECT_GT(batched.ops_per_second, 0);
  EXPECT_EQ(count_keys(dir / "single"), count);
  EXPECT_EQ(count_keys(dir / "batched"), count);
}

// Prints the rates of the flag and key-order variants (the figures in the
// report).
TEST(LmdbRawBenchTest, VariantsRun) {
  const auto count = static_cast<std::uint64_t>(
      testutil::env_knob("WFSTORE_RAW_BENCH_COUNT", 2000));
  testutil::TempDir dir;
  int n = 0;
  for (bool write_map : {true, false}) {
    for (bool scattered : {true, false}) {
      for (std::uint64_t batch : {std::uint64_t{1}, std::uint64_t{1000}}) {
        RawBenchOptions options;
        options.count = count;
        options.write_map = write_map;
        options.scattered_keys = scattered;
        options.puts_per_txn = batch;
        const RawBenchResult result =
            raw_lmdb_put_rate(dir / std::to_string(n++), options);
        std::printf("writemap=%d scattered=%d puts/txn=%llu: %.0f puts/s\n",
                    write_map, scattered,
                    static_cast<unsigned long long>(batch),
                    result.ops_per_second);
        EXPECT_EQ(result.ops, count);
      }
    }
  }
}

TEST(LmdbRawBenchTest, RejectsZeroSizes) {
  testutil::TempDir dir;
  RawBenchOptions options;
  options.count = 0;
  EXPECT_THROW(raw_lmdb_put_rate(dir / "v", options), InvalidArgumentError);
  options.count = 1;
  options.puts_per_txn = 0;
  EXPECT_THROW(raw_lmdb_put_rate(dir / "v", options), InvalidArgumentError);
}

}  // namespace
}  // namespace wfstore
