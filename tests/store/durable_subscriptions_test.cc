// DurableSubscriptions on a real store: checkpoints in
// <store>/subscriptions/, start positions, batches, filters, a throwing
// handler, one consumer at a time, a read-only open keeping its own
// checkpoint, and bad input changing nothing.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <fstream>
#include <memory>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "wfstore/database.h"
#include "wfstore/errors.h"
#include "wfstore/subscriptions.h"

#include "tests/store/history_script.h"
#include "tests/testutil/counting_file_system.h"
#include "tests/testutil/fault_file_system.h"
#include "tests/testutil/power_cut_store.h"
#include "tests/testutil/sample_workflows.h"
#include "tests/testutil/store_test_util.h"
#include "tests/testutil/temp_dir.h"
#include "wfstore_internal/crc32c.h"
#include "wfstore_internal/view_recovery.h"

namespace wfstore {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::ThrowsMessage;
using testutil::read_file_bytes;
using testutil::TempDir;
using testutil::write_bytes;

class DurableSubscriptionsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    db_ = Database::open(dir_.path(),
                         testutil::quiet_options(Durability::kBuffered));
  }
  void commit(int n) {
    testutil::store_bare_workflows(*db_, next_, n);
    next_ += n;
  }
  DurableSubscriptions subs(std::size_t batch = 100) {
    DurableSubscriptions::Options o;
    o.batch_size = batch;
    return DurableSubscriptions(*db_, o);
  }
  std::filesystem::path file(const std::string& name) const {
    return dir_.path() / "subscriptions" / (name + ".sub");
  }
  // A handler appending each LSN to `out`.
  static EventHandler collect(std::vector<std::uint64_t>& out) {
    return [&out](const Event& event) { out.push_back(event.lsn); };
  }

  TempDir dir_;
  std::unique_ptr<Database> db_;
  int next_ = 0;
};

TEST_F(DurableSubscriptionsTest,
       CatchesUpInBatchesAndResumesFromItsCheckpoint) {
  commit(10);
  {
    DurableSubscriptions s = subs(3);
    const SubscriptionStatus created =
        s.create("audit", StartFrom::beginning());
    EXPECT_EQ(created.checkpoint, 0u);
    EXPECT_EQ(created.lag, 10u);
    std::vector<std::uint64_t> seen;
    EXPECT_EQ(s.process_once("audit", collect(seen)), 3u);
    EXPECT_EQ(s.status("audit").checkpoint, 3u);
    EXPECT_EQ(s.catch_up("audit", collect(seen)), 7u);
    EXPECT_EQ(seen,
              (std::vector<std::uint64_t>{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}));
    EXPECT_EQ(s.status("audit").lag, 0u);
    EXPECT_EQ(s.process_once("audit", collect(seen)), 0u);
  }
  commit(2);
  // A new manager (a restarted process) resumes where the file says.
  DurableSubscriptions again = subs();
  std::vector<std::uint64_t> seen;
  EXPECT_EQ(again.catch_up("audit", collect(seen)), 2u);
  EXPECT_EQ(seen, (std::vector<std::uint64_t>{11, 12}));
  EXPECT_THAT(again.list(), ElementsAre("audit"));
  EXPECT_TRUE(std::filesystem::exists(file("audit")));
}

TEST_F(DurableSubscriptionsTest, StartsFromLatestOrAnLsn) {
  commit(5);
  DurableSubscriptions s = subs();
  EXPECT_EQ(s.create("latest", StartFrom::latest()).checkpoint, 5u);
  EXPECT_EQ(s.create("from3", StartFrom::after(3)).checkpoint, 3u);
  commit(1);
  std::vector<std::uint64_t> latest;
  std::vector<std::uint64_t> from3;
  s.catch_up("latest", collect(latest));
  s.catch_up("from3", collect(from3));
  EXPECT_EQ(latest, (std::vector<std::uint64_t>{6}));
  EXPECT_EQ(from3, (std::vector<std::uint64_t>{4, 5, 6}));
}

TEST_F(DurableSubscriptionsTest,
       FilterIsStoredAndSkippedEventsAdvanceTheCheckpoint) {
  commit(3);
  db_->workflow_store().pause("w1", "ops");  // lsn 4
  commit(1);                                 // lsn 5
  DurableSubscriptions s = subs();
  s.create("pauses", StartFrom::beginning(),
           SubscriptionFilter{{EventType::kWorkflowPaused}, {}, "w1"});
  const SubscriptionStatus status = subs().status("pauses");
  EXPECT_EQ(status.filter.types,
            (std::vector<EventType>{EventType::kWorkflowPaused}));
  EXPECT_EQ(status.filter.workflow_id, std::optional<std::string>("w1"));
  std::vector<std::uint64_t> seen;
  EXPECT_EQ(subs().catch_up("pauses", collect(seen)), 1u);
  EXPECT_EQ(seen, (std::vector<std::uint64_t>{4}));
  EXPECT_EQ(s.status("pauses").checkpoint, 5u);
}

TEST_F(DurableSubscriptionsTest,
       ThrowingHandlerLeavesTheCheckpointAndGetsTheBatchAgain) {
  commit(5);
  DurableSubscriptions s = subs(5);
  s.create("flaky", StartFrom::after(1));
  const std::string before = read_file_bytes(file("flaky"));
  std::vector<std::uint64_t> seen;
  const auto failing = [&](const Event& event) {
    seen.push_back(event.lsn);
    if (event.lsn == 4) throw std::runtime_error("downstream is down");
  };
  try {
    s.process_once("flaky", failing);
    FAIL() << "the handler's exception did not come out";
  } catch (const SubscriptionHandlerError& e) {
    EXPECT_EQ(e.lsn(), 4u);
    EXPECT_EQ(e.checkpoint(), 1u);
    EXPECT_THAT(e.what(), HasSubstr("'flaky'"));
    EXPECT_THAT([&] { std::rethrow_if_nested(e); },
                ThrowsMessage<std::runtime_error>("downstream is down"));
  }
  EXPECT_EQ(read_file_bytes(file("flaky")), before);
  EXPECT_EQ(s.status("flaky").checkpoint, 1u);
  // At least once: the batch comes again from the checkpoint.
  EXPECT_EQ(s.process_once("flaky", collect(seen)), 4u);
  EXPECT_EQ(seen, (std::vector<std::uint64_t>{2, 3, 4, 2, 3, 4, 5}));
  EXPECT_EQ(s.status("flaky").checkpoint, 5u);
}

TEST_F(DurableSubscriptionsTest, BadInputIsRefusedAndChangesNothing) {
  commit(3);
  DurableSubscriptions s = subs();
  std::vector<std::uint64_t> seen;
  EXPECT_THAT([&] { s.process_once("nobody", collect(seen)); },
              ThrowsMessage<SubscriptionNotFoundError>(HasSubstr("'nobody'")));
  EXPECT_THROW(s.status("nobody"), SubscriptionNotFoundError);
  EXPECT_THROW(s.remove("nobody"), SubscriptionNotFoundError);
  for (const char* bad : {"", ".hidden", "a/b", "sp ace", "../up"}) {
    EXPECT_THROW(s.create(bad, StartFrom::beginning()), InvalidArgumentError)
        << bad;
  }
  EXPECT_THROW(s.create(std::string(101, 'x'), StartFrom::beginning()),
               InvalidArgumentError);
  EXPECT_THAT([&] { s.create("ahead", StartFrom::after(4)); },
              ThrowsMessage<InvalidArgumentError>(HasSubstr("beyond")));
  EXPECT_FALSE(s.exists("ahead"));
  EXPECT_TRUE(s.list().empty());
  DurableSubscriptions::Options zero;
  zero.batch_size = 0;
  EXPECT_THROW(DurableSubscriptions(*db_, zero), InvalidArgumentError);
  EXPECT_TRUE(seen.empty());
}

TEST_F(DurableSubscriptionsTest, CheckpointBeyondTheEndOfTheLogIsRefused) {
  commit(3);
  DurableSubscriptions s = subs();
  s.create("ahead", StartFrom::latest());
  // Rewrite the file with a valid checksum and a checkpoint past the log.
  std::string bytes = read_file_bytes(file("ahead"));
  const std::size_t first = bytes.find('\n');
  const std::size_t second = bytes.find('\n', first + 1);
  nlohmann::json doc =
      nlohmann::json::parse(bytes.substr(first + 1, second - first - 1));
  doc["checkpoint"] = 99;
  const std::string body = doc.dump();
  bytes = fmt::format("{}\n{:08x}\n", bytes.substr(0, first + 1) + body,
                      crc32c::mask(crc32c::value(body.data(), body.size())));
  write_bytes(file("ahead"), bytes);
  std::vector<std::uint64_t> seen;
  EXPECT_THAT([&] { s.process_once("ahead", collect(seen)); },
              ThrowsMessage<InvalidArgumentError>(
                  HasSubstr("checkpoint (lsn 99) is beyond")));
  EXPECT_EQ(read_file_bytes(file("ahead")), bytes);
  EXPECT_TRUE(seen.empty());
}

TEST_F(DurableSubscriptionsTest, DamagedFileIsCorruption) {
  commit(1);
  DurableSubscriptions s = subs();
  s.create("d", StartFrom::beginning());
  std::string bytes = read_file_bytes(file("d"));
  bytes[bytes.find("checkpoint") + 1] ^= 0x01;
  write_bytes(file("d"), bytes);
  std::vector<std::uint64_t> seen;
  EXPECT_THAT([&] { s.process_once("d", collect(seen)); },
              ThrowsMessage<CorruptionError>(HasSubstr("checksum mismatch")));
  EXPECT_EQ(read_file_bytes(file("d")), bytes);
}

TEST_F(DurableSubscriptionsTest, OneConsumerAtATime) {
  commit(2);
  DurableSubscriptions first = subs();
  DurableSubscriptions second = subs();
  first.create("one", StartFrom::beginning());
  bool refused = false;
  first.process_once("one", [&](const Event&) {
    try {
      second.process_once("one", [](const Event&) {});
    } catch (const StoreLockedError&) {
      refused = true;
    }
  });
  EXPECT_TRUE(refused);
  EXPECT_EQ(second.status("one").checkpoint, 2u);
}

TEST_F(DurableSubscriptionsTest, RemoveDeletesTheSubscription) {
  commit(1);
  DurableSubscriptions s = subs();
  s.create("gone", StartFrom::beginning());
  s.remove("gone");
  EXPECT_FALSE(s.exists("gone"));
  EXPECT_FALSE(std::filesystem::exists(file("gone")));
  EXPECT_THROW(s.status("gone"), SubscriptionNotFoundError);
}

TEST_F(DurableSubscriptionsTest, ReadOnlyOpenKeepsItsOwnCheckpoint) {
  commit(4);
  auto reader =
      Database::open_read_only(dir_.path(), testutil::quiet_options());
  DurableSubscriptions s(*reader);
  s.create("reader", StartFrom::beginning());
  std::vector<std::uint64_t> seen;
  EXPECT_EQ(s.catch_up("reader", collect(seen)), 4u);
  commit(3);  // the writer goes on
  EXPECT_EQ(s.catch_up("reader", collect(seen)), 3u);
  EXPECT_EQ(seen, (std::vector<std::uint64_t>{1, 2, 3, 4, 5, 6, 7}));
  EXPECT_EQ(subs().status("reader").checkpoint, 7u);
}

TEST_F(DurableSubscriptionsTest, RunFollowsNewCommitsUntilStopped) {
  DurableSubscriptions s = subs(2);
  s.create("live", StartFrom::beginning());
  std::atomic<std::size_t> count{0};
  std::thread writer([&] { commit(7); });
  const std::size_t handled = s.run(
      "live", [&](const Event&) { ++count; }, [&] { return count == 7; });
  writer.join();
  EXPECT_EQ(handled, 7u);
  EXPECT_EQ(s.status("live").checkpoint, 7u);
}

// A machine crash after a batch was handled on a buffered writer: the batch's
// events were applied but maybe not fdatasynced when the checkpoint was
// written. After the reboot the checkpoint is the old or the new one, and
// never beyond the log the store reopens with (else the subscription is
// refused, or skips the events later commits put at those LSNs).
TEST(DurableSubscriptionsPowerCutTest, CheckpointNeverPassesTheLogAfterACrash) {
  const std::uint32_t seed = testutil::random_seed();
  for (std::uint32_t round = 0; round < 20; ++round) {
    SCOPED_TRACE(fmt::format("seed {}, round {}", seed, round));
    const TempDir dir;
    auto fs = std::make_shared<testutil::FaultFileSystem>();
    const DatabaseOptions o = testutil::power_cut_options(fs);
    auto db = Database::open(dir.path(), o);
    DurableSubscriptions(*db).create("s", StartFrom::beginning());
    testutil::store_bare_workflows(*db, 0, 3);
    std::vector<std::uint64_t> handled;
    ASSERT_EQ(DurableSubscriptions(*db).process_once(
                  "s", [&](const Event& e) { handled.push_back(e.lsn); }),
              3u);
    fs->power_cut(seed + round);
    db.reset();
    db = Database::open(dir.path(), o);
    const SubscriptionStatus status = DurableSubscriptions(*db).status("s");
    EXPECT_TRUE(status.checkpoint == 0 || status.checkpoint == 3)
        << status.checkpoint;
    EXPECT_LE(status.checkpoint, status.current_lsn);
  }
}

// The same crash with the subscription consumed by a read-only open beside
// the buffered writer (as a reader process does): it cannot ask the writer
// to sync, so it fdatasyncs the log segment its checkpoint names before it
// writes the checkpoint. After the reboot the checkpoint is never beyond the
// log (it was: a machine crash cut the log below it, and the subscription was
// refused, or skipped the events later commits put at those LSNs).
TEST(DurableSubscriptionsPowerCutTest, AReadersCheckpointNeverPassesTheLog) {
  const std::uint32_t seed = testutil::random_seed();
  for (std::uint32_t round = 0; round < 20; ++round) {
    SCOPED_TRACE(fmt::format("seed {}, round {}", seed, round));
    const TempDir dir;
    auto fs = std::make_shared<testutil::FaultFileSystem>();
    const DatabaseOptions o = testutil::power_cut_options(fs);
    auto db = Database::open(dir.path(), o);
    testutil::store_bare_workflows(*db, 0, 3);
    auto reader = Database::open_read_only(dir.path(), o);
    DurableSubscriptions subs(*reader);
    subs.create("r", StartFrom::beginning());
    ASSERT_EQ(subs.process_once("r", [](const Event&) {}), 3u);
    EXPECT_EQ(subs.status("r").checkpoint, 3u);
    fs->power_cut(seed + round);
    reader.reset();
    db.reset();
    db = Database::open(dir.path(), o);
    const SubscriptionStatus status = DurableSubscriptions(*db).status("r");
    EXPECT_EQ(status.checkpoint, 3u);
    EXPECT_EQ(status.current_lsn, 3u);
  }
}

// Makes the logs opened while it lives roll past `bytes`.
struct RollBytes {
  explicit RollBytes(std::uint64_t bytes) {
    set_log_roll_bytes_for_testing(bytes);
  }
  ~RollBytes() { set_log_roll_bytes_for_testing(0); }
  RollBytes(const RollBytes&) = delete;
  RollBytes& operator=(const RollBytes&) = delete;
};

// A reader's sync of the log covers everything the views held when it
// synced: a catch-up in many batches syncs it once, and a later one once
// more; the last checkpoint survives a power cut. Odd rounds roll the log
// every few commits (the writer syncs each segment it seals).
TEST(DurableSubscriptionsPowerCutTest, AReaderSyncsTheLogOncePerCatchUp) {
  const std::uint32_t seed = testutil::random_seed();
  for (std::uint32_t round = 0; round < 10; ++round) {
    SCOPED_TRACE(fmt::format("seed {}, round {}", seed, round));
    const RollBytes roll(round % 2 == 1 ? 1024 : 0);
    const TempDir dir;
    auto fs = std::make_shared<testutil::FaultFileSystem>();
    const DatabaseOptions o = testutil::power_cut_options(fs);
    auto db = Database::open(dir.path(), o);
    testutil::store_bare_workflows(*db, 0, 40);
    auto counter = std::make_shared<testutil::SyncFileCounter>(fs);
    DatabaseOptions ro = o;
    ro.file_system = counter;
    auto reader = Database::open_read_only(dir.path(), ro);
    DurableSubscriptions::Options so;
    so.batch_size = 4;
    DurableSubscriptions subs(*reader, so);
    subs.create("r", StartFrom::beginning());
    EXPECT_EQ(subs.catch_up("r", [](const Event&) {}), 40u);
    EXPECT_EQ(counter->syncs(), 1);
    testutil::store_bare_workflows(*db, 40, 20);
    EXPECT_EQ(subs.catch_up("r", [](const Event&) {}), 20u);
    EXPECT_EQ(counter->syncs(), 2);
    fs->power_cut(seed + round);
    reader.reset();
    db.reset();
    db = Database::open(dir.path(), o);
    const SubscriptionStatus status = DurableSubscriptions(*db).status("r");
    EXPECT_EQ(status.checkpoint, 60u);
    EXPECT_EQ(status.current_lsn, 60u);
  }
}

// A subscription created at the latest event (or at an LSN) names that LSN
// in its checkpoint at once: the log is made durable up to it first, or a
// machine crash could leave the checkpoint on LSNs later commits refill, and
// their events would never be delivered.
TEST(DurableSubscriptionsPowerCutTest, ACheckpointCreatedAtTheLatestIsDurable) {
  const std::uint32_t seed = testutil::random_seed();
  for (std::uint32_t round = 0; round < 20; ++round) {
    SCOPED_TRACE(fmt::format("seed {}, round {}", seed, round));
    const TempDir dir;
    auto fs = std::make_shared<testutil::FaultFileSystem>();
    const DatabaseOptions o = testutil::power_cut_options(fs);
    auto db = Database::open(dir.path(), o);
    testutil::store_bare_workflows(*db, 0, 3);
    const bool reader = round % 2 == 1;
    std::unique_ptr<Database> read_only;
    if (reader) read_only = Database::open_read_only(dir.path(), o);
    DurableSubscriptions(reader ? *read_only : *db)
        .create("r", StartFrom::latest());
    fs->power_cut(seed + round);
    read_only.reset();
    db.reset();
    db = Database::open(dir.path(), o);
    const SubscriptionStatus status = DurableSubscriptions(*db).status("r");
    EXPECT_EQ(status.checkpoint, 3u);
    EXPECT_EQ(status.current_lsn, 3u);
  }
}

}  // namespace
}  // namespace wfstore
