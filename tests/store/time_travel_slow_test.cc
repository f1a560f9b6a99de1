// The time-travel property at scale (docs/history.md): a long seeded random
// workload (WFSTORE_TIME_TRAVEL_OPS operations, 1500 by default) over a real
// store; the workflow and the queue as of every LSN equal what the store
// returned right after the commit that holds it.

#include <memory>

#include <gtest/gtest.h>

#include "wfstore/database.h"

#include "tests/store/time_travel_workload.h"
#include "tests/testutil/store_test_util.h"
#include "tests/testutil/temp_dir.h"

namespace wfstore {
namespace {

TEST(TimeTravelSlowTest,
     EveryLsnOfALongRandomWorkloadReplaysToTheRecordedState) {
  const std::uint32_t seed = testutil::random_seed();
  SCOPED_TRACE(::testing::Message() << "seed " << seed);
  const int ops =
      static_cast<int>(testutil::env_knob("WFSTORE_TIME_TRAVEL_OPS", 1500));
  testutil::TempDir dir;
  auto clock = std::make_shared<testutil::FakeClock>(1'700'000'000'000);
  DatabaseOptions options = testutil::quiet_options(Durability::kBuffered);
  options.clock = clock;
  std::unique_ptr<Database> db = Database::open(dir.path(), options);
  const testutil::TimeTravelRun run =
      testutil::run_time_travel_workload(*db, *clock, seed, ops);
  EXPECT_GT(run.commits.size(), static_cast<std::size_t>(ops) / 2);
  testutil::expect_time_travel_matches(*db, run, 3);
}

}  // namespace
}  // namespace wfstore
