// Map growth at scale: views that start with a 1 MiB map take
// WFSTORE_GROWTH_MIB (default 50) MiB of values, through both growth paths, and
// read them all back.

#include <string>

#include <gtest/gtest.h>

#include "tests/testutil/temp_dir.h"
#include "wfstore_internal/keys.h"
#include "wfstore_internal/lmdb_views.h"

namespace wfstore {
namespace {

std::string big_value(std::uint64_t i) {
  return std::string(4096, static_cast<char>('a' + i % 26));
}

TEST(LmdbSlowTest, MapGrowsFromOneMiBToHoldFiftyMiB) {
  testutil::TempDir dir;
  LmdbViewsOptions options;
  options.map_size = std::uint64_t{1} << 20;
  auto views = LmdbViews::open(dir / "views", options);
  const std::uint64_t initial = views->map_size();
  const auto mib =
      static_cast<std::uint64_t>(testutil::env_knob("WFSTORE_GROWTH_MIB", 50));
  const std::uint64_t values = mib * 256;  // 4 KiB each.
  // One transaction of a quarter of it: MapFullError, growth, and a rerun,
  // until it fits.
  int runs = 0;
  views->write([&](LmdbViews::WriteTxn& txn) {
    ++runs;
    for (std::uint64_t j = 0; j < values / 4; ++j) {
      txn.put(Table::kStages, keys::encode_u64(j), big_value(j));
    }
  });
  EXPECT_GT(runs, 1);
  // Small transactions: growth ahead of need at begin_write().
  for (std::uint64_t i = values / 4; i < values; i += 64) {
    LmdbViews::WriteTxn txn = views->begin_write();
    for (std::uint64_t j = i; j < i + 64 && j < values; ++j) {
      txn.put(Table::kStages, keys::encode_u64(j), big_value(j));
    }
    txn.commit();
  }
  EXPECT_GE(views->map_size(), mib * initial);
  LmdbViews::Snapshot snapshot = views->begin_read();
  std::uint64_t seen = 0;
  snapshot.scan(Table::kStages, {}, {},
                [&](std::string_view key, std::string_view value) {
                  EXPECT_EQ(keys::decode_u64(key), seen);
                  EXPECT_EQ(value, big_value(seen));
                  ++seen;
                  return true;
                });
  EXPECT_EQ(seen, values);
}

}  // namespace
}  // namespace wfstore
