// KafkaConsumer against the mock cluster: every LSN once and in order across
// partitions and re-sent runs, a gap reported by its range with nothing after
// it delivered, foreign records and another store's records refused, a
// missing topic.

#include "wfstore/kafka_consumer.h"

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "wfstore/database.h"
#include "wfstore/kafka_mock.h"
#include "wfstore/limits.h"
#include "wfstore/transaction.h"
#include "wfstore/workflow_store.h"

#include "tests/kafka/kafka_test_producer.h"
#include "tests/store/store_workload.h"
#include "tests/testutil/sample_workflows.h"
#include "tests/testutil/store_test_util.h"
#include "tests/testutil/temp_dir.h"

namespace wfstore {
namespace {

using ::testing::HasSubstr;
using testutil::record_lsn;

constexpr int kPartitions = 4;

// The records of a store that ran a seeded workload.
std::vector<KafkaRecord> workload_records(const std::filesystem::path& dir,
                                          std::uint32_t seed, int ops) {
  {
    auto db = Database::open(dir, testutil::quiet_options());
    testutil::run_workload(db->workflow_store(), seed, ops, "wf");
    db->close();
  }
  return testutil::records_of_store(dir);
}

KafkaConsumerOptions options_for(const KafkaMockCluster& cluster,
                                 const std::string& topic) {
  KafkaConsumerOptions options;
  options.brokers = cluster.bootstrap_servers();
  options.topic = topic;
  options.stall_timeout = std::chrono::milliseconds(1000);
  return options;
}

// `record` with header `name` set to `value`.
KafkaRecord with_header(KafkaRecord record, std::string_view name,
                        const std::string& value) {
  for (auto& [key, text] : record.headers) {
    if (key == name) text = value;
  }
  return record;
}

// The commit_id in a record's value.
std::uint64_t record_commit_id(const KafkaRecord& record) {
  return nlohmann::json::parse(record.value)
      .at("commit_id")
      .get<std::uint64_t>();
}

// The records of a store whose workload ends with a commit of several
// events (a transaction updating every stage of a stored workflow) and one
// more commit after it.
std::vector<KafkaRecord> records_with_long_commit(
    const std::filesystem::path& dir) {
  {
    auto db = Database::open(dir, testutil::quiet_options());
    WorkflowStore& store = db->workflow_store();
    testutil::run_workload(store, 9, 40, "wf");
    store.store(testutil::diamond_workflow("wf-several"));
    Workflow wf = store.retrieve("wf-several");
    Transaction txn = store.transaction();
    for (StageExecution& stage : wf.stages) {
      stage.status = WorkflowStatus::kRunning;
      txn.store_stage(stage);
    }
    txn.commit();
    store.store(testutil::diamond_workflow("wf-after"));
    db->close();
  }
  return testutil::records_of_store(dir);
}

// The index of the first record of the first commit of several events.
std::size_t first_long_commit(const std::vector<KafkaRecord>& records) {
  for (std::size_t i = 0; i + 1 < records.size(); ++i) {
    if (record_commit_id(records[i]) == record_lsn(records[i]) &&
        record_commit_id(records[i + 1]) == record_lsn(records[i])) {
      return i;
    }
  }
  ADD_FAILURE() << "the workload has no commit of several events";
  return 0;
}

// Consumes `records` (sent in order to one partition) until the consumer
// throws, and returns the LSNs it delivered before.
std::vector<std::uint64_t> delivered_before_error(
    const KafkaMockCluster& cluster, const std::vector<KafkaRecord>& records,
    const std::string& expected_error) {
  testutil::TestProducer producer(cluster.bootstrap_servers());
  for (const KafkaRecord& r : records) producer.send("t", r, 0);
  producer.flush();
  KafkaConsumerOptions options;
  options.brokers = cluster.bootstrap_servers();
  options.topic = "t";
  options.stall_timeout = std::chrono::milliseconds(1000);
  KafkaConsumer consumer(options);
  std::vector<std::uint64_t> got;
  try {
    consumer.consume_until_caught_up([&](std::vector<ReceivedEvent>& batch) {
      for (const ReceivedEvent& e : batch) got.push_back(e.event.lsn);
    });
    ADD_FAILURE() << "no error; delivered " << got.size() << " events";
  } catch (const ForeignRecordError& e) {
    EXPECT_THAT(e.what(), HasSubstr(expected_error));
  }
  return got;
}

// Consumes until the consumer reports a gap, which must be
// `first`..`last` (and name `text` when given); returns the LSNs delivered
// before it.
std::vector<std::uint64_t> consume_until_gap(KafkaConsumer& consumer,
                                             std::uint64_t first,
                                             std::uint64_t last,
                                             const std::string& text = "") {
  std::vector<std::uint64_t> got;
  try {
    consumer.consume_until_caught_up([&](std::vector<ReceivedEvent>& batch) {
      for (ReceivedEvent& e : batch) got.push_back(e.event.lsn);
    });
    ADD_FAILURE() << "no gap reported";
  } catch (const KafkaGapError& e) {
    EXPECT_EQ(e.first_missing(), first);
    EXPECT_EQ(e.last_missing(), last);
    if (!text.empty()) {
      EXPECT_THAT(e.what(), HasSubstr(text));
    }
  }
  return got;
}

class KafkaConsumerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    records_ = workload_records(tmp_ / "store", 7, 500);
    ASSERT_GT(records_.size(), 200u) << "the workload is too small";
    cluster_.create_topic("t", kPartitions);
  }

  // Polls until `n` events arrived or a few seconds passed.
  std::vector<ReceivedEvent> poll_for(KafkaConsumer& consumer, std::size_t n) {
    std::vector<ReceivedEvent> out;
    const auto deadline =
        std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (out.size() < n && std::chrono::steady_clock::now() < deadline) {
      for (ReceivedEvent& e : consumer.poll(std::chrono::milliseconds(100))) {
        out.push_back(std::move(e));
      }
    }
    return out;
  }

  // Every record of the workload but LSN `missing`, all on partition 0 of
  // topic t: the other partitions stay empty, so none is ever past the gap.
  void send_all_but_lsn_to_partition_0(std::uint64_t missing) {
    testutil::TestProducer producer(cluster_.bootstrap_servers());
    for (const KafkaRecord& r : records_) {
      if (record_lsn(r) != missing) producer.send("t", r, 0);
    }
    producer.flush();
  }

  testutil::TempDir tmp_;
  KafkaMockCluster cluster_{1};
  std::vector<KafkaRecord> records_;
};

TEST_F(KafkaConsumerTest, EveryLsnOnceInOrderAcrossPartitionsAndResentRuns) {
  testutil::TestProducer producer(cluster_.bootstrap_servers());
  const std::size_t n = records_.size();
  const auto at = [&](std::size_t i) {
    return records_.begin() + static_cast<std::ptrdiff_t>(i);
  };
  const std::vector<KafkaRecord> first(at(0), at(n / 2));
  const std::vector<KafkaRecord> resent(at(n / 3), at(n / 2));
  const std::vector<KafkaRecord> rest(at(n / 2), records_.end());
  // Keyed like the exporter; then a crashed exporter's re-sent run, twice,
  // once to other partitions.
  for (const KafkaRecord& r : first) producer.send("t", r);
  for (const KafkaRecord& r : resent) producer.send("t", r);
  producer.send_round_robin("t", resent, kPartitions);
  for (const KafkaRecord& r : rest) producer.send("t", r);
  producer.flush();

  KafkaConsumer consumer(options_for(cluster_, "t"));
  EXPECT_EQ(consumer.partitions(), kPartitions);
  std::vector<ReceivedEvent> got;
  consumer.consume_until_caught_up([&](std::vector<ReceivedEvent>& batch) {
    for (ReceivedEvent& e : batch) got.push_back(std::move(e));
  });
  EXPECT_TRUE(consumer.caught_up());
  ASSERT_EQ(got.size(), n);
  std::set<std::int32_t> partitions;
  for (std::size_t i = 0; i < n; ++i) {
    ASSERT_EQ(got[i].event.lsn, i + 1);
    EXPECT_EQ(got[i].value, records_[i].value);
    EXPECT_EQ(kafka_record_of(got[i].event, got[i].store_id, got[i].commit_hash,
                              got[i].commit_last_lsn)
                  .headers,
              records_[i].headers);
    partitions.insert(got[i].partition);
  }
  EXPECT_GT(partitions.size(), 1u);
  EXPECT_EQ(consumer.last_lsn(), n);
  EXPECT_EQ(consumer.store_id(), got[0].store_id);
  EXPECT_TRUE(consumer.poll(std::chrono::milliseconds(200)).empty());
}

TEST_F(KafkaConsumerTest, StartsAfterTheGivenLsn) {
  testutil::TestProducer producer(cluster_.bootstrap_servers());
  for (const KafkaRecord& r : records_) producer.send("t", r);
  producer.flush();
  KafkaConsumerOptions options = options_for(cluster_, "t");
  options.start_after_lsn = 100;
  KafkaConsumer consumer(options);
  std::vector<ReceivedEvent> got;
  consumer.consume_until_caught_up([&](std::vector<ReceivedEvent>& batch) {
    for (ReceivedEvent& e : batch) got.push_back(std::move(e));
  });
  ASSERT_EQ(got.size(), records_.size() - 100);
  EXPECT_EQ(got.front().event.lsn, 101u);
  EXPECT_EQ(got.back().event.lsn, records_.size());
}

TEST_F(KafkaConsumerTest, GapNamesTheMissingRangeAndDeliversNothingPastIt) {
  testutil::TestProducer producer(cluster_.bootstrap_servers());
  std::vector<KafkaRecord> holed;
  for (const KafkaRecord& r : records_) {
    const std::uint64_t lsn = record_lsn(r);
    if (lsn < 120 || lsn > 122) holed.push_back(r);
  }
  producer.send_round_robin("t", holed, kPartitions);
  producer.flush();

  KafkaConsumer consumer(options_for(cluster_, "t"));
  std::vector<ReceivedEvent> got;
  try {
    consumer.consume_until_caught_up([&](std::vector<ReceivedEvent>& batch) {
      for (ReceivedEvent& e : batch) got.push_back(std::move(e));
    });
    FAIL() << "no gap reported";
  } catch (const KafkaGapError& e) {
    EXPECT_EQ(e.first_missing(), 120u);
    EXPECT_EQ(e.last_missing(), 122u);
    EXPECT_THAT(e.what(), HasSubstr("lsn 120..122 missing"));
  }
  ASSERT_EQ(got.size(), 119u);
  EXPECT_EQ(got.back().event.lsn, 119u);
  EXPECT_EQ(consumer.last_lsn(), 119u);
  EXPECT_THROW(consumer.poll(std::chrono::milliseconds(10)), KafkaGapError);
}

TEST_F(KafkaConsumerTest, GapWithAPartitionBehindIsReportedOnceCaughtUp) {
  // LSN 5 missing and partition 3 holds nothing: it might still bring LSN 5,
  // so only the stall after catching up reports the gap.
  send_all_but_lsn_to_partition_0(5);
  KafkaConsumer consumer(options_for(cluster_, "t"));
  const std::vector<std::uint64_t> got = consume_until_gap(consumer, 5u, 5u);
  EXPECT_EQ(got, (std::vector<std::uint64_t>{1, 2, 3, 4}));
}

// Following (run), not catching up: LSN 5 missing, every record on
// partition 0 and the other partitions empty, so no partition is past it;
// the stall (every partition read to its current end) reports the gap, and
// nothing past LSN 4 is delivered.
TEST_F(KafkaConsumerTest, GapWhileFollowingIsReportedAfterTheStall) {
  send_all_but_lsn_to_partition_0(5);
  KafkaConsumer consumer(options_for(cluster_, "t"));
  std::vector<std::uint64_t> got;
  const auto deadline =
      std::chrono::steady_clock::now() + std::chrono::seconds(30);
  try {
    consumer.run(
        [&](std::vector<ReceivedEvent>& batch) {
          for (const ReceivedEvent& e : batch) got.push_back(e.event.lsn);
        },
        [&] { return std::chrono::steady_clock::now() > deadline; });
    FAIL() << "no gap reported while following";
  } catch (const KafkaGapError& e) {
    EXPECT_EQ(e.first_missing(), 5u);
    EXPECT_EQ(e.last_missing(), 5u);
    EXPECT_THAT(e.what(), HasSubstr("lsn 5..5 missing"));
    EXPECT_THAT(e.what(), HasSubstr("no partition had more to read"));
  }
  EXPECT_EQ(got, (std::vector<std::uint64_t>{1, 2, 3, 4}));
  EXPECT_THROW(consumer.poll(std::chrono::milliseconds(10)), KafkaGapError);
}

TEST_F(KafkaConsumerTest, AStalledGapIgnoresReSentRecordsBehindIt) {
  // Partition 0: 1..5, 7, 8, then a re-sent run 4, 5, 7, 8; LSN 6 nowhere and
  // the other partitions empty, so only the stall reports the gap. The
  // re-sent 4 and 5, already delivered, are not part of the missing range.
  testutil::TestProducer producer(cluster_.bootstrap_servers());
  for (const std::size_t lsn :
       std::vector<std::size_t>{1, 2, 3, 4, 5, 7, 8, 4, 5, 7, 8}) {
    producer.send("t", records_[lsn - 1], 0);
  }
  producer.flush();
  KafkaConsumer consumer(options_for(cluster_, "t"));
  const std::vector<std::uint64_t> got =
      consume_until_gap(consumer, 6u, 6u, "lsn 6..6 missing");
  EXPECT_EQ(got, (std::vector<std::uint64_t>{1, 2, 3, 4, 5}));
}

TEST_F(KafkaConsumerTest, RecordsWaitingForAnEarlierLsnAreBoundedInMemory) {
  // Partition 0 holds LSNs 2..N several times over (a re-sending exporter),
  // 3 MiB or more (the mock cluster keeps a partition's last 5 MB or so),
  // while LSN 1 is not yet anywhere: what the consumer holds back stays near
  // its 1 MiB bound; once LSN 1 arrives on partition 1 every event is
  // delivered in order, once.
  constexpr std::size_t kBound = std::size_t{1} << 20;
  testutil::TestProducer producer(cluster_.bootstrap_servers());
  std::size_t sent = 0;
  std::size_t largest = 0;
  while (sent < 3 * kBound) {
    for (std::size_t i = 1; i < records_.size(); ++i) {
      producer.send("t", records_[i], 0);
      sent += records_[i].value.size();
      largest = std::max(largest, records_[i].value.size());
    }
  }
  producer.flush();
  KafkaConsumerOptions options = options_for(cluster_, "t");
  options.max_buffered_bytes_per_partition = kBound;
  KafkaConsumer consumer(options);
  std::size_t most = 0;
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(3);
  while (std::chrono::steady_clock::now() < until) {
    EXPECT_TRUE(consumer.poll(std::chrono::milliseconds(100)).empty());
    most = std::max(most, consumer.buffered_bytes());
  }
  EXPECT_GT(most, kBound / 2) << "partition 0 was hardly read";
  EXPECT_LE(most, kBound + largest);

  producer.send("t", records_[0], 1);
  producer.flush();
  const std::vector<ReceivedEvent> got = poll_for(consumer, records_.size());
  ASSERT_EQ(got.size(), records_.size());
  for (std::size_t i = 0; i < got.size(); ++i) {
    ASSERT_EQ(got[i].event.lsn, i + 1);
  }
  // The rest of partition 0 is re-sent runs: read, dropped, caught up.
  const auto deadline =
      std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (!consumer.caught_up() && std::chrono::steady_clock::now() < deadline) {
    EXPECT_TRUE(consumer.poll(std::chrono::milliseconds(100)).empty());
  }
  EXPECT_TRUE(consumer.caught_up());
  EXPECT_EQ(consumer.buffered_bytes(), 0u);
}

TEST_F(KafkaConsumerTest, AGapBehindAPausedPartitionIsReported) {
  // LSN 5 is nowhere and partition 0 holds the rest, 3 MiB over several
  // runs: it is paused at its 1 MiB bound before its end, which cannot bring
  // LSN 5 either, so the stall reports the gap rather than waiting for ever.
  constexpr std::size_t kBound = std::size_t{1} << 20;
  testutil::TestProducer producer(cluster_.bootstrap_servers());
  for (std::size_t sent = 0; sent < 3 * kBound;) {
    for (const KafkaRecord& r : records_) {
      if (record_lsn(r) == 5) continue;
      producer.send("t", r, 0);
      sent += r.value.size();
    }
  }
  producer.flush();
  KafkaConsumerOptions options = options_for(cluster_, "t");
  options.max_buffered_bytes_per_partition = kBound;
  KafkaConsumer consumer(options);
  const std::vector<std::uint64_t> got = consume_until_gap(consumer, 5u, 5u);
  EXPECT_EQ(got, (std::vector<std::uint64_t>{1, 2, 3, 4}));
  EXPECT_LE(consumer.buffered_bytes(), 2 * kBound);
}

TEST_F(KafkaConsumerTest, ARecordWithoutWfstoreHeadersIsForeign) {
  testutil::TestProducer producer(cluster_.bootstrap_servers());
  for (std::size_t i = 0; i < 10; ++i) producer.send("t", records_[i], 0);
  producer.send("t", KafkaRecord{"k", "{\"hello\": 1}", {}}, 0);
  producer.flush();
  KafkaConsumer consumer(options_for(cluster_, "t"));
  try {
    poll_for(consumer, 1000);
    FAIL() << "no error";
  } catch (const ForeignRecordError& e) {
    EXPECT_THAT(e.what(), HasSubstr("partition 0 offset 10"));
    EXPECT_THAT(e.what(), HasSubstr("no wfstore.lsn header"));
  }
}

TEST_F(KafkaConsumerTest, HeadersThatDisagreeWithTheValueAreForeign) {
  testutil::TestProducer producer(cluster_.bootstrap_servers());
  KafkaRecord lying = records_[0];
  for (auto& [name, value] : lying.headers) {
    if (name == kHeaderLsn) value = "2";
  }
  producer.send("t", lying, 0);
  producer.flush();
  KafkaConsumer consumer(options_for(cluster_, "t"));
  EXPECT_THAT([&] { poll_for(consumer, 1); },
              ::testing::ThrowsMessage<ForeignRecordError>(
                  HasSubstr("header wfstore.lsn 2 differs from the value's "
                            "lsn 1")));
}

TEST_F(KafkaConsumerTest, RecordsOfAnotherStoreAreRefused) {
  const std::vector<KafkaRecord> other =
      workload_records(tmp_ / "other", 8, 60);
  ASSERT_GT(other.size(), 5u);
  testutil::TestProducer producer(cluster_.bootstrap_servers());
  for (std::size_t i = 0; i < 5; ++i) producer.send("t", records_[i], 0);
  producer.send("t", other[5], 0);
  producer.flush();
  {
    KafkaConsumer consumer(options_for(cluster_, "t"));
    EXPECT_THAT([&] { poll_for(consumer, 1000); },
                ::testing::ThrowsMessage<ForeignRecordError>(
                    HasSubstr("a record of store")));
  }
  // An expected store id refuses the first record already.
  KafkaConsumerOptions options = options_for(cluster_, "t");
  const DecodedRecord mine = decode_kafka_record(records_[0]);
  options.store_id = decode_kafka_record(other[0]).store_id;
  KafkaConsumer consumer(options);
  try {
    poll_for(consumer, 1);
    FAIL() << "no error";
  } catch (const ForeignRecordError& e) {
    EXPECT_THAT(e.what(),
                HasSubstr("offset 0: a record of store " + mine.store_id +
                          " on a topic of store " + options.store_id));
  }
}

TEST_F(KafkaConsumerTest, BadOptionsAreRefusedBeforeConnecting) {
  const auto refused =
      [&](const std::function<void(KafkaConsumerOptions&)>& change,
          const std::string& message) {
        KafkaConsumerOptions options = options_for(cluster_, "t");
        change(options);
        EXPECT_THAT(
            [&] { KafkaConsumer consumer(options); },
            ::testing::ThrowsMessage<InvalidArgumentError>(HasSubstr(message)));
      };
  refused([](KafkaConsumerOptions& o) { o.brokers.clear(); }, "brokers");
  refused([](KafkaConsumerOptions& o) { o.topic.clear(); }, "topic");
  refused([](KafkaConsumerOptions& o) { o.fetch_wait = {}; },
          "fetch_wait: 0 ms is not in 1-60000");
  refused(
      [](KafkaConsumerOptions& o) {
        o.fetch_wait = std::chrono::milliseconds{60001};
      },
      "fetch_wait: 60001 ms is not in 1-60000");
  // librdkafka reads a negative timeout as "wait for ever".
  refused(
      [](KafkaConsumerOptions& o) {
        o.metadata_timeout = std::chrono::milliseconds{-1};
      },
      "metadata_timeout: -1 ms is not in 1-");
  refused(
      [](KafkaConsumerOptions& o) {
        o.metadata_timeout = std::chrono::milliseconds{1LL << 32};
      },
      "metadata_timeout: 4294967296 ms is not in 1-");
  refused(
      [](KafkaConsumerOptions& o) {
        o.stall_timeout = std::chrono::milliseconds{-1};
      },
      "stall_timeout: -1 ms is negative");
  refused(
      [](KafkaConsumerOptions& o) {
        o.max_buffered_bytes_per_partition = (std::size_t{1} << 20) - 1;
      },
      "max_buffered_bytes_per_partition: 1048575 is not in 1 MiB-1 GiB");
  refused(
      [](KafkaConsumerOptions& o) {
        o.max_buffered_bytes_per_partition = (std::size_t{1} << 30) + 1;
      },
      "max_buffered_bytes_per_partition: 1073741825 is not in 1 MiB-1 GiB");
}

TEST_F(KafkaConsumerTest, AMissingTopicIsAnError) {
  EXPECT_THAT([&] { KafkaConsumer consumer(options_for(cluster_, "nope")); },
              ::testing::ThrowsMessage<KafkaTopicNotFoundError>(
                  HasSubstr("Kafka topic 'nope' does not exist")));
}

TEST_F(KafkaConsumerTest, AnEmptyTopicIsCaughtUpAtOnce) {
  KafkaConsumer consumer(options_for(cluster_, "t"));
  consumer.consume_until_caught_up(
      [](std::vector<ReceivedEvent>&) { FAIL() << "no events expected"; });
  EXPECT_TRUE(consumer.caught_up());
  EXPECT_EQ(consumer.last_lsn(), 0u);
}

// Records whose commit fields disagree with the records before them (a
// writer other than the exporter): the consumer refuses the first record
// that does not fit the commit before it, and delivers nothing from it on.
TEST_F(KafkaConsumerTest, ARecordEndingItsCommitEarlyIsForeign) {
  const std::vector<KafkaRecord> records =
      records_with_long_commit(tmp_ / "long");
  const std::size_t i = first_long_commit(records);
  const std::uint64_t first = record_lsn(records[i]);
  std::vector<KafkaRecord> lying = records;
  // The commit's first record claims to be its last.
  lying[i] = with_header(lying[i], kHeaderCommitLastLsn, std::to_string(first));
  const std::vector<std::uint64_t> got = delivered_before_error(
      cluster_, lying,
      fmt::format("lsn {}: commit_id {} continues a commit that ended at "
                  "lsn {}",
                  first + 1, first, first));
  EXPECT_LE(got.size(), first);
}

TEST_F(KafkaConsumerTest, RecordsOfOneCommitDisagreeingOnItsEndAreForeign) {
  const std::vector<KafkaRecord> records =
      records_with_long_commit(tmp_ / "long");
  const std::size_t i = first_long_commit(records);
  const std::uint64_t first = record_lsn(records[i]);
  const std::uint64_t last = decode_kafka_record(records[i]).commit_last_lsn;
  std::vector<KafkaRecord> lying = records;
  lying[i + 1] =
      with_header(lying[i + 1], kHeaderCommitLastLsn, std::to_string(last + 1));
  const std::vector<std::uint64_t> got = delivered_before_error(
      cluster_, lying,
      fmt::format("lsn {}: commit {} ending at lsn {} with hash", first + 1,
                  first, last + 1));
  EXPECT_LE(got.size(), first);
}

TEST_F(KafkaConsumerTest, RecordsOfOneCommitDisagreeingOnItsHashAreForeign) {
  const std::vector<KafkaRecord> records =
      records_with_long_commit(tmp_ / "long");
  const std::size_t i = first_long_commit(records);
  const std::uint64_t first = record_lsn(records[i]);
  std::vector<KafkaRecord> lying = records;
  lying[i + 1] =
      with_header(lying[i + 1], kHeaderCommitHash, std::string(64, 'a'));
  const std::vector<std::uint64_t> got = delivered_before_error(
      cluster_, lying,
      fmt::format("lsn {}: commit {} ending at", first + 1, first));
  EXPECT_LE(got.size(), first);
}

// A copy of a delivered LSN that names another commit is another history,
// not a re-send; exact copies are still dropped quietly.
TEST_F(KafkaConsumerTest, ACopyOfADeliveredLsnNamingAnotherCommitIsForeign) {
  std::vector<KafkaRecord> records(records_.begin(), records_.begin() + 100);
  const std::uint64_t lsn = record_lsn(records[60]);
  records.push_back(records[60]);  // an exact re-send: dropped
  records.push_back(
      with_header(records[60], kHeaderCommitHash, std::string(64, 'a')));
  const std::vector<std::uint64_t> got = delivered_before_error(
      cluster_, records,
      fmt::format("lsn {} arrived again as another event", lsn));
  EXPECT_LE(got.size(), 100u);
}

// Events taken before an error is found are returned, the error comes with
// the next poll: last_lsn() never counts an event the caller did not get.
TEST_F(KafkaConsumerTest, EventsTakenBeforeAnErrorAreReturnedFirst) {
  testutil::TestProducer producer(cluster_.bootstrap_servers());
  for (std::size_t i = 0; i < 100; ++i) producer.send("t", records_[i], 0);
  // After them, a copy of LSN 60 naming another commit: found while the
  // events before it are being taken, or after they were returned.
  producer.send(
      "t", with_header(records_[59], kHeaderCommitHash, std::string(64, 'a')),
      0);
  producer.flush();
  KafkaConsumer consumer(options_for(cluster_, "t"));
  std::vector<std::uint64_t> got;
  bool failed = false;
  const auto deadline =
      std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (!failed && std::chrono::steady_clock::now() < deadline) {
    try {
      for (const ReceivedEvent& e :
           consumer.poll(std::chrono::milliseconds(100))) {
        got.push_back(e.event.lsn);
      }
    } catch (const ForeignRecordError& e) {
      EXPECT_THAT(e.what(), HasSubstr("arrived again as another event"));
      failed = true;
    }
  }
  ASSERT_TRUE(failed);
  ASSERT_EQ(got.size(), 100u);
  EXPECT_EQ(got.back(), consumer.last_lsn());
  for (std::size_t i = 0; i < got.size(); ++i) EXPECT_EQ(got[i], i + 1);
}

TEST_F(KafkaConsumerTest, ACommitStartingBeforeTheOneBeforeEndsIsForeign) {
  const std::vector<KafkaRecord> records =
      records_with_long_commit(tmp_ / "long");
  const std::size_t i = first_long_commit(records);
  const std::uint64_t first = record_lsn(records[i]);
  const std::uint64_t last = decode_kafka_record(records[i]).commit_last_lsn;
  ASSERT_LT(last, records.size());
  std::vector<KafkaRecord> lying = records;
  // Every record of the commit claims one more event than it has: the next
  // commit starts inside it.
  for (std::uint64_t lsn = first; lsn <= last; ++lsn) {
    lying[lsn - 1] = with_header(lying[lsn - 1], kHeaderCommitLastLsn,
                                 std::to_string(last + 1));
  }
  const std::vector<std::uint64_t> got = delivered_before_error(
      cluster_, lying,
      fmt::format("lsn {}: commit {} ending at lsn", last + 1, last + 1));
  EXPECT_LE(got.size(), last);
}

TEST_F(KafkaConsumerTest, ACommitOfMoreEventsThanACommitMayHoldIsForeign) {
  // Else a replica would hold the endless commit's events waiting for its
  // last one.
  const KafkaRecord& record = records_[0];
  const std::uint64_t first = record_commit_id(record);
  EXPECT_NO_THROW(decode_kafka_record(
      with_header(record, kHeaderCommitLastLsn,
                  std::to_string(first + kMaxCommitEvents - 1))));
  EXPECT_THAT(
      [&] {
        decode_kafka_record(
            with_header(record, kHeaderCommitLastLsn,
                        std::to_string(first + kMaxCommitEvents)));
      },
      ::testing::ThrowsMessage<ForeignRecordError>(HasSubstr(fmt::format(
          "lsn 1: header wfstore.commit_last_lsn {} makes commit {} longer "
          "than {} events",
          first + kMaxCommitEvents, first, kMaxCommitEvents))));
}

}  // namespace
}  // namespace wfstore
