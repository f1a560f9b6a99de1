// bench_replica_fold: both rates measured over the same events, the replica
// equal to the rebuilt views. Prints the figures.

#include "wfstore/kafka_bench.h"

#include <cstdio>

#include <gtest/gtest.h>

#include "wfstore/database.h"
#include "wfstore/kafka_mock.h"

#include "tests/kafka/kafka_test_producer.h"
#include "tests/store/store_workload.h"
#include "tests/testutil/store_test_util.h"
#include "tests/testutil/temp_dir.h"

namespace wfstore {
namespace {

TEST(KafkaBenchTest, ReplicaFoldRateBesideTheRebuildRate) {
  testutil::TempDir tmp;
  KafkaMockCluster cluster(1);
  // 16 partitions: the mock keeps about 5 MiB per partition.
  cluster.create_topic("t", 16);
  {
    auto db = Database::open(tmp / "src", testutil::quiet_options());
    testutil::run_workload(
        db->workflow_store(), 31,
        static_cast<int>(testutil::env_knob("WFSTORE_REPLICA_BENCH_OPS", 3000)),
        "wf");
    db->close();
  }
  {
    testutil::TestProducer producer(cluster.bootstrap_servers());
    for (const KafkaRecord& r : testutil::records_of_store(tmp / "src")) {
      producer.send("t", r);
    }
    producer.flush();
  }
  const ReplicaBenchResult result = bench_replica_fold(
      cluster.bootstrap_servers(), "t", tmp / "src", tmp / "replica");
  EXPECT_GT(result.events, 0u);
  EXPECT_TRUE(result.checksums_equal);
  EXPECT_GT(result.replica_events_per_s, 0);
  EXPECT_GT(result.rebuild_events_per_s, 0);
  std::printf(
      "replica fold: %llu events in %.3f s (%.0f events/s); rebuild: %.3f s "
      "(%.0f events/s)\n",
      static_cast<unsigned long long>(result.events), result.replica_seconds,
      result.replica_events_per_s, result.rebuild_seconds,
      result.rebuild_events_per_s);
}

}  // namespace
}  // namespace wfstore
