// Crash loop of the Kafka export: a writer process commits, a `wfstore
// stream` process is SIGKILLed at random moments and restarted
// (WFSTORE_KAFKA_EXPORT_KILLS times, 20 by default); at the end a last
// stream exports to the end and the topic is read back: no LSN missing,
// duplicates only as runs of consecutive LSNs at most a batch long, every
// copy equal to the logged event.

#include <chrono>
#include <filesystem>
#include <fstream>
#include <optional>
#include <random>
#include <string>
#include <thread>

#include <gtest/gtest.h>

#include "wfstore/database.h"

#include "tests/kafka/export_read_back.h"
#include "tests/kafka/tool_process.h"
#include "tests/store/store_workload.h"
#include "tests/testutil/run_tool.h"
#include "tests/testutil/temp_dir.h"

namespace wfstore {
namespace {

constexpr int kBatch = 40;

TEST(KafkaExportCrashTest, CrashLoopLosesNothingAndResendsAtMostABatch) {
  const std::uint32_t seed = testutil::random_seed();
  const long kills = testutil::env_knob("WFSTORE_KAFKA_EXPORT_KILLS", 20);
  testutil::TempDir dir;
  const std::filesystem::path store = dir / "store";
  const std::filesystem::path stop_file = dir / "stop-writing";
  {
    auto db = Database::open(store);
    testutil::run_workload(db->workflow_store(), seed, 50, "init");
    db->close();
  }
  testutil::ChildProcess mock =
      testutil::spawn_tool({"kafka-mock", "--brokers", "3"});
  const std::optional<std::string> brokers = mock.read_line();
  ASSERT_TRUE(brokers.has_value());

  // The writer commits until told to stop, then closes the store.
  testutil::ChildProcess writer =
      testutil::ChildProcess::spawn([&](int report_fd) {
        DatabaseOptions o;
        o.durability = Durability::kBuffered;
        auto db = Database::open(store, o);
        for (std::uint32_t round = 0; !std::filesystem::exists(stop_file);
             ++round) {
          testutil::run_workload(db->workflow_store(), seed + 1 + round, 40,
                                 fmt::format("r{}", round));
          if (round == 0) testutil::report_line(report_fd, "writing");
          // A few thousand events over the loop: the mock keeps only about
          // 5 MiB per partition.
          std::this_thread::sleep_for(std::chrono::milliseconds(50));
        }
        db->close();
      });
  ASSERT_TRUE(writer.read_line().has_value());

  const std::vector<std::string> stream_args = {
      "stream",  "--dir", store.string(),   "--brokers",           *brokers,
      "--topic", "crash", "--batch-events", std::to_string(kBatch)};
  std::mt19937 rng(seed);
  for (long i = 0; i < kills; ++i) {
    testutil::ChildProcess stream = testutil::spawn_tool(stream_args);
    // From before the producer is up to well into the export.
    std::this_thread::sleep_for(std::chrono::milliseconds(300 + rng() % 2200));
    const int status = stream.kill_and_wait();
    EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL)
        << "stream ended by itself: " << testutil::describe_wait_status(status);
  }
  { std::ofstream(stop_file) << "stop\n"; }
  EXPECT_EQ(writer.wait(), 0);

  const testutil::ToolRun last = testutil::run_tool(
      "stream --dir " + store.string() + " --brokers " + *brokers +
      " --topic crash --until-caught-up --batch-events " +
      std::to_string(kBatch));
  ASSERT_EQ(last.status, 0) << last.output;
  auto db = Database::open_read_only(store);
  const std::uint64_t end = read_committed_events(*db, 0, 0).current_lsn;
  const auto records = testutil::read_topic(*brokers, "crash");
  const testutil::ExportCheck check = testutil::check_export(
      *db, records, end, kBatch, static_cast<std::uint64_t>(kills) + 1);
  EXPECT_EQ(check.distinct, end);
  std::cout << fmt::format(
      "{} kills, {} events, {} records read, {} duplicates in at least {} "
      "re-sent batches, longest duplicate run {}\n",
      kills, end, records.size(), check.duplicates, check.resend_runs,
      check.longest_duplicate_run);
  EXPECT_EQ(testutil::terminate_and_wait(mock), 0);
}

}  // namespace
}  // namespace wfstore
