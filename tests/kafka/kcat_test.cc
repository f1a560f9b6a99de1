// The Kafka export end to end through processes: a `wfstore kafka-mock`
// process, `wfstore stream` processes, and kcat reading the topic back,
// compared against the store's log; a second stream of the same topic is
// refused; SIGTERM stops stream and kafka-mock with exit 0.

#include <array>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "wfstore/database.h"
#include "wfstore/kafka_exporter.h"

#include "tests/kafka/export_read_back.h"
#include "tests/kafka/tool_process.h"
#include "tests/store/store_workload.h"
#include "tests/testutil/run_tool.h"
#include "tests/testutil/temp_dir.h"
#include "tests/testutil/wait.h"

namespace wfstore {
namespace {

// The standard output of `command` run by the shell.
std::string shell_output(const std::string& command) {
  std::string out;
  FILE* pipe = popen(command.c_str(), "r");
  if (pipe == nullptr) return out;
  std::array<char, 65536> buffer{};
  std::size_t n = 0;
  while ((n = fread(buffer.data(), 1, buffer.size(), pipe)) > 0) {
    out.append(buffer.data(), n);
  }
  pclose(pipe);
  return out;
}

// Splits `text` at `sep`.
std::vector<std::string> split(const std::string& text, char sep,
                               std::size_t max_parts) {
  std::vector<std::string> parts;
  std::size_t start = 0;
  while (parts.size() + 1 < max_parts) {
    const std::size_t at = text.find(sep, start);
    if (at == std::string::npos) break;
    parts.push_back(text.substr(start, at - start));
    start = at + 1;
  }
  parts.push_back(text.substr(start));
  return parts;
}

// The records kcat prints with -f '%p\t%o\t%k\t%h\t%s\n'.
std::vector<testutil::ReadRecord> kcat_records(const std::string& brokers,
                                               const std::string& topic) {
  const std::string out = shell_output(
      "kcat -C -q -b " + brokers + " -t " + topic +
      " -o beginning -e -f '%p\\t%o\\t%k\\t%h\\t%s\\n' 2>/dev/null");
  std::vector<testutil::ReadRecord> records;
  std::istringstream lines(out);
  std::string line;
  while (std::getline(lines, line)) {
    const std::vector<std::string> f = split(line, '\t', 5);
    if (f.size() != 5) {
      ADD_FAILURE() << "kcat printed: " << line;
      continue;
    }
    testutil::ReadRecord r;
    r.partition = std::stoi(f[0]);
    r.offset = std::stoll(f[1]);
    r.record.key = f[2];
    r.record.value = f[4];
    for (const std::string& header : split(f[3], ',', 100)) {
      const std::vector<std::string> nv = split(header, '=', 2);
      if (nv.size() != 2) continue;
      r.record.headers.emplace_back(nv[0], nv[1]);
      if (nv[0] == kHeaderLsn) r.lsn = std::stoull(nv[1]);
    }
    records.push_back(std::move(r));
  }
  return records;
}

class KcatTest : public ::testing::Test {
 protected:
  void SetUp() override {
    store_ = dir_.path() / "store";
    auto db = Database::open(store_);
    testutil::run_workload(db->workflow_store(), testutil::random_seed(), 300,
                           "k");
    db->close();
    mock_.emplace(testutil::spawn_tool({"kafka-mock", "--brokers", "3"}));
    const std::optional<std::string> line = mock_->read_line();
    ASSERT_TRUE(line.has_value());
    brokers_ = *line;
    ASSERT_EQ(brokers_.rfind("127.0.0.1:", 0), 0u) << brokers_;
  }

  void TearDown() override {
    if (mock_) {
      EXPECT_EQ(testutil::terminate_and_wait(*mock_), 0);
    }
  }

  std::uint64_t store_lsn() {
    auto db = Database::open_read_only(store_);
    return read_committed_events(*db, 0, 0).current_lsn;
  }

  testutil::TempDir dir_;
  std::filesystem::path store_;
  std::optional<testutil::ChildProcess> mock_;
  std::string brokers_;
};

TEST_F(KcatTest, KcatReadsWhatStreamExported) {
  const testutil::ToolRun run =
      testutil::run_tool("stream --dir " + store_.string() + " --brokers " +
                         brokers_ + " --topic wf-events --until-caught-up");
  ASSERT_EQ(run.status, 0) << run.output;
  const std::vector<testutil::ReadRecord> records =
      kcat_records(brokers_, "wf-events");
  auto db = Database::open_read_only(store_);
  const std::uint64_t end = read_committed_events(*db, 0, 0).current_lsn;
  const testutil::ExportCheck check =
      testutil::check_export(*db, records, end, 0);
  EXPECT_EQ(check.distinct, end);
  EXPECT_EQ(records.size(), end);
  // stats shows the position.
  const testutil::ToolRun stats =
      testutil::run_tool("stats --json --dir " + store_.string(), false);
  ASSERT_EQ(stats.status, 0);
  const nlohmann::json doc = nlohmann::json::parse(stats.output);
  ASSERT_EQ(doc.at("exports").size(), 1u) << stats.output;
  EXPECT_EQ(doc["exports"][0]["topic"], "wf-events");
  EXPECT_EQ(doc["exports"][0]["exported_lsn"], end);
  EXPECT_EQ(doc["exports"][0]["lag_lsns"], 0);
}

TEST_F(KcatTest, FencingStreamFollowsStopsOnSigtermAndASecondIsRefused) {
  testutil::ChildProcess stream =
      testutil::spawn_tool({"stream", "--dir", store_.string(), "--brokers",
                            brokers_, "--topic", "live"});
  const std::uint64_t end = store_lsn();
  ASSERT_TRUE(testutil::wait_until([&] {
    auto db = Database::open_read_only(store_);
    const auto positions = read_export_positions(*db);
    return !positions.empty() && positions[0].lag.exported_lsn == end;
  }));
  // A second exporter of the topic, in another process, is refused.
  const testutil::ToolRun second =
      testutil::run_tool("stream --dir " + store_.string() + " --brokers " +
                         brokers_ + " --topic live --until-caught-up");
  EXPECT_EQ(second.status, 5) << second.output;
  EXPECT_NE(second.output.find("being exported by another"), std::string::npos)
      << second.output;
  EXPECT_EQ(testutil::terminate_and_wait(stream), 0);
  auto db = Database::open_read_only(store_);
  EXPECT_EQ(testutil::check_export(*db, kcat_records(brokers_, "live"), end, 0)
                .distinct,
            end);
}

TEST_F(KcatTest, SigtermStopsStreamUntilCaughtUpThatCannotReachItsBrokers) {
  // With --give-up-ms 0 only a signal ends it; it did not catch up, so it
  // does not exit 0.
  testutil::ChildProcess stream = testutil::spawn_tool(
      {"stream", "--dir", store_.string(), "--brokers", "127.0.0.1:1",
       "--topic", "t", "--until-caught-up", "--give-up-ms", "0"});
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  kill(stream.pid(), SIGTERM);
  // Exited (and left waitable: WNOWAIT) within 10 s of the signal.
  const auto deadline =
      std::chrono::steady_clock::now() + std::chrono::seconds(10);
  siginfo_t info{};
  bool exited = false;
  while (!exited && std::chrono::steady_clock::now() < deadline) {
    info.si_pid = 0;
    exited = waitid(P_PID, static_cast<id_t>(stream.pid()), &info,
                    WEXITED | WNOHANG | WNOWAIT) == 0 &&
             info.si_pid == stream.pid();
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ASSERT_TRUE(exited) << "stream --until-caught-up went on after SIGTERM";
  const int status = stream.wait();
  ASSERT_TRUE(WIFEXITED(status)) << testutil::describe_wait_status(status);
  EXPECT_EQ(WEXITSTATUS(status), 5);
  EXPECT_FALSE(std::filesystem::exists(store_ / "exports" / "t.pos"));
}

TEST_F(KcatTest, StreamToUnreachableBrokersFailsClearly) {
  const testutil::ToolRun run = testutil::run_tool(
      "stream --dir " + store_.string() +
      " --brokers 127.0.0.1:1 --topic t --until-caught-up --give-up-ms 1000");
  EXPECT_EQ(run.status, 5) << run.output;
  EXPECT_NE(run.output.find("giving up"), std::string::npos) << run.output;
  EXPECT_FALSE(std::filesystem::exists(store_ / "exports" / "t.pos"));
  const testutil::ToolRun bad =
      testutil::run_tool("stream --dir " + store_.string() + " --brokers " +
                         brokers_ + " --topic 'bad topic' --until-caught-up");
  EXPECT_EQ(bad.status, 2) << bad.output;
  EXPECT_NE(bad.output.find("[A-Za-z0-9._-]"), std::string::npos) << bad.output;
}

}  // namespace
}  // namespace wfstore
