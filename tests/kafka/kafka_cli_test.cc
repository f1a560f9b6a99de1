// `wfstore consume` and `wfstore replicate` as processes against the mock
// cluster: JSON Lines equal to the record values, a replica whose `stats`
// match the source's, and the errors' messages and exit codes.

#include <algorithm>
#include <cstddef>
#include <filesystem>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "wfstore/database.h"
#include "wfstore/kafka_mock.h"

#include "tests/kafka/kafka_test_producer.h"
#include "tests/store/store_workload.h"
#include "tests/testutil/run_tool.h"
#include "tests/testutil/store_test_util.h"
#include "tests/testutil/temp_dir.h"

namespace wfstore {
namespace {

using ::testing::HasSubstr;
using testutil::run_tool;

class KafkaCliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    {
      auto db = Database::open(tmp_ / "src", testutil::quiet_options());
      testutil::run_workload(db->workflow_store(), 41, 200, "wf");
      db->close();
    }
    records_ = testutil::records_of_store(tmp_ / "src");
    cluster_.create_topic("t", 4);
    testutil::TestProducer producer(cluster_.bootstrap_servers());
    for (const KafkaRecord& r : records_) producer.send("t", r);
    producer.flush();
  }

  std::string brokers() const { return cluster_.bootstrap_servers(); }

  testutil::TempDir tmp_;
  KafkaMockCluster cluster_{1};
  std::vector<KafkaRecord> records_;
};

TEST_F(KafkaCliTest, ConsumeJsonPrintsEveryRecordValueInLsnOrder) {
  const testutil::ToolRun run = run_tool(
      fmt::format("consume --brokers {} --topic t --json --until-caught-up",
                  brokers()),
      /*with_stderr=*/false);
  ASSERT_EQ(run.status, 0) << run.output;
  std::string expected;
  for (const KafkaRecord& r : records_) expected += r.value + "\n";
  EXPECT_EQ(run.output, expected);
}

TEST_F(KafkaCliTest, ConsumeTextPrintsOneLinePerEvent) {
  const testutil::ToolRun run =
      run_tool(fmt::format("consume --brokers {} --topic t --until-caught-up",
                           brokers()),
               false);
  ASSERT_EQ(run.status, 0) << run.output;
  EXPECT_EQ(static_cast<std::size_t>(
                std::count(run.output.begin(), run.output.end(), '\n')),
            records_.size());
  EXPECT_THAT(run.output, HasSubstr("lsn=1 commit=1 "));
  EXPECT_THAT(run.output, HasSubstr("type=WorkflowStored"));
}

TEST_F(KafkaCliTest, ReplicateThenStatsMatchTheSource) {
  const testutil::ToolRun run = run_tool(
      fmt::format("replicate --brokers {} --topic t --dir {} --until-caught-up",
                  brokers(), (tmp_ / "r").string()));
  ASSERT_EQ(run.status, 0) << run.output;
  const auto stats = [](const std::filesystem::path& dir) {
    const testutil::ToolRun s =
        run_tool(fmt::format("stats --dir {} --json", dir.string()), false);
    EXPECT_EQ(s.status, 0) << s.output;
    return nlohmann::json::parse(s.output);
  };
  const nlohmann::json source = stats(tmp_ / "src");
  const nlohmann::json replica = stats(tmp_ / "r");
  EXPECT_EQ(replica.at("applied_lsn"), records_.size());
  EXPECT_EQ(replica.at("applied_lsn"), source.at("applied_lsn"));
  EXPECT_EQ(replica.at("view_checksum"), source.at("view_checksum"));
  EXPECT_EQ(replica.at("store_id"), source.at("store_id"));
  EXPECT_EQ(replica.at("workflows"), source.at("workflows"));
}

TEST_F(KafkaCliTest, AMissingTopicExitsNotFound) {
  const testutil::ToolRun run = run_tool(fmt::format(
      "consume --brokers {} --topic nope --until-caught-up", brokers()));
  EXPECT_EQ(run.status, 3);
  EXPECT_THAT(run.output,
              HasSubstr("wfstore: Kafka topic 'nope' does not exist"));
}

TEST_F(KafkaCliTest, AGapExitsDamagedNamingTheRange) {
  cluster_.create_topic("holed", 4);
  {
    testutil::TestProducer producer(cluster_.bootstrap_servers());
    std::vector<KafkaRecord> holed;
    for (const KafkaRecord& r : records_) {
      if (testutil::record_lsn(r) != 30) holed.push_back(r);
    }
    producer.send_round_robin("holed", holed, 4);
    producer.flush();
  }
  const testutil::ToolRun run = run_tool(fmt::format(
      "replicate --brokers {} --topic holed --dir {} --until-caught-up",
      brokers(), (tmp_ / "r").string()));
  EXPECT_EQ(run.status, 4);
  EXPECT_THAT(run.output, HasSubstr("wfstore: gap in the topic 'holed'"));
  EXPECT_THAT(run.output, HasSubstr("lsn 30..30 missing"));
}

}  // namespace
}  // namespace wfstore
