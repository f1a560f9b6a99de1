// KafkaExporter under the mock cluster's fault injection (rdkafka_mock.h):
// a fenced producer stops the export cleanly and a restart resumes without
// loss; brokers down, request errors and leader moves delay the export but
// lose nothing; with every broker down the store commits on and the lag grows
// by exactly its new LSNs.

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>

#include <gtest/gtest.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include "wfstore/database.h"
#include "wfstore/errors.h"
#include "wfstore/kafka_exporter.h"
#include "wfstore/kafka_mock.h"

#include "tests/kafka/export_read_back.h"
#include "tests/store/store_workload.h"
#include "tests/testutil/sample_workflows.h"
#include "tests/testutil/temp_dir.h"
#include "tests/testutil/wait.h"

namespace wfstore {
namespace {

using testutil::check_export;
using testutil::read_topic;

// Kafka protocol ApiKeys.
constexpr std::int16_t kProduce = 0;
constexpr std::int16_t kAddPartitionsToTxn = 24;
constexpr std::int16_t kEndTxn = 26;

constexpr std::size_t kBatch = 50;

class KafkaExporterFaultsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    DatabaseOptions o;
    o.durability = Durability::kBuffered;
    db_ = Database::open(dir_.path() / "store", o);
    cluster_ = std::make_unique<KafkaMockCluster>(3);
    cluster_->create_topic("events", 4);
  }

  KafkaExporterOptions options() const {
    KafkaExporterOptions o;
    o.brokers = cluster_->bootstrap_servers();
    o.topic = "events";
    o.max_batch_events = kBatch;
    o.operation_timeout = std::chrono::milliseconds(1000);
    o.retry_backoff = std::chrono::milliseconds(20);
    return o;
  }

  std::uint64_t store_lsn() {
    return read_committed_events(*db_, 0, 0).current_lsn;
  }

  // Reads the topic back and checks every LSN of the store is there, the
  // duplicates at most `resends` re-sent batches.
  void expect_whole_export(std::uint64_t resends = 1) {
    const auto records = read_topic(cluster_->bootstrap_servers(), "events");
    const auto check =
        check_export(*db_, records, store_lsn(), kBatch, resends);
    EXPECT_EQ(check.distinct, store_lsn());
  }

  testutil::TempDir dir_;
  std::unique_ptr<Database> db_;
  std::unique_ptr<KafkaMockCluster> cluster_;
};

class KafkaExporterFencingTest
    : public KafkaExporterFaultsTest,
      public ::testing::WithParamInterface<std::int16_t> {};

TEST_P(KafkaExporterFencingTest, FencingStopsTheExportAndARestartResumes) {
  testutil::run_workload(db_->workflow_store(), 21, 100, "a");
  const std::uint64_t first = store_lsn();
  {
    KafkaExporter exporter(*db_, options());
    exporter.export_until_caught_up();
  }
  testutil::run_workload(db_->workflow_store(), 22, 100, "b");
  ASSERT_GT(store_lsn(), first);
  rd_kafka_mock_push_request_errors(cluster_->handle(), GetParam(), 5,
                                    RD_KAFKA_RESP_ERR_INVALID_PRODUCER_EPOCH,
                                    RD_KAFKA_RESP_ERR_INVALID_PRODUCER_EPOCH,
                                    RD_KAFKA_RESP_ERR_INVALID_PRODUCER_EPOCH,
                                    RD_KAFKA_RESP_ERR_INVALID_PRODUCER_EPOCH,
                                    RD_KAFKA_RESP_ERR_INVALID_PRODUCER_EPOCH);
  {
    KafkaExporter exporter(*db_, options());
    try {
      exporter.export_until_caught_up();
      FAIL() << "a fenced producer exported on";
    } catch (const KafkaExportFencedError& e) {
      EXPECT_NE(std::string(e.what()).find("fenced"), std::string::npos)
          << e.what();
    }
    // The position is the last committed batch's end.
    EXPECT_EQ(exporter.lag().exported_lsn,
              read_export_positions(*db_).at(0).lag.exported_lsn);
    EXPECT_LT(exporter.lag().exported_lsn, store_lsn());
  }
  rd_kafka_mock_clear_request_errors(cluster_->handle(), GetParam());
  {
    KafkaExporter exporter(*db_, options());
    EXPECT_EQ(exporter.export_until_caught_up(), store_lsn());
  }
  expect_whole_export(/*resends=*/2);  // one per exporter after the first
}

INSTANTIATE_TEST_SUITE_P(Requests, KafkaExporterFencingTest,
                         ::testing::Values(kProduce, kAddPartitionsToTxn,
                                           kEndTxn));

TEST_F(KafkaExporterFaultsTest, RetriableRequestErrorsLoseNothing) {
  testutil::run_workload(db_->workflow_store(), 31, 200, "a");
  rd_kafka_mock_push_request_errors(cluster_->handle(), kProduce, 4,
                                    RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION,
                                    RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT,
                                    RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS,
                                    RD_KAFKA_RESP_ERR_LEADER_NOT_AVAILABLE);
  rd_kafka_mock_push_request_errors(cluster_->handle(), kEndTxn, 2,
                                    RD_KAFKA_RESP_ERR_COORDINATOR_NOT_AVAILABLE,
                                    RD_KAFKA_RESP_ERR_NOT_COORDINATOR);
  KafkaExporter exporter(*db_, options());
  EXPECT_EQ(exporter.export_until_caught_up(), store_lsn());
  expect_whole_export();
}

TEST_F(KafkaExporterFaultsTest, BrokerDownAndLeaderMovesLoseNothing) {
  KafkaExporter exporter(*db_, options());
  exporter.start();
  testutil::run_workload(db_->workflow_store(), 41, 100, "a");
  ASSERT_TRUE(testutil::wait_until(
      [&] { return exporter.lag().exported_lsn == store_lsn(); }));
  // Every partition led by broker 2, which goes down: the export stalls
  // (the fault is in its way), and the store commits on.
  for (std::int32_t p = 0; p < 4; ++p) {
    rd_kafka_mock_partition_set_leader(cluster_->handle(), "events", p, 2);
  }
  rd_kafka_mock_broker_set_down(cluster_->handle(), 2);
  testutil::run_workload(db_->workflow_store(), 42, 100, "b");
  std::this_thread::sleep_for(std::chrono::seconds(1));
  EXPECT_LT(exporter.lag().exported_lsn, store_lsn());
  EXPECT_EQ(exporter.error(), nullptr) << testutil::what_of(exporter.error());
  for (std::int32_t p = 0; p < 4; ++p) {
    rd_kafka_mock_partition_set_leader(cluster_->handle(), "events", p,
                                       1 + (p + 1) % 3);
  }
  testutil::run_workload(db_->workflow_store(), 43, 100, "c");
  rd_kafka_mock_broker_set_up(cluster_->handle(), 2);
  for (std::int32_t p = 0; p < 4; ++p) {
    rd_kafka_mock_partition_set_leader(cluster_->handle(), "events", p, 1);
  }
  testutil::run_workload(db_->workflow_store(), 44, 100, "d");
  ASSERT_TRUE(testutil::wait_until([&] {
    return exporter.error() != nullptr ||
           exporter.lag().exported_lsn == store_lsn();
  }));
  exporter.stop();
  ASSERT_EQ(exporter.error(), nullptr) << testutil::what_of(exporter.error());
  expect_whole_export();
}

TEST_F(KafkaExporterFaultsTest, WithEveryBrokerDownTheStoreCommitsOn) {
  testutil::run_workload(db_->workflow_store(), 51, 50, "a");
  KafkaExporter exporter(*db_, options());
  exporter.start();
  ASSERT_TRUE(testutil::wait_until(
      [&] { return exporter.lag().exported_lsn == store_lsn(); }));
  for (std::int32_t b = 1; b <= 3; ++b) {
    rd_kafka_mock_broker_set_down(cluster_->handle(), b);
  }
  const KafkaExportLag before = exporter.lag();
  EXPECT_EQ(before.lag_lsns, 0u);
  // Forty batches' worth: the exporter falls behind by far more than it holds.
  constexpr int kCommits = 2000;
  for (int i = 0; i < kCommits; ++i) {
    db_->workflow_store().store(
        testutil::diamond_workflow(fmt::format("down-{}", i)));
  }
  const KafkaExportLag during = exporter.lag();
  EXPECT_EQ(during.exported_lsn, before.exported_lsn);
  EXPECT_EQ(during.lag_lsns, during.store_lsn - before.store_lsn);
  EXPECT_EQ(during.lag_lsns, static_cast<std::uint64_t>(kCommits));
  EXPECT_EQ(exporter.error(), nullptr) << testutil::what_of(exporter.error());
  for (std::int32_t b = 1; b <= 3; ++b) {
    rd_kafka_mock_broker_set_up(cluster_->handle(), b);
  }
  ASSERT_TRUE(testutil::wait_until([&] {
    return exporter.error() != nullptr ||
           exporter.lag().exported_lsn == store_lsn();
  }));
  exporter.stop();
  ASSERT_EQ(exporter.error(), nullptr) << testutil::what_of(exporter.error());
  expect_whole_export();
}

}  // namespace
}  // namespace wfstore
