// KafkaReplica against the mock cluster: a replica of a randomized workload
// equals its source (checksum at the same applied LSN, every read), resumes
// where it stopped, applies nothing past a gap, and refuses another store's
// topic, a store with a log and a foreign directory without changing them.

#include "wfstore/kafka_replica.h"

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "wfstore/database.h"
#include "wfstore/history.h"
#include "wfstore/kafka_mock.h"
#include "wfstore/maintenance.h"
#include "wfstore/transaction.h"
#include "wfstore/workflow_store.h"

#include "tests/kafka/kafka_test_producer.h"
#include "tests/kafka/replica_compare.h"
#include "tests/store/store_workload.h"
#include "tests/testutil/file_bytes.h"
#include "tests/testutil/sample_workflows.h"
#include "tests/testutil/store_test_util.h"
#include "tests/testutil/temp_dir.h"

namespace wfstore {
namespace {

using ::testing::HasSubstr;
using testutil::record_lsn;

// Every file under `dir` with its size, modification time and (small files)
// bytes; lock.mdb excluded (readers touch it), data.mdb is a sparse file of
// the map's size whose time a writer's map prefaulter changes (not its bytes)
// whenever it runs after an open or a commit: its size only.
std::map<std::string, std::string> snapshot(const std::filesystem::path& dir) {
  std::map<std::string, std::string> out;
  for (const auto& entry : std::filesystem::recursive_directory_iterator(dir)) {
    if (!entry.is_regular_file() || entry.path().filename() == "lock.mdb") {
      continue;
    }
    std::string state =
        fmt::format("{} {}", entry.file_size(),
                    entry.path().filename() == "data.mdb"
                        ? 0
                        : entry.last_write_time().time_since_epoch().count());
    if (entry.file_size() < (1u << 20)) {
      state += testutil::read_file_bytes(entry.path());
    }
    out[entry.path().string()] = std::move(state);
  }
  return out;
}

// A decimal header of a record.
std::uint64_t header_u64(const KafkaRecord& record, std::string_view name) {
  for (const auto& [key, value] : record.headers) {
    if (key == name) return std::stoull(value);
  }
  ADD_FAILURE() << "no header " << name;
  return 0;
}

// The end of the last commit of `records` that ends at or before `lsn`: how
// far a replica fed the records through `lsn` may apply.
std::uint64_t whole_commits_through(const std::vector<KafkaRecord>& records,
                                    std::uint64_t lsn) {
  std::uint64_t end = 0;
  for (const KafkaRecord& r : records) {
    const std::uint64_t at = record_lsn(r);
    if (at <= lsn && at == header_u64(r, kHeaderCommitLastLsn)) end = at;
  }
  return end;
}

class KafkaReplicaTest : public ::testing::Test {
 protected:
  void SetUp() override { cluster_.create_topic("t", 4); }

  // Runs a workload on the store in `dir` and returns its records.
  std::vector<KafkaRecord> workload(const std::filesystem::path& dir,
                                    std::uint32_t seed, int ops,
                                    const std::string& prefix = "wf") {
    auto db = Database::open(dir, testutil::quiet_options());
    testutil::run_workload(db->workflow_store(), seed, ops, prefix);
    db->close();
    return testutil::records_of_store(dir);
  }

  void send(const std::vector<KafkaRecord>& records,
            const std::string& topic = "t") {
    testutil::TestProducer producer(cluster_.bootstrap_servers());
    for (const KafkaRecord& r : records) producer.send(topic, r);
    producer.flush();
  }

  // Runs `replicate` on a replica in tmp_/r of topic t, whose records skip
  // LSN `missing`: it must stop with that gap, nothing past it applied (in
  // its progress and in its views).
  void expect_gap_stops_replica(
      const std::vector<KafkaRecord>& records, std::uint64_t missing,
      const std::function<void(KafkaReplica&)>& replicate) {
    KafkaReplica replica(options(tmp_ / "r"));
    try {
      replicate(replica);
      FAIL() << "no gap";
    } catch (const KafkaGapError& e) {
      EXPECT_EQ(e.first_missing(), missing);
      EXPECT_EQ(e.last_missing(), missing);
    }
    const std::uint64_t applied = whole_commits_through(records, missing - 1);
    EXPECT_EQ(replica.progress().applied_lsn, applied);
    auto db = Database::open_read_only(tmp_ / "r", testutil::quiet_options());
    EXPECT_EQ(summarize_store(*db).applied_lsn, applied);
  }

  KafkaReplicaOptions options(const std::filesystem::path& dir) {
    KafkaReplicaOptions o;
    o.brokers = cluster_.bootstrap_servers();
    o.topic = "t";
    o.dir = dir;
    o.stall_timeout = std::chrono::milliseconds(1000);
    return o;
  }

  testutil::TempDir tmp_;
  KafkaMockCluster cluster_{1};
};

TEST_F(KafkaReplicaTest, ReplicaOfAWorkloadEqualsTheSource) {
  const std::vector<KafkaRecord> records = workload(tmp_ / "src", 11, 600);
  send(records);
  KafkaReplica replica(options(tmp_ / "r"));
  const ReplicaProgress progress = replica.replicate_until_caught_up();
  EXPECT_EQ(progress.applied_lsn, records.size());
  EXPECT_EQ(progress.events, records.size());
  EXPECT_TRUE(std::filesystem::exists(tmp_ / "r" / "REPLICA"));
  EXPECT_FALSE(std::filesystem::exists(tmp_ / "r" / "log"));
  testutil::expect_replica_equals_source(tmp_ / "src", tmp_ / "r", "wf");
}

TEST_F(KafkaReplicaTest, ReplicaResumesAfterItsAppliedLsn) {
  const std::vector<KafkaRecord> records = workload(tmp_ / "src", 12, 400);
  const auto half = static_cast<std::ptrdiff_t>(records.size() / 2);
  send({records.begin(), records.begin() + half});
  {
    KafkaReplica replica(options(tmp_ / "r"));
    EXPECT_EQ(replica.replicate_until_caught_up().applied_lsn,
              whole_commits_through(records, static_cast<std::uint64_t>(half)));
  }
  const std::uint64_t applied =
      whole_commits_through(records, static_cast<std::uint64_t>(half));
  send({records.begin() + half, records.end()});
  KafkaReplica replica(options(tmp_ / "r"));
  const ReplicaProgress progress = replica.replicate_until_caught_up();
  EXPECT_EQ(progress.applied_lsn, records.size());
  EXPECT_EQ(progress.events, records.size() - applied);
  testutil::expect_replica_equals_source(tmp_ / "src", tmp_ / "r", "wf");
}

TEST_F(KafkaReplicaTest, ReplicaFedAGapAppliesNothingPastIt) {
  const std::vector<KafkaRecord> records = workload(tmp_ / "src", 13, 300);
  std::vector<KafkaRecord> holed;
  for (const KafkaRecord& r : records) {
    if (record_lsn(r) != 150) holed.push_back(r);
  }
  testutil::TestProducer producer(cluster_.bootstrap_servers());
  producer.send_round_robin("t", holed, 4);
  producer.flush();
  expect_gap_stops_replica(records, 150, [](KafkaReplica& replica) {
    replica.replicate_until_caught_up();
  });
}

// Following (run, as `wfstore replicate` without --until-caught-up): a gap
// no partition is past (everything on partition 0) stops the replica after
// the stall, with nothing past it applied.
TEST_F(KafkaReplicaTest, ReplicaFollowingAGapStopsAndAppliesNothingPastIt) {
  const std::vector<KafkaRecord> records = workload(tmp_ / "src", 13, 300);
  testutil::TestProducer producer(cluster_.bootstrap_servers());
  for (const KafkaRecord& r : records) {
    if (record_lsn(r) != 150) producer.send("t", r, 0);
  }
  producer.flush();
  expect_gap_stops_replica(records, 150, [](KafkaReplica& replica) {
    const auto deadline =
        std::chrono::steady_clock::now() + std::chrono::seconds(30);
    replica.run([&] { return std::chrono::steady_clock::now() > deadline; });
  });
}

// A commit whose last record is not in the topic yet (on a partition not
// read yet, or left unfinished by an exporter's crash) is not applied in
// part: the replica stops before it and applies it whole once it is there.
TEST_F(KafkaReplicaTest, ReplicaNeverShowsACommitInPart) {
  workload(tmp_ / "src", 15, 300);
  {
    // A last commit of several events: a stored workflow whose stages one
    // transaction then updates.
    auto db = Database::open(tmp_ / "src", testutil::quiet_options());
    WorkflowStore& store = db->workflow_store();
    store.store(testutil::diamond_workflow("wf-several"));
    Workflow wf = store.retrieve("wf-several");
    Transaction txn = store.transaction();
    for (StageExecution& stage : wf.stages) {
      stage.status = WorkflowStatus::kRunning;
      txn.store_stage(stage);
    }
    txn.commit();
    db->close();
  }
  const std::vector<KafkaRecord> records =
      testutil::records_of_store(tmp_ / "src");
  // The last commit of several events, by its last record.
  std::size_t end_index = records.size();
  std::uint64_t commit_first = 0;
  for (; end_index > 0; --end_index) {
    const KafkaRecord& r = records[end_index - 1];
    commit_first =
        nlohmann::json::parse(r.value).at("commit_id").get<std::uint64_t>();
    if (record_lsn(r) == header_u64(r, kHeaderCommitLastLsn) &&
        commit_first < record_lsn(r)) {
      break;
    }
  }
  ASSERT_GT(end_index, 0u) << "the workload has no commit of several events";
  const std::uint64_t commit_end = record_lsn(records[end_index - 1]);
  ASSERT_LT(commit_first, commit_end);
  send({records.begin(),
        records.begin() + static_cast<std::ptrdiff_t>(commit_end - 1)});
  {
    KafkaReplica replica(options(tmp_ / "r"));
    EXPECT_EQ(replica.replicate_until_caught_up().applied_lsn,
              commit_first - 1);
    auto db = Database::open_read_only(tmp_ / "r", testutil::quiet_options());
    EXPECT_EQ(summarize_store(*db).applied_lsn, commit_first - 1);
  }
  send({records.begin() + static_cast<std::ptrdiff_t>(commit_end - 1),
        records.end()});
  KafkaReplica replica(options(tmp_ / "r"));
  EXPECT_EQ(replica.replicate_until_caught_up().applied_lsn, records.size());
  testutil::expect_replica_equals_source(tmp_ / "src", tmp_ / "r", "wf");
}

TEST_F(KafkaReplicaTest, ReplicaOfAnotherStoreIsRefusedAndLeftUnchanged) {
  send(workload(tmp_ / "src", 14, 100));
  {
    KafkaReplica replica(options(tmp_ / "r"));
    replica.replicate_until_caught_up();
  }
  // The replica of store 1 meets the topic of store 2.
  cluster_.create_topic("t2", 4);
  send(workload(tmp_ / "src2", 15, 100), "t2");
  const auto before = snapshot(tmp_ / "r");
  KafkaReplicaOptions o = options(tmp_ / "r");
  o.topic = "t2";
  KafkaReplica replica(o);
  EXPECT_THAT([&] { replica.replicate_until_caught_up(); },
              ::testing::ThrowsMessage<ForeignRecordError>(
                  HasSubstr("on a topic of store")));
  EXPECT_EQ(snapshot(tmp_ / "r"), before);
}

TEST_F(KafkaReplicaTest, ReplicaRefusesAStoreWithALogAndAForeignDirectory) {
  send(workload(tmp_ / "src", 16, 50));
  const auto before = snapshot(tmp_ / "src");
  EXPECT_THAT([&] { KafkaReplica replica(options(tmp_ / "src")); },
              ::testing::ThrowsMessage<InvalidArgumentError>(
                  HasSubstr("a store with a log, not a read replica")));
  EXPECT_EQ(snapshot(tmp_ / "src"), before);
  std::filesystem::create_directories(tmp_ / "junk");
  std::ofstream(tmp_ / "junk" / "x") << "x";
  EXPECT_THAT([&] { KafkaReplica replica(options(tmp_ / "junk")); },
              ::testing::ThrowsMessage<InvalidArgumentError>(
                  HasSubstr("neither a read replica nor empty")));
}

TEST_F(KafkaReplicaTest, ReplicaRefusesTheDirectoryOfALiveWriter) {
  // A store with a log is refused as such even while its writer holds LOCK,
  // and its writer can open it while the replica is being refused.
  send(workload(tmp_ / "src", 18, 50));
  {
    auto db = Database::open(tmp_ / "src", testutil::quiet_options());
    EXPECT_THAT([&] { KafkaReplica replica(options(tmp_ / "src")); },
                ::testing::ThrowsMessage<InvalidArgumentError>(
                    HasSubstr("a store with a log, not a read replica")));
    db->close();
  }
  std::filesystem::remove(tmp_ / "src" / "LOCK");
  const auto before = snapshot(tmp_ / "src");
  EXPECT_THROW(KafkaReplica replica(options(tmp_ / "src")),
               InvalidArgumentError);
  EXPECT_EQ(snapshot(tmp_ / "src"), before);
  EXPECT_FALSE(std::filesystem::exists(tmp_ / "src" / "LOCK"));
}

TEST_F(KafkaReplicaTest, AWriterRebuildOrVerifyNeverOpensAReplica) {
  send(workload(tmp_ / "src", 17, 50));
  {
    KafkaReplica replica(options(tmp_ / "r"));
    replica.replicate_until_caught_up();
  }
  const auto before = snapshot(tmp_ / "r");
  EXPECT_THAT([&] { Database::open(tmp_ / "r", testutil::quiet_options()); },
              ::testing::ThrowsMessage<InvalidArgumentError>(
                  HasSubstr("is a read replica")));
  EXPECT_THAT([&] { rebuild_store_views(tmp_ / "r"); },
              ::testing::ThrowsMessage<InvalidArgumentError>(
                  HasSubstr("is a read replica: it has no log")));
  EXPECT_THAT([&] { verify_store_views(tmp_ / "r"); },
              ::testing::ThrowsMessage<InvalidArgumentError>(
                  HasSubstr("is a read replica: it has no log")));
  EXPECT_EQ(snapshot(tmp_ / "r"), before);
}

}  // namespace
}  // namespace wfstore
