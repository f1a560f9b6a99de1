// `wfstore log` run as a real process: one line per event in LSN order, JSON
// Lines with --json, --after and --limit, and a clear error for a directory
// that is no store.

#include <cstdint>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "wfstore/audit_scope.h"
#include "wfstore/database.h"

#include "tests/testutil/run_tool.h"
#include "tests/testutil/sample_workflows.h"
#include "tests/testutil/temp_dir.h"

namespace wfstore {
namespace {

using ::testing::HasSubstr;
using wfstore::testutil::run_tool;
using wfstore::testutil::TempDir;
using wfstore::testutil::ToolRun;

// Runs `wfstore log <args>`, expects it to succeed and returns the lines it
// printed.
std::vector<std::string> log_lines(const std::string& args) {
  const ToolRun run = run_tool("log " + args, false);
  EXPECT_EQ(run.status, 0) << run.output;
  std::vector<std::string> lines;
  std::istringstream in(run.output);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

// A store of two workflows, one paused: three events. Returns its directory.
std::string make_store(const TempDir& tmp) {
  std::string dir = (tmp / "store").string();
  auto db = Database::open(dir);
  AuditScope audit({"alice@example.com", "", "", "cli"});
  db->workflow_store().store(wfstore::testutil::diamond_workflow("wf-1"));
  db->workflow_store().store(wfstore::testutil::diamond_workflow("wf-2"));
  db->workflow_store().pause("wf-2", "alice@example.com");
  db->close();
  return dir;
}

TEST(LogToolTest, PrintsOneLinePerEventInLsnOrder) {
  const TempDir tmp;
  const std::string dir = make_store(tmp);
  const std::vector<std::string> lines = log_lines("--dir " + dir);
  ASSERT_EQ(lines.size(), 3U);
  EXPECT_TRUE(std::regex_search(
      lines[0], std::regex("^lsn=1 commit=1 timestamp=[0-9]+ "
                           "type=WorkflowStored workflow_id=wf-1 "
                           "actor=alice@example.com payload=\\{")))
      << lines[0];
  EXPECT_THAT(lines[2], HasSubstr("lsn=3 commit=3 "));
  EXPECT_THAT(lines[2], HasSubstr(" type=WorkflowPaused workflow_id=wf-2 "));
}

TEST(LogToolTest, JsonPrintsEachEventsDocumentAfterAnLsnUpToALimit) {
  const TempDir tmp;
  const std::string dir = make_store(tmp);
  const std::vector<std::string> lines = log_lines("--json --dir " + dir);
  ASSERT_EQ(lines.size(), 3U);
  for (std::size_t i = 0; i < lines.size(); ++i) {
    const nlohmann::json event = nlohmann::json::parse(lines[i]);
    EXPECT_EQ(event.at("lsn"), i + 1);
    EXPECT_EQ(event.at("audit").at("actor"), "alice@example.com");
    EXPECT_EQ(event.at("audit").at("source"), "cli");
  }
  EXPECT_EQ(nlohmann::json::parse(lines[1]).at("type"), "WorkflowStored");
  EXPECT_EQ(nlohmann::json::parse(lines[1]).at("workflow_id"), "wf-2");

  EXPECT_EQ(log_lines("--json --after 1 --limit 1 --dir " + dir),
            std::vector<std::string>{lines[1]});
  EXPECT_TRUE(log_lines("--after 3 --dir " + dir).empty());
}

TEST(LogToolTest, NegativeOverflowingAndOctalLookingNumbersAreReadAsDecimal) {
  const TempDir tmp;
  const std::string dir = make_store(tmp);
  // Not a number of 0..2^64-1: usage errors, not an LSN silently wrapped or
  // clamped to 2^64-1 (which prints nothing and succeeds).
  for (const char* bad :
       {"--after -1", "--after 99999999999999999999", "--after 0x1",
        "--after +1", "--limit -1", "--limit 0"}) {
    const ToolRun run = run_tool(std::string("log ") + bad + " --dir " + dir);
    EXPECT_EQ(run.status, 2) << bad << ": " << run.output;
  }
  // A leading zero is decimal, not octal: 09 is 9.
  const std::vector<std::string> lines = log_lines("--after 02 --dir " + dir);
  ASSERT_EQ(lines.size(), 1U);
  EXPECT_THAT(lines[0], HasSubstr("lsn=3 "));
  EXPECT_TRUE(log_lines("--after 09 --dir " + dir).empty());
  EXPECT_EQ(log_lines("--limit 09 --dir " + dir).size(), 3U);
  // The largest LSN: nothing can follow it, and that is not an error.
  EXPECT_TRUE(log_lines("--after 18446744073709551615 --dir " + dir).empty());
}

TEST(LogToolTest, ADirectoryThatIsNoStoreIsAnError) {
  const TempDir tmp;
  const ToolRun run = run_tool("log --dir " + (tmp / "nothing").string());
  EXPECT_EQ(run.status, 1) << run.output;
  EXPECT_THAT(run.output, HasSubstr("wfstore: "));
  EXPECT_THAT(run.output, HasSubstr("not a wfstore store"));
  EXPECT_NE(run_tool("log").status, 0);  // --dir is required
}

}  // namespace
}  // namespace wfstore
