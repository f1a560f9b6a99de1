// `wfstore consume` and `wfstore replicate` as processes against the mock
// cluster: JSON Lines equal to the record values, a replica whose `stats`
// match the source's, and the errors' messages and exit codes.

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <signal.h>

#include "wfstore/database.h"
#include "wfstore/kafka_mock.h"

#include "tests/kafka/kafka_test_producer.h"
#include "tests/store/store_workload.h"
#include "tests/testutil/run_tool.h"
#include "tests/testutil/store_test_util.h"
#include "tests/testutil/temp_dir.h"
#include "tests/testutil/tool_process.h"

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

TEST_F(KafkaCliTest, ConsumeJsonPrintsOneLinePerRecordWhateverItsWhitespace) {
  // Values are JSON text: one laid out over several lines is still one
  // JSON Lines line.
  cluster_.create_topic("pretty", 1);
  {
    testutil::TestProducer producer(cluster_.bootstrap_servers());
    for (KafkaRecord r : records_) {
      r.value = nlohmann::json::parse(r.value).dump(2);
      producer.send("pretty", r);
    }
    producer.flush();
  }
  const testutil::ToolRun run = run_tool(
      fmt::format(
          "consume --brokers {} --topic pretty --json --until-caught-up",
          brokers()),
      /*with_stderr=*/false);
  ASSERT_EQ(run.status, 0) << run.output;
  std::vector<std::string> lines;
  std::size_t at = 0;
  for (std::size_t nl; (nl = run.output.find('\n', at)) != std::string::npos;
       at = nl + 1) {
    lines.push_back(run.output.substr(at, nl - at));
  }
  ASSERT_EQ(lines.size(), records_.size());
  for (std::size_t i = 0; i < lines.size(); ++i) {
    EXPECT_EQ(nlohmann::json::parse(lines[i]),
              nlohmann::json::parse(records_[i].value));
  }
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

TEST_F(KafkaCliTest, ConsumeFollowsTheTopicUntilSigint) {
  testutil::ToolProcess consume(
      {"consume", "--brokers", brokers(), "--topic", "t", "--json"});
  for (std::size_t i = 0; i < records_.size(); ++i) {
    ASSERT_EQ(consume.next_lsn(), i + 1);
  }
  // Still following: nothing more, no exit.
  EXPECT_EQ(consume.read_line(std::chrono::milliseconds(300)), std::nullopt);
  consume.signal(SIGINT);
  EXPECT_EQ(consume.wait(), 0);
}

TEST_F(KafkaCliTest, ReplicateFollowsTheTopicUntilSigtermAndClosesCleanly) {
  const std::filesystem::path replica = tmp_ / "r";
  testutil::ToolProcess replicate({"replicate", "--brokers", brokers(),
                                   "--topic", "t", "--dir", replica.string()});
  // A reader opens the replica while it is being replicated.
  const auto stats = [](const std::filesystem::path& dir) {
    const testutil::ToolRun s =
        run_tool(fmt::format("stats --dir {} --json", dir.string()), false);
    return s.status == 0 ? nlohmann::json::parse(s.output) : nlohmann::json();
  };
  nlohmann::json seen;
  for (int i = 0; i < 200; ++i) {
    seen = stats(replica);
    if (seen.is_object() && seen.at("applied_lsn") == records_.size()) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  ASSERT_TRUE(seen.is_object()) << "the replica never became readable";
  ASSERT_EQ(seen.at("applied_lsn"), records_.size());
  replicate.signal(SIGTERM);
  EXPECT_EQ(replicate.wait(), 0);
  const nlohmann::json source = stats(tmp_ / "src");
  const nlohmann::json after = stats(replica);
  ASSERT_TRUE(after.is_object());
  EXPECT_EQ(after.at("view_checksum"), source.at("view_checksum"));
  // A clean stop: the next replicate resumes with nothing to fold.
  const testutil::ToolRun again = run_tool(
      fmt::format("replicate --brokers {} --topic t --dir {} --until-caught-up",
                  brokers(), replica.string()));
  ASSERT_EQ(again.status, 0) << again.output;
  EXPECT_THAT(again.output, HasSubstr("0 events folded"));
}

TEST(KafkaCliStopTest, ConsumeAndReplicateStopCleanlyWhileConnecting) {
  // Nothing listens on port 1: both wait for the cluster's metadata (10 s)
  // when the stop arrives, and exit 0 as a stop later would.
  testutil::TempDir tmp;
  testutil::ToolProcess consume(
      {"consume", "--brokers", "127.0.0.1:1", "--topic", "t"});
  testutil::ToolProcess replicate({"replicate", "--brokers", "127.0.0.1:1",
                                   "--topic", "t", "--dir",
                                   (tmp / "r").string()});
  ASSERT_TRUE(consume.wait_until_catching(SIGTERM));
  ASSERT_TRUE(replicate.wait_until_catching(SIGINT));
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  consume.signal(SIGTERM);
  replicate.signal(SIGINT);
  EXPECT_EQ(consume.wait(), 0);
  EXPECT_EQ(replicate.wait(), 0);
  EXPECT_FALSE(std::filesystem::exists(tmp / "r"));
}

TEST_F(KafkaCliTest, AMissingTopicExitsNotFound) {
  const testutil::ToolRun run = run_tool(fmt::format(
      "consume --brokers {} --topic nope --until-caught-up", brokers()));
  EXPECT_EQ(run.status, 3);
  EXPECT_THAT(run.output,
              HasSubstr("wfstore: Kafka topic 'nope' does not exist"));
  // A replica of a missing topic: the same error, and no replica directory.
  const testutil::ToolRun replicate =
      run_tool(fmt::format("replicate --brokers {} --topic nope --dir {}",
                           brokers(), (tmp_ / "r").string()));
  EXPECT_EQ(replicate.status, 3);
  EXPECT_THAT(replicate.output,
              HasSubstr("wfstore: Kafka topic 'nope' does not exist"));
  EXPECT_FALSE(std::filesystem::exists(tmp_ / "r"));
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
