// KafkaExporter against the in-process mock cluster: a random workload read
// back with a plain consumer, resuming from the position, a fresh cluster,
// the background run, lag and metrics, one exporter per store and topic, and
// bad input.

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "wfstore/database.h"
#include "wfstore/errors.h"
#include "wfstore/kafka_exporter.h"
#include "wfstore/kafka_mock.h"

#include "tests/kafka/export_read_back.h"
#include "tests/store/store_workload.h"
#include "tests/testutil/child_process.h"
#include "tests/testutil/counting_file_system.h"
#include "tests/testutil/fault_file_system.h"
#include "tests/testutil/forwarding_file_system.h"
#include "tests/testutil/log_test_util.h"
#include "tests/testutil/power_cut_store.h"
#include "tests/testutil/run_tool.h"
#include "tests/testutil/sample_workflows.h"
#include "tests/testutil/store_test_util.h"
#include "tests/testutil/temp_dir.h"
#include "tests/testutil/wait.h"

namespace wfstore {
namespace {

using testutil::check_export;
using testutil::read_topic;

// Copies the store directory `from` to `to`, keeping the LMDB map file
// sparse.
void copy_sparse(const std::filesystem::path& from,
                 const std::filesystem::path& to) {
  ASSERT_EQ(std::system(fmt::format("cp -r --sparse=always '{}' '{}'",
                                    from.string(), to.string())
                            .c_str()),
            0);
}

class KafkaExporterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    db_ = Database::open(dir_.path() / "store");
    cluster_ = std::make_unique<KafkaMockCluster>(3);
  }

  KafkaExporterOptions options(const std::string& topic = "events") const {
    KafkaExporterOptions o;
    o.brokers = cluster_->bootstrap_servers();
    o.topic = topic;
    return o;
  }

  std::uint64_t store_lsn() {
    return read_committed_events(*db_, 0, 0).current_lsn;
  }

  // A small workload exported whole to topic "events"; returns the
  // directory its position file is in.
  std::filesystem::path export_small_workload() {
    testutil::run_workload(db_->workflow_store(), 3, 20, "a");
    KafkaExporter exporter(*db_, options());
    exporter.export_until_caught_up();
    return dir_.path() / "store" / "exports";
  }

  testutil::TempDir dir_;
  std::unique_ptr<Database> db_;
  std::unique_ptr<KafkaMockCluster> cluster_;
};

// The re-send count of the export checks: two adjacent re-sent batches are
// two runs, not one run too long; overlapping re-sends stack.
TEST(ExportCheckTest, FewestResendRunsCountsEachRestartsBatch) {
  using testutil::fewest_resend_runs;
  auto extra = [](std::initializer_list<std::pair<std::uint64_t, std::size_t>>
                      ranges_and_depth) {
    std::map<std::uint64_t, std::size_t> m;
    std::uint64_t lsn = 1;
    for (const auto& [length, depth] : ranges_and_depth) {
      for (std::uint64_t i = 0; i < length; ++i, ++lsn) {
        if (depth > 0) m[lsn] = depth;
      }
    }
    return m;
  };
  EXPECT_EQ(fewest_resend_runs({}, 40), 0u);
  EXPECT_EQ(fewest_resend_runs(extra({{40, 1}}), 40), 1u);
  EXPECT_EQ(fewest_resend_runs(extra({{80, 1}}), 40), 2u);
  EXPECT_EQ(fewest_resend_runs(extra({{41, 1}}), 40), 2u);
  EXPECT_EQ(fewest_resend_runs(extra({{10, 1}, {5, 0}, {10, 1}}), 40), 2u);
  // Two re-sends overlapping in 10 LSNs; a third inside the overlap.
  EXPECT_EQ(fewest_resend_runs(extra({{30, 1}, {10, 2}, {30, 1}}), 40), 2u);
  EXPECT_EQ(fewest_resend_runs(extra({{30, 1}, {5, 2}, {5, 3}, {30, 1}}), 40),
            3u);
  // Depth 1, 2, 1, 1 with runs of at most 3 needs three.
  EXPECT_EQ(fewest_resend_runs(extra({{1, 1}, {1, 2}, {3, 1}}), 3), 3u);
}

TEST_F(KafkaExporterTest, RandomWorkloadIsReadBackExactlyOnce) {
  const std::uint32_t seed = testutil::random_seed();
  SCOPED_TRACE(seed);
  testutil::run_workload(db_->workflow_store(), seed, 400, "a");
  KafkaExporterOptions o = options();
  o.max_batch_events = 97;  // many batches
  std::uint64_t first = 0;
  {
    KafkaExporter exporter(*db_, o);
    first = exporter.export_until_caught_up();
    EXPECT_EQ(first, store_lsn());
    EXPECT_EQ(exporter.lag().exported_lsn, first);
    EXPECT_EQ(exporter.lag().lag_lsns, 0u);
  }
  ASSERT_GT(first, 100u);
  // A second exporter resumes after the position: nothing sent twice.
  testutil::run_workload(db_->workflow_store(), seed + 1, 200, "b");
  {
    KafkaExporter exporter(*db_, o);
    EXPECT_EQ(exporter.export_until_caught_up(), store_lsn());
  }
  const auto records = read_topic(cluster_->bootstrap_servers(), "events");
  const testutil::ExportCheck check =
      check_export(*db_, records, store_lsn(), 0);
  EXPECT_EQ(check.distinct, store_lsn());
  EXPECT_EQ(check.duplicates, 0u);
  EXPECT_EQ(records.size(), store_lsn());
}

// The crash window the position's order leaves, made exact: a batch
// committed to Kafka whose position write never happened (the position file
// put back as it was before that batch). The next exporter sends that batch
// again, whole and with the same content, and nothing is missing.
TEST_F(KafkaExporterTest,
       CrashAfterTheKafkaCommitBeforeThePositionReSendsOneWholeBatch) {
  testutil::run_workload(db_->workflow_store(), 5, 100, "a");
  const KafkaExporterOptions o = options();
  {
    KafkaExporter exporter(*db_, o);
    exporter.export_until_caught_up();
  }
  const std::uint64_t first_end = store_lsn();
  const std::filesystem::path position =
      dir_.path() / "store" / "exports" / "events.pos";
  const std::string before = log::testutil::read_file_bytes(position);
  ASSERT_FALSE(before.empty());
  testutil::run_workload(db_->workflow_store(), 6, 20, "b");
  const std::uint64_t batch = store_lsn() - first_end;
  ASSERT_GT(batch, 0u);
  ASSERT_LE(batch, o.max_batch_events);  // one batch
  {
    KafkaExporter exporter(*db_, o);
    exporter.export_until_caught_up();
  }
  log::testutil::spit(position, before);
  {
    KafkaExporter exporter(*db_, o);
    EXPECT_EQ(exporter.export_until_caught_up(), store_lsn());
  }
  const auto records = read_topic(cluster_->bootstrap_servers(), "events");
  const testutil::ExportCheck check =
      check_export(*db_, records, store_lsn(), batch, 1);
  EXPECT_EQ(check.distinct, store_lsn());
  EXPECT_EQ(check.duplicates, batch);
  EXPECT_EQ(check.resend_runs, 1u);
  EXPECT_EQ(check.longest_duplicate_run, batch);
}

TEST_F(KafkaExporterTest, BatchBytesBoundSplitsBatches) {
  testutil::run_workload(db_->workflow_store(), 7, 100, "a");
  KafkaExporterOptions o = options();
  o.max_batch_bytes = 1;  // one event per batch
  KafkaExporter exporter(*db_, o);
  EXPECT_EQ(exporter.export_until_caught_up(), store_lsn());
  const auto records = read_topic(cluster_->bootstrap_servers(), "events");
  EXPECT_EQ(check_export(*db_, records, store_lsn(), 0).distinct, store_lsn());
}

TEST_F(KafkaExporterTest, AFreshClusterGetsEverythingAgain) {
  testutil::run_workload(db_->workflow_store(), 3, 100, "a");
  {
    KafkaExporter exporter(*db_, options());
    exporter.export_until_caught_up();
  }
  const std::vector<KafkaExportStatus> before = read_export_positions(*db_);
  ASSERT_EQ(before.size(), 1u);
  // Another cluster: its id differs, so the position does not count.
  KafkaMockCluster fresh(1);
  KafkaExporterOptions o = options();
  o.brokers = fresh.bootstrap_servers();
  {
    KafkaExporter exporter(*db_, o);
    exporter.export_until_caught_up();
  }
  const auto records = read_topic(fresh.bootstrap_servers(), "events");
  EXPECT_EQ(check_export(*db_, records, store_lsn(), 0).distinct, store_lsn());
  const std::vector<KafkaExportStatus> after = read_export_positions(*db_);
  ASSERT_EQ(after.size(), 1u);
  EXPECT_NE(after[0].cluster_id, before[0].cluster_id);
  EXPECT_EQ(after[0].lag.exported_lsn, store_lsn());
}

TEST_F(KafkaExporterTest, BackgroundRunFollowsCommits) {
  KafkaExporter exporter(*db_, options());
  exporter.start();
  testutil::run_workload(db_->workflow_store(), 11, 300, "a");
  ASSERT_TRUE(testutil::wait_until([&] {
    return exporter.error() != nullptr ||
           exporter.lag().exported_lsn == store_lsn();
  }));
  exporter.stop();
  ASSERT_EQ(exporter.error(), nullptr) << testutil::what_of(exporter.error());
  const auto records = read_topic(cluster_->bootstrap_servers(), "events");
  const auto check = check_export(*db_, records, store_lsn(), 0);
  EXPECT_EQ(check.distinct, store_lsn());
  EXPECT_EQ(check.duplicates, 0u);
  // Started again after stop(): it goes on from the position.
  exporter.start();
  testutil::run_workload(db_->workflow_store(), 12, 50, "b");
  ASSERT_TRUE(testutil::wait_until(
      [&] { return exporter.lag().exported_lsn == store_lsn(); }));
  exporter.stop();
}

TEST_F(KafkaExporterTest, BackgroundRunDeliversEachCommit) {
  // Commit -> committed Kafka transaction latency, one commit at a time.
  KafkaExporter exporter(*db_, options());
  exporter.start();
  std::vector<double> ms;
  for (int i = 0; i < 50; ++i) {
    const auto start = std::chrono::steady_clock::now();
    db_->workflow_store().store(
        testutil::diamond_workflow(fmt::format("lat-{}", i)));
    const std::uint64_t lsn = store_lsn();
    ASSERT_TRUE(testutil::wait_until([&] {
      return exporter.error() != nullptr || exporter.lag().exported_lsn >= lsn;
    }));
    ms.push_back(std::chrono::duration<double, std::milli>(
                     std::chrono::steady_clock::now() - start)
                     .count());
  }
  exporter.stop();
  ASSERT_EQ(exporter.error(), nullptr) << testutil::what_of(exporter.error());
  std::sort(ms.begin(), ms.end());
  std::cout << fmt::format(
      "commit -> exported latency over 50 commits: p50 {:.1f} ms, p90 {:.1f} "
      "ms, max {:.1f} ms\n",
      ms[25], ms[45], ms.back());
}

TEST_F(KafkaExporterTest, ABackgroundBatchGathersForMaxBatchTime) {
  // A batch waits max_batch_time after its first event, however many
  // commits come meanwhile: they join it.
  KafkaExporterOptions o = options();
  o.max_batch_time = std::chrono::milliseconds(600);
  KafkaExporter exporter(*db_, o);
  exporter.start();
  // A first batch, so that the producer is up.
  db_->workflow_store().store(testutil::diamond_workflow("gather-first"));
  const std::uint64_t before = store_lsn();
  ASSERT_TRUE(testutil::wait_until([&] {
    return exporter.error() != nullptr || exporter.lag().exported_lsn == before;
  }));
  const auto first = std::chrono::steady_clock::now();
  for (int i = 0; i < 5; ++i) {
    db_->workflow_store().store(
        testutil::diamond_workflow(fmt::format("gather-{}", i)));
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  const std::uint64_t end = store_lsn();
  std::this_thread::sleep_for(std::chrono::milliseconds(200) -
                              (std::chrono::steady_clock::now() - first));
  // Well within max_batch_time of the first commit: nothing sent yet.
  EXPECT_EQ(exporter.lag().exported_lsn, before);
  ASSERT_TRUE(testutil::wait_until([&] {
    return exporter.error() != nullptr || exporter.lag().exported_lsn == end;
  }));
  exporter.stop();
  ASSERT_EQ(exporter.error(), nullptr) << testutil::what_of(exporter.error());
}

TEST_F(KafkaExporterTest, ReadOnlyOpenBesideTheWriterPolls) {
  testutil::run_workload(db_->workflow_store(), 5, 50, "a");
  auto reader = Database::open_read_only(dir_.path() / "store");
  KafkaExporter exporter(*reader, options());
  std::atomic<bool> stop{false};
  std::thread runner([&] { exporter.run([&] { return stop.load(); }); });
  testutil::run_workload(db_->workflow_store(), 6, 100, "b");
  const bool caught_up = testutil::wait_until(
      [&] { return exporter.lag().exported_lsn == store_lsn(); });
  stop = true;
  runner.join();
  ASSERT_TRUE(caught_up);
  const auto records = read_topic(cluster_->bootstrap_servers(), "events");
  EXPECT_EQ(check_export(*db_, records, store_lsn(), 0).distinct, store_lsn());
}

// An export from a read-only open beside a buffered writer: the reader
// fdatasyncs the log itself before it sends a batch (once for a catch-up of
// many batches), so after a power cut the export position is never beyond
// the log the store reopens with.
TEST(KafkaExporterPowerCutTest, AReadersExportNeverPassesTheLog) {
  const KafkaMockCluster cluster(1);
  const std::uint32_t seed = testutil::random_seed();
  // A power cut keeps all 30 events in about one round of four without any
  // sync: ten rounds.
  for (std::uint32_t round = 0; round < 10; ++round) {
    SCOPED_TRACE(fmt::format("seed {}, round {}", seed, round));
    const testutil::TempDir dir;
    auto fs = std::make_shared<testutil::FaultFileSystem>();
    const DatabaseOptions o = testutil::power_cut_options(fs);
    auto db = Database::open(dir.path(), o);
    testutil::store_bare_workflows(*db, 0, 30);
    auto counter = std::make_shared<testutil::SyncFileCounter>(fs);
    DatabaseOptions ro = o;
    ro.file_system = counter;
    auto reader = Database::open_read_only(dir.path(), ro);
    KafkaExporterOptions ko;
    ko.brokers = cluster.bootstrap_servers();
    ko.topic = fmt::format("events-{}", round);
    ko.max_batch_events = 4;
    {
      KafkaExporter exporter(*reader, ko);
      exporter.export_until_caught_up();
      EXPECT_EQ(exporter.lag().exported_lsn, 30u);
    }
    EXPECT_EQ(counter->syncs(), 1);
    fs->power_cut(seed + round);
    reader.reset();
    db.reset();
    db = Database::open(dir.path(), o);
    const std::uint64_t exported = KafkaExporter(*db, ko).lag().exported_lsn;
    const std::uint64_t end = read_committed_events(*db, 0, 0).current_lsn;
    EXPECT_LE(exported, end);  // never beyond the log
    EXPECT_EQ(exported, 30u);
    EXPECT_EQ(end, 30u);  // everything exported was made durable
  }
}

// Cuts the power of `fault` at the first sync_file (a reader's sync of the
// log), before it happens, and fails it.
class PowerCutAtFirstSyncFile final : public testutil::ForwardingFileSystem {
 public:
  PowerCutAtFirstSyncFile(std::shared_ptr<testutil::FaultFileSystem> fault,
                          std::uint32_t seed)
      : ForwardingFileSystem(fault), fault_(std::move(fault)), seed_(seed) {}
  void sync_file(const std::filesystem::path& path) override {
    if (!cut_.exchange(true)) {
      fault_->power_cut(seed_);
      throw IOError(fmt::format("fdatasync {}: power cut", path.string()));
    }
    real().sync_file(path);
  }

 private:
  std::shared_ptr<testutil::FaultFileSystem> fault_;
  std::uint32_t seed_;
  std::atomic<bool> cut_{false};
};

// The reader syncs the log before it sends: a power cut at that sync leaves
// Kafka nothing the store does not have after the reboot (a mutant that
// synced after the send failed: the batch was in the topic and not in the
// log). Each round reads the topic back (about a second).
TEST(KafkaExporterPowerCutTest, AReaderSyncsBeforeItSends) {
  const KafkaMockCluster cluster(1);
  const std::uint32_t seed = testutil::random_seed();
  for (std::uint32_t round = 0; round < 5; ++round) {
    SCOPED_TRACE(fmt::format("seed {}, round {}", seed, round));
    const testutil::TempDir dir;
    auto fs = std::make_shared<testutil::FaultFileSystem>();
    const DatabaseOptions o = testutil::power_cut_options(fs);
    auto db = Database::open(dir.path(), o);
    testutil::store_bare_workflows(*db, 0, 10);
    DatabaseOptions ro = o;
    ro.file_system =
        std::make_shared<PowerCutAtFirstSyncFile>(fs, seed + round);
    auto reader = Database::open_read_only(dir.path(), ro);
    KafkaExporterOptions ko;
    ko.brokers = cluster.bootstrap_servers();
    ko.topic = fmt::format("cut-{}", round);
    ko.max_batch_events = 4;
    EXPECT_ANY_THROW(KafkaExporter(*reader, ko).export_until_caught_up());
    reader.reset();
    db.reset();
    db = Database::open(dir.path(), o);
    const std::uint64_t end = read_committed_events(*db, 0, 0).current_lsn;
    for (const testutil::ReadRecord& r :
         testutil::read_topic(cluster.bootstrap_servers(), ko.topic)) {
      EXPECT_LE(r.lsn, end) << "Kafka holds an event the log lost";
    }
  }
}

TEST_F(KafkaExporterTest, LagAndMetricLines) {
  db_.reset();
  auto clock = std::make_shared<testutil::FakeClock>(1'000'000);
  DatabaseOptions dbo;
  dbo.clock = clock;
  db_ = Database::open(dir_.path() / "store", dbo);
  testutil::run_workload(db_->workflow_store(), 9, 40, "a");
  const std::uint64_t first = store_lsn();
  KafkaExporter exporter(*db_, options("lagging"));
  exporter.export_until_caught_up();
  EXPECT_EQ(exporter.lag().lag_seconds, 0);
  clock->set(2'000'000);
  testutil::run_workload(db_->workflow_store(), 10, 40, "b");
  clock->set(2'004'500);
  const KafkaExportLag lag = exporter.lag();
  EXPECT_EQ(lag.exported_lsn, first);
  EXPECT_EQ(lag.store_lsn, store_lsn());
  EXPECT_EQ(lag.lag_lsns, store_lsn() - first);
  EXPECT_DOUBLE_EQ(lag.lag_seconds, 4.5);
  const std::string lines = exporter.metric_lines();
  EXPECT_NE(lines.find(fmt::format(
                "wfstore_kafka_export_lag_lsns{{topic=\"lagging\"}} {}\n",
                store_lsn() - first)),
            std::string::npos)
      << lines;
  EXPECT_NE(
      lines.find("wfstore_kafka_export_lag_seconds{topic=\"lagging\"} 4.500\n"),
      std::string::npos)
      << lines;
  const std::vector<KafkaExportStatus> positions = read_export_positions(*db_);
  ASSERT_EQ(positions.size(), 1u);
  EXPECT_EQ(positions[0].topic, "lagging");
  EXPECT_EQ(positions[0].lag.lag_lsns, store_lsn() - first);
  EXPECT_EQ(export_metric_lines(positions), lines);
}

TEST_F(KafkaExporterTest, FencingSecondExporterOfATopicIsRefused) {
  KafkaExporter first(*db_, options());
  EXPECT_THROW(KafkaExporter(*db_, options()), StoreLockedError);
  // Another topic is another export.
  KafkaExporter other(*db_, options("other"));
  // Another process is refused too (the lock is a flock on a file).
  const std::filesystem::path store = dir_.path() / "store";
  const std::string brokers = cluster_->bootstrap_servers();
  db_.reset();
  const int code = testutil::exit_code_in_child([&] {
    auto reader = Database::open_read_only(store);
    KafkaExporterOptions o;
    o.brokers = brokers;
    o.topic = "events";
    try {
      KafkaExporter second(*reader, o);
    } catch (const StoreLockedError&) {
      return 7;
    }
    return 0;
  });
  EXPECT_EQ(code, 7);
}

TEST_F(KafkaExporterTest, BadOptionsAreRefusedAndNothingIsWritten) {
  const auto refused = [&](KafkaExporterOptions o) {
    EXPECT_THROW(KafkaExporter(*db_, o), InvalidArgumentError);
  };
  for (const std::string& topic : std::vector<std::string>{
           "", ".", "..", "a b", "t/x", "\xc3\xa9", std::string(250, 'a')}) {
    refused(options(topic));
  }
  KafkaExporterOptions o = options();
  o.brokers = "";
  refused(o);
  o = options();
  o.max_batch_events = 0;
  refused(o);
  o = options();
  o.max_batch_bytes = 0;
  refused(o);
  o = options();
  o.operation_timeout = std::chrono::milliseconds(0);
  refused(o);
  o = options();
  o.properties = {{"no.such.property", "1"}};
  refused(o);
  o = options();
  o.properties = {{"compression.type", "bogus"}};
  refused(o);
  o = options();
  o.properties = {{"enable.idempotence", "false"}};
  refused(o);
  o = options();
  o.properties = {{"transactional.id", "x"}};
  refused(o);
  EXPECT_FALSE(std::filesystem::exists(dir_.path() / "store" / "exports"));
}

// An empty store has nothing to prove exported: no broker is needed.
TEST_F(KafkaExporterTest, AnEmptyStoreIsCaughtUpWithoutBrokers) {
  KafkaExporterOptions o = options();
  o.brokers = "127.0.0.1:1";
  o.operation_timeout = std::chrono::milliseconds(300);
  o.give_up_after = std::chrono::milliseconds(1000);
  KafkaExporter exporter(*db_, o);
  EXPECT_EQ(exporter.export_until_caught_up(), 0u);
  EXPECT_TRUE(read_export_positions(*db_).empty());
}

TEST_F(KafkaExporterTest, UnreachableBrokersGiveUpWithAClearError) {
  testutil::run_workload(db_->workflow_store(), 2, 20, "a");
  KafkaExporterOptions o = options();
  o.brokers = "127.0.0.1:1";
  o.operation_timeout = std::chrono::milliseconds(300);
  o.give_up_after = std::chrono::milliseconds(1000);
  KafkaExporter exporter(*db_, o);
  try {
    exporter.export_until_caught_up();
    FAIL() << "exported to no broker";
  } catch (const KafkaExportError& e) {
    EXPECT_NE(std::string(e.what()).find("giving up"), std::string::npos)
        << e.what();
    EXPECT_NE(std::string(e.what()).find("127.0.0.1:1"), std::string::npos)
        << e.what();
  }
  EXPECT_FALSE(std::filesystem::exists(dir_.path() / "store" / "exports" /
                                       "events.pos"));
  EXPECT_TRUE(read_export_positions(*db_).empty());
}

TEST_F(KafkaExporterTest, APositionOfAnotherStateOfTheStoreIsRefused) {
  // The store restored from a copy taken at LSN `old` while its export
  // position (at `exported` > old) was kept, then written on past
  // `exported`: LSNs old+1..exported now hold other events than the topic
  // has. Resuming after the position would never send them.
  testutil::run_workload(db_->workflow_store(), 21, 40, "a");
  const std::uint64_t old = store_lsn();
  const std::filesystem::path store = dir_.path() / "store";
  const std::filesystem::path copy = dir_.path() / "copy";
  db_.reset();
  copy_sparse(store, copy);
  db_ = Database::open(store);
  testutil::run_workload(db_->workflow_store(), 22, 40, "b");
  const std::uint64_t exported = store_lsn();
  ASSERT_GT(exported, old);
  {
    KafkaExporter exporter(*db_, options());
    EXPECT_EQ(exporter.export_until_caught_up(), exported);
  }
  db_.reset();
  std::filesystem::copy(store / "exports", copy / "exports",
                        std::filesystem::copy_options::recursive);
  std::filesystem::remove_all(store);
  std::filesystem::rename(copy, store);
  db_ = Database::open(store);
  testutil::run_workload(db_->workflow_store(), 23, 80, "c");
  ASSERT_GT(store_lsn(), exported);
  KafkaExporter exporter(*db_, options());
  try {
    exporter.export_until_caught_up();
    FAIL() << "resumed after lsn " << exported
           << " of another state of the store";
  } catch (const InvalidArgumentError& e) {
    EXPECT_NE(std::string(e.what()).find("another state of the store"),
              std::string::npos)
        << e.what();
  }
  EXPECT_EQ(exporter.lag().exported_lsn, exported);
}

TEST_F(KafkaExporterTest, APositionBeyondTheStoreIsRefused) {
  // The same, with the store not (yet) written past the position.
  testutil::run_workload(db_->workflow_store(), 24, 20, "a");
  const std::filesystem::path store = dir_.path() / "store";
  const std::filesystem::path copy = dir_.path() / "copy";
  db_.reset();
  copy_sparse(store, copy);
  db_ = Database::open(store);
  testutil::run_workload(db_->workflow_store(), 25, 20, "b");
  {
    KafkaExporter exporter(*db_, options());
    exporter.export_until_caught_up();
  }
  db_.reset();
  std::filesystem::copy(store / "exports", copy / "exports",
                        std::filesystem::copy_options::recursive);
  std::filesystem::remove_all(store);
  std::filesystem::rename(copy, store);
  db_ = Database::open(store);
  KafkaExporter exporter(*db_, options());
  EXPECT_THROW(exporter.export_until_caught_up(), InvalidArgumentError);
}

TEST_F(KafkaExporterTest, ADamagedPositionFileIsRefused) {
  testutil::run_workload(db_->workflow_store(), 2, 20, "a");
  {
    KafkaExporter exporter(*db_, options());
    exporter.export_until_caught_up();
  }
  const auto pos = dir_.path() / "store" / "exports" / "events.pos";
  std::string bytes = log::testutil::read_file_bytes(pos);
  bytes[bytes.find("\"lsn\":") + 6] ^= 1;
  log::testutil::spit(pos, bytes);
  EXPECT_THROW(KafkaExporter(*db_, options()), CorruptionError);
  const std::vector<KafkaExportStatus> exports = read_export_positions(*db_);
  ASSERT_EQ(exports.size(), 1u);
  EXPECT_NE(exports[0].damage.find("events.pos"), std::string::npos)
      << exports[0].damage;
}

TEST(ExportMetricLinesTest, TheTopicLabelIsEscaped) {
  KafkaExportStatus damaged;
  damaged.topic = "a\"b\\c\nd";
  damaged.damage = "unreadable";
  EXPECT_EQ(export_metric_lines({damaged}),
            "wfstore_kafka_export_damaged{topic=\"a\\\"b\\\\c\\nd\"} 1\n");
}

// A position that cannot be read at all (a directory under its name) is
// listed as damaged beside the others, not an error for the whole listing.
TEST_F(KafkaExporterTest, AnUnreadablePositionIsListedAsDamaged) {
  std::filesystem::create_directory(export_small_workload() / "unreadable.pos");
  const std::vector<KafkaExportStatus> read = read_export_positions(*db_);
  ASSERT_EQ(read.size(), 2u);
  EXPECT_EQ(read[0].topic, "events");
  EXPECT_TRUE(read[0].damage.empty()) << read[0].damage;
  EXPECT_EQ(read[1].topic, "unreadable");
  EXPECT_FALSE(read[1].damage.empty());
}

// A file in exports/ whose name is no topic (here not UTF-8, with a quote
// and a line feed) is listed as damaged under its escaped name; the listing,
// `stats --json` and the metric lines hold.
TEST_F(KafkaExporterTest, APositionFileNamedNoTopicIsListedEscaped) {
  const std::filesystem::path exports_dir = export_small_workload();
  std::filesystem::copy_file(exports_dir / "events.pos",
                             exports_dir / "\xff\"q\n.pos");
  const std::vector<KafkaExportStatus> read = read_export_positions(*db_);
  ASSERT_EQ(read.size(), 2u);
  const auto bad = std::find_if(read.begin(), read.end(), [](const auto& e) {
    return !e.damage.empty();
  });
  ASSERT_NE(bad, read.end());
  EXPECT_EQ(bad->topic, "\\xff\"q\\x0a");
  EXPECT_NE(bad->damage.find("not a Kafka topic"), std::string::npos)
      << bad->damage;
  EXPECT_NE(
      export_metric_lines(read).find(
          "wfstore_kafka_export_damaged{topic=\"\\\\xff\\\"q\\\\x0a\"} 1"),
      std::string::npos)
      << export_metric_lines(read);
  db_->close();
  db_.reset();
  const std::string dir = (dir_.path() / "store").string();
  const testutil::ToolRun json =
      testutil::run_tool("stats --dir " + dir + " --json");
  EXPECT_EQ(json.status, 4) << json.output;
  const nlohmann::json doc = nlohmann::json::parse(json.output, nullptr, false);
  ASSERT_FALSE(doc.is_discarded()) << json.output;
  EXPECT_NE(json.output.find("not a Kafka topic"), std::string::npos)
      << json.output;
}

// stats shows every export position; one that cannot be used is flagged
// (text, JSON and metric lines) and makes the exit status 4.
TEST_F(KafkaExporterTest, StatsShowsTheOtherPositionsBesideADamagedOne) {
  const std::filesystem::path exports_dir = export_small_workload();
  // A copy under another topic's name names the wrong topic.
  std::filesystem::copy_file(exports_dir / "events.pos",
                             exports_dir / "other.pos");
  const std::vector<KafkaExportStatus> read = read_export_positions(*db_);
  ASSERT_EQ(read.size(), 2u);
  EXPECT_EQ(read[0].topic, "events");
  EXPECT_TRUE(read[0].damage.empty()) << read[0].damage;
  EXPECT_EQ(read[0].lag.exported_lsn, store_lsn());
  EXPECT_EQ(read[1].topic, "other");
  EXPECT_NE(read[1].damage.find("names topic 'events'"), std::string::npos)
      << read[1].damage;
  db_->close();
  db_.reset();

  const std::string dir = (dir_.path() / "store").string();
  const testutil::ToolRun text = testutil::run_tool("stats --dir " + dir);
  EXPECT_EQ(text.status, 4) << text.output;
  EXPECT_NE(text.output.find("exported lsn"), std::string::npos) << text.output;
  EXPECT_NE(text.output.find("other"), std::string::npos) << text.output;
  EXPECT_NE(text.output.find("damaged: "), std::string::npos) << text.output;
  EXPECT_NE(text.output.find("wfstore_kafka_export_damaged{topic=\"other\"} 1"),
            std::string::npos)
      << text.output;
  const testutil::ToolRun json =
      testutil::run_tool("stats --json --dir " + dir, false);
  EXPECT_EQ(json.status, 4) << json.output;
  const nlohmann::json doc = nlohmann::json::parse(json.output);
  ASSERT_EQ(doc.at("exports").size(), 2u) << json.output;
  EXPECT_EQ(doc["exports"][0].at("topic"), "events");
  EXPECT_TRUE(doc["exports"][0].contains("exported_lsn"));
  EXPECT_EQ(doc["exports"][1].at("topic"), "other");
  EXPECT_TRUE(doc["exports"][1].contains("damage"));
}

}  // namespace
}  // namespace wfstore
