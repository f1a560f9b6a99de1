// A 50,000-event store (WFSTORE_KAFKA_EXPORT_EVENTS) exported whole to a
// fresh mock cluster and read back exactly; prints the export rate.

#include <chrono>
#include <iostream>
#include <string>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "wfstore/database.h"
#include "wfstore/kafka_exporter.h"
#include "wfstore/kafka_mock.h"

#include "tests/kafka/export_read_back.h"
#include "tests/store/store_workload.h"
#include "tests/testutil/temp_dir.h"

namespace wfstore {
namespace {

TEST(KafkaExportLargeTest, FiftyThousandEventsAreReadBackExactly) {
  const auto events = static_cast<std::uint64_t>(
      testutil::env_knob("WFSTORE_KAFKA_EXPORT_EVENTS", 50000));
  const std::uint32_t seed = testutil::random_seed();
  testutil::TempDir dir;
  DatabaseOptions o;
  o.durability = Durability::kBuffered;
  auto db = Database::open(dir / "store", o);
  for (std::uint32_t round = 0;
       read_committed_events(*db, 0, 0).current_lsn < events; ++round) {
    testutil::run_workload(db->workflow_store(), seed + round, 200,
                           fmt::format("r{}", round));
  }
  const std::uint64_t end = read_committed_events(*db, 0, 0).current_lsn;
  KafkaMockCluster cluster(3);
  KafkaExporterOptions eo;
  eo.brokers = cluster.bootstrap_servers();
  eo.topic = "big";
  const auto start = std::chrono::steady_clock::now();
  {
    KafkaExporter exporter(*db, eo);
    EXPECT_EQ(exporter.export_until_caught_up(), end);
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
          .count();
  std::cout << fmt::format("exported {} events in {:.2f} s: {:.0f} events/s\n",
                           end, seconds, static_cast<double>(end) / seconds);
  const auto records = testutil::read_topic(cluster.bootstrap_servers(), "big");
  const testutil::ExportCheck check =
      testutil::check_export(*db, records, end, 0);
  EXPECT_EQ(check.distinct, end);
  EXPECT_EQ(check.duplicates, 0u);
  EXPECT_EQ(records.size(), end);
}

}  // namespace
}  // namespace wfstore
