// The history commands of `wfstore` run as real processes on real stores:
// log with filters, show, diff, history, fork, stats, verify --json, export
// and import; tables and --json documents, the exit codes of every error
// class, and the commands on a store another process is writing.

#include <cstdint>
#include <filesystem>
#include <optional>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <unistd.h>

#include "wfstore/audit_scope.h"
#include "wfstore/database.h"
#include "wfstore/transaction.h"

#include "tests/testutil/child_process.h"
#include "tests/testutil/log_test_util.h"
#include "tests/testutil/run_tool.h"
#include "tests/testutil/sample_workflows.h"
#include "tests/testutil/store_test_util.h"
#include "tests/testutil/temp_dir.h"
#include "wfstore_internal/log_format.h"
#include "wfstore_internal/log_reader.h"
#include "wfstore_internal/log_writer.h"
#include "wfstore_internal/store_dir.h"

namespace wfstore {
namespace {

using nlohmann::json;
using ::testing::HasSubstr;
using ::testing::Not;
using testutil::run_tool;
using testutil::TempDir;
using testutil::ToolRun;

// 2026-12-05T10:00:00Z: the first commit's time; each later commit is one
// second later.
constexpr std::int64_t kTen = 1796464800000;

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

// Runs `wfstore <args>` (stdout only), expects exit 0, returns its lines.
std::vector<std::string> ok_lines(const std::string& args) {
  const ToolRun run = run_tool(args, false);
  EXPECT_EQ(run.status, 0) << args << ": " << run.output;
  return lines_of(run.output);
}

// Runs `wfstore <args>`, expects exit 0 and one JSON document.
json ok_json(const std::string& args) {
  const ToolRun run = run_tool(args, false);
  EXPECT_EQ(run.status, 0) << args << ": " << run.output;
  if (run.status != 0) return json();
  return json::parse(run.output);
}

// The LSNs of JSON Lines output.
std::vector<std::uint64_t> lsns_of(const std::vector<std::string>& lines) {
  std::vector<std::uint64_t> lsns;
  for (const std::string& line : lines) {
    lsns.push_back(json::parse(line).at("lsn").get<std::uint64_t>());
  }
  return lsns;
}

using Lsns = std::vector<std::uint64_t>;

// Every file of `dir` (name and bytes), to show that nothing changed.
std::string slurp_dir(const std::filesystem::path& dir) {
  std::string all;
  std::set<std::filesystem::path> names;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    names.insert(entry.path());
  }
  for (const std::filesystem::path& name : names) {
    all +=
        name.filename().string() + "\n" + log::testutil::read_file_bytes(name);
  }
  return all;
}

// A store of six events in five commits, at 10:00:00Z, :01, :02, :03, :04:
//   1 WorkflowStored wf-1 (alice, correlation rel-1)
//   2 WorkflowStored wf-2 (alice, correlation rel-1)
//   3 StageUpdated wf-1.deploy RUNNING -> SUCCEEDED (bob)
//   4 WorkflowPaused wf-1 (bob)
//   5 StageUpdated wf-1.deploy_verify -> RUNNING   } one commit (carol)
//   6 MessageProcessed m-1 of wf-1                 }
class HistoryToolTest : public ::testing::Test {
 protected:
  void SetUp() override {
    DatabaseOptions options;
    auto clock = std::make_shared<testutil::FakeClock>(kTen);
    options.clock = clock;
    auto db = Database::open(dir_, options);
    WorkflowStore& store = db->workflow_store();
    {
      AuditScope audit({"alice", "rel-1", "", "cli"});
      store.store(testutil::diamond_workflow("wf-1"));
      clock->advance(1000);
      store.store(testutil::diamond_workflow("wf-2"));
    }
    clock->advance(1000);
    AuditScope audit({"bob", "rel-2", "", "cli"});
    StageExecution deploy = store.retrieve_stage("wf-1.deploy").stage();
    deploy.status = WorkflowStatus::kSucceeded;
    store.store_stage(deploy);
    clock->advance(1000);
    store.pause("wf-1", "bob");
    clock->advance(1000);
    {
      AuditScope carol({"carol", "rel-3", "", "engine"});
      StageExecution verify =
          store.retrieve_stage("wf-1.deploy_verify").stage();
      verify.status = WorkflowStatus::kRunning;
      Transaction txn = store.transaction();
      txn.store_stage(verify);
      txn.mark_message_processed("m-1", "H", "wf-1");
      txn.commit();
    }
    db->close();
  }

  std::string d() const { return " --dir " + dir_.string(); }

  TempDir tmp_;
  std::filesystem::path dir_ = tmp_ / "store";
};

TEST_F(HistoryToolTest, HistoryPrintsOneLinePerEventOfTheWorkflow) {
  const std::vector<std::string> lines = ok_lines("history wf-1" + d());
  ASSERT_EQ(lines.size(), 5U);
  EXPECT_TRUE(std::regex_search(
      lines[0], std::regex("^ +1  2026-12-05T10:00:00\\.000Z  alice +"
                           "WorkflowStored +workflow:wf-1 +stored: status")))
      << lines[0];
  EXPECT_TRUE(std::regex_search(
      lines[1], std::regex("^ +3  2026-12-05T10:00:02\\.000Z  bob +"
                           "StageUpdated +stage:wf-1\\.deploy +status "
                           "SUCCEEDED, version [0-9]+")))
      << lines[1];
  EXPECT_THAT(lines[2], HasSubstr("WorkflowPaused"));
  EXPECT_THAT(lines[2], HasSubstr("paused by bob"));
  EXPECT_THAT(lines[3], HasSubstr("stage:wf-1.deploy_verify"));
  EXPECT_THAT(lines[4], HasSubstr("message m-1 processed by H"));

  // --json: the event_to_json documents, as `log --json` prints them.
  const std::vector<std::string> json_lines =
      ok_lines("history wf-1 --json" + d());
  EXPECT_EQ(lsns_of(json_lines), (Lsns{1, 3, 4, 5, 6}));
  const std::vector<std::string> log = ok_lines("log --json" + d());
  ASSERT_EQ(log.size(), 6U);
  EXPECT_EQ(json_lines[1], log[2]);
  EXPECT_EQ(json::parse(json_lines[1]).at("audit").at("actor"), "bob");

  const ToolRun unknown = run_tool("history nope" + d());
  EXPECT_EQ(unknown.status, 3) << unknown.output;
  EXPECT_THAT(unknown.output, HasSubstr("wfstore: workflow nope"));
}

TEST_F(HistoryToolTest, LogFiltersSelectEventsAsEventQueryDoes) {
  const auto lsns = [&](const std::string& filters) {
    return lsns_of(ok_lines("log --json " + filters + d()));
  };
  EXPECT_EQ(lsns("--workflow wf-2"), (Lsns{2}));
  EXPECT_EQ(lsns("--workflow wf-1"), (Lsns{1, 3, 4, 5, 6}));
  EXPECT_EQ(lsns("--type StageUpdated"), (Lsns{3, 5}));
  EXPECT_EQ(lsns("--type StageUpdated --type WorkflowPaused"), (Lsns{3, 4, 5}));
  EXPECT_EQ(lsns("--actor bob"), (Lsns{3, 4}));
  EXPECT_EQ(lsns("--correlation rel-1"), (Lsns{1, 2}));
  EXPECT_EQ(lsns("--from 2 --to 4"), (Lsns{3, 4}));
  EXPECT_EQ(lsns("--from 4"), (Lsns{5, 6}));
  EXPECT_EQ(lsns("--since 2026-12-05T10:00:02Z --until "
                 "'2026-12-05 11:00:03+01:00'"),
            (Lsns{3, 4}));
  EXPECT_EQ(lsns("--since 2026-12-05T10:00:03.001Z"), (Lsns{5, 6}));
  EXPECT_EQ(lsns("--entity stage:wf-1.deploy"), (Lsns{1, 3}));
  EXPECT_EQ(lsns("--entity workflow:wf-2"), (Lsns{2}));
  EXPECT_EQ(lsns("--desc --limit 2"), (Lsns{6, 5}));
  EXPECT_EQ(lsns("--workflow wf-1 --offset 1 --limit 2"), (Lsns{3, 4}));
  EXPECT_EQ(lsns("--workflow wf-1 --desc --offset 1"), (Lsns{5, 4, 3, 1}));
  EXPECT_TRUE(lsns("--actor nobody").empty());

  // The line format is the one of the unfiltered log.
  const std::vector<std::string> all = ok_lines("log" + d());
  EXPECT_EQ(ok_lines("log --type WorkflowPaused" + d()),
            std::vector<std::string>{all[3]});

  for (const char* bad : {"--type Bogus", "--entity nope:x", "--entity stage",
                          "--since "
                          "2026-12-05T10:00:00",
                          "--until yesterday", "--from 4 --to 2",
                          "--from 1 --after 1", "--offset -1", "--to 0x3"}) {
    const ToolRun run = run_tool(std::string("log ") + bad + d());
    EXPECT_EQ(run.status, 2) << bad << ": " << run.output;
  }
  EXPECT_THAT(run_tool("log --type Bogus" + d()).output,
              HasSubstr("StageUpdated"));  // names the types
}

// An empty filter value is a filter: `--actor ''` selects the events of
// commits without an actor (none here), as EventQuery's actor "" does, and an
// empty workflow id is refused as the API refuses it; neither prints the
// whole log.
TEST_F(HistoryToolTest, EmptyFilterValuesAreNotDropped) {
  EXPECT_TRUE(ok_lines("log --json --actor ''" + d()).empty());
  EXPECT_TRUE(ok_lines("log --json --correlation ''" + d()).empty());
  const ToolRun run = run_tool("log --workflow ''" + d());
  EXPECT_EQ(run.status, 2) << run.output;
  EXPECT_THAT(run.output, HasSubstr("workflow id is empty"));
}

TEST_F(HistoryToolTest, ShowPrintsTheWorkflowNowAndAsOfAPoint) {
  const json now = ok_json("show wf-1 --json" + d());
  EXPECT_EQ(now.at("id"), "wf-1");
  EXPECT_EQ(now.at("as_of_lsn"), 6);
  ASSERT_EQ(now.at("stages").size(), 7U);
  EXPECT_EQ(now.at("stages").at(3).at("status"), "SUCCEEDED");
  EXPECT_FALSE(now.at("paused").is_null());

  const std::vector<std::string> table = ok_lines("show wf-1" + d());
  ASSERT_FALSE(table.empty());
  EXPECT_EQ(table[0], "workflow wf-1 as of lsn 6");
  EXPECT_THAT(table, testing::Contains(HasSubstr("stages (7)")));
  EXPECT_THAT(table, testing::Contains(testing::AllOf(HasSubstr("deploy"),
                                                      HasSubstr("SUCCEEDED"))));

  const json at2 = ok_json("show wf-1 --at 2 --json" + d());
  EXPECT_EQ(at2.at("as_of_lsn"), 2);
  EXPECT_EQ(at2.at("stages").at(3).at("status"), "RUNNING");
  EXPECT_TRUE(at2.at("paused").is_null());
  // A time names the last commit at or before it; an LSN inside a commit
  // takes the whole commit.
  EXPECT_EQ(ok_json("show wf-1 --at 2026-12-05T10:00:03.500Z --json" + d())
                .at("as_of_lsn"),
            4);
  const json at5 = ok_json("show wf-1 --at 5 --json" + d());
  EXPECT_EQ(at5.at("as_of_lsn"), 6);
  json now_without_lsn = now;
  now_without_lsn.erase("as_of_lsn");
  json at5_without_lsn = at5;
  at5_without_lsn.erase("as_of_lsn");
  EXPECT_EQ(at5_without_lsn, now_without_lsn);

  EXPECT_EQ(run_tool("show nope" + d()).status, 3);
  EXPECT_EQ(run_tool("show wf-1 --at 7" + d()).status, 3);
  EXPECT_EQ(run_tool("show wf-2 --at 1" + d()).status, 3);  // not yet stored
  EXPECT_EQ(run_tool("show wf-1 --at 2026-12-05T09:00:00Z" + d()).status, 3);
  const ToolRun no_zone = run_tool("show wf-1 --at 2026-12-05T10:00:00" + d());
  EXPECT_EQ(no_zone.status, 2);
  EXPECT_THAT(no_zone.output, HasSubstr("2026-12-05T10:00:00+01:00"));
  EXPECT_EQ(run_tool("show wf-1 --at -1" + d()).status, 2);
}

// An empty workflow id is a usage error for every command that takes one,
// `show` without --at included (it said "does not exist", exit 3).
TEST_F(HistoryToolTest, AnEmptyWorkflowIdIsAUsageError) {
  for (const std::string& command :
       {std::string("show ''"), std::string("show '' --at 1"),
        std::string("history ''"), std::string("diff '' 1 2"),
        "export '' --out " + (tmp_ / "e.bundle").string()}) {
    const ToolRun run = run_tool(command + d());
    EXPECT_EQ(run.status, 2) << command << ": " << run.output;
  }
}

TEST_F(HistoryToolTest, DiffPrintsEachChangedFieldWithItsEvent) {
  const json diff = ok_json("diff wf-1 1 6 --json" + d());
  EXPECT_EQ(diff.at("workflow_id"), "wf-1");
  EXPECT_EQ(diff.at("from_lsn"), 1);
  EXPECT_EQ(diff.at("to_lsn"), 6);
  bool found = false;
  for (const json& change : diff.at("changes")) {
    if (change.at("entity").at("id") != "wf-1.deploy" ||
        change.at("field") != "status") {
      continue;
    }
    found = true;
    EXPECT_EQ(change.at("entity").at("kind"), "stage");
    EXPECT_EQ(change.at("before"), "RUNNING");
    EXPECT_EQ(change.at("after"), "SUCCEEDED");
    EXPECT_EQ(change.at("lsn"), 3);
    EXPECT_EQ(change.at("timestamp"), kTen + 2000);
    EXPECT_EQ(change.at("type"), "StageUpdated");
    EXPECT_EQ(change.at("audit").at("actor"), "bob");
  }
  EXPECT_TRUE(found) << diff.dump(2);

  // Times name the same points.
  EXPECT_EQ(ok_json("diff wf-1 2026-12-05T10:00:00Z 2026-12-05T10:00:09Z "
                    "--json" +
                    d()),
            diff);
  const std::vector<std::string> lines = ok_lines("diff wf-1 1 6" + d());
  EXPECT_THAT(lines, testing::Contains(testing::AllOf(
                         HasSubstr("stage:wf-1.deploy"), HasSubstr("status"),
                         HasSubstr("RUNNING -> SUCCEEDED"), HasSubstr("lsn 3"),
                         HasSubstr("bob"), HasSubstr("StageUpdated"))));
  EXPECT_TRUE(ok_json("diff wf-1 6 6 --json" + d()).at("changes").empty());

  EXPECT_EQ(run_tool("diff nope 1 6" + d()).status, 3);
  EXPECT_EQ(run_tool("diff wf-1 1 99" + d()).status, 3);
  EXPECT_EQ(run_tool("diff wf-1 6 1" + d()).status, 2);
  EXPECT_EQ(run_tool("diff wf-1 1 soon" + d()).status, 2);
}

TEST_F(HistoryToolTest, ForkEndsAtTheCommitThatHoldsTheLsn) {
  const std::string before = slurp_dir(dir_ / "log");
  const std::filesystem::path out = tmp_ / "fork";
  const ToolRun run =
      run_tool("fork --at 5 --out " + out.string() + d(), false);
  ASSERT_EQ(run.status, 0) << run.output;
  EXPECT_THAT(run.output, HasSubstr("at lsn 6 (requested 5"));
  EXPECT_THAT(run.output, HasSubstr("new store id: "));
  EXPECT_EQ(slurp_dir(dir_ / "log"), before);  // untouched

  const json fork_stats = ok_json("stats --json --dir " + out.string());
  const json stats = ok_json("stats --json" + d());
  EXPECT_NE(fork_stats.at("store_id"), stats.at("store_id"));
  EXPECT_EQ(fork_stats.at("applied_lsn"), 6);
  EXPECT_EQ(fork_stats.at("fork_of").at("source_store_id"),
            stats.at("store_id"));
  EXPECT_EQ(ok_json("verify --json --dir " + out.string()).at("ok"), true);

  const json at3 = ok_json("fork --json --at 2026-12-05T10:00:02Z --out " +
                           (tmp_ / "f3").string() + d());
  EXPECT_EQ(at3.at("last_lsn"), 3);
  EXPECT_EQ(ok_json("show wf-1 --json --dir " + (tmp_ / "f3").string())
                .at("stages")
                .at(3)
                .at("status"),
            "SUCCEEDED");

  // The target exists and is not empty; no point; beyond the end.
  EXPECT_EQ(run_tool("fork --at 3 --out " + out.string() + d()).status, 2);
  EXPECT_EQ(
      run_tool("fork --at 0 --out " + (tmp_ / "f0").string() + d()).status, 3);
  EXPECT_EQ(
      run_tool("fork --at 7 --out " + (tmp_ / "f7").string() + d()).status, 3);
  EXPECT_FALSE(std::filesystem::exists(tmp_ / "f0"));
  EXPECT_FALSE(std::filesystem::exists(tmp_ / "f7"));
}

TEST_F(HistoryToolTest, StatsJsonHasTheDocumentedKeys) {
  const json stats = ok_json("stats --json" + d());
  ASSERT_TRUE(stats.at("workflows").is_number_integer());
  EXPECT_EQ(stats.at("workflows"), 2);
  EXPECT_EQ(stats.at("events_by_type"), (json{{"WorkflowStored", 2},
                                              {"StageUpdated", 2},
                                              {"WorkflowPaused", 1},
                                              {"MessageProcessed", 1}}));
  EXPECT_EQ(stats.at("applied_lsn"), 6);
  EXPECT_EQ(stats.at("durable_lsn"), 6);
  EXPECT_EQ(stats.at("events"), 6);
  const std::string checksum = stats.at("view_checksum");
  EXPECT_TRUE(std::regex_match(checksum, std::regex("[0-9a-f]{64}")));
  EXPECT_EQ(checksum, ok_json("verify --json" + d()).at("checksum"));
  EXPECT_EQ(stats.at("tables").at("workflows"), 2);
  EXPECT_EQ(stats.at("tables").at("stages"), 14);
  EXPECT_EQ(stats.at("log_segments"), 1);
  EXPECT_EQ(stats.at("log_bytes"), testutil::log_bytes(dir_));
  EXPECT_GT(stats.at("map_bytes").get<std::uint64_t>(),
            stats.at("map_used_bytes").get<std::uint64_t>());
  EXPECT_TRUE(stats.at("fork_of").is_null());

  const std::vector<std::string> lines = ok_lines("stats" + d());
  EXPECT_THAT(lines, testing::Contains("workflows:      2"));
  EXPECT_THAT(lines, testing::Contains("view checksum:  " + checksum));
  EXPECT_THAT(lines,
              testing::Contains(testing::MatchesRegex(" +StageUpdated +2")));
}

TEST_F(HistoryToolTest, VerifyJsonIsOneDocumentAndPlainKeepsItsLines) {
  const json doc = ok_json("verify --json" + d());
  EXPECT_EQ(doc.at("ok"), true);
  EXPECT_EQ(doc.at("last_lsn"), 6);
  EXPECT_EQ(doc.at("commits"), 5);
  EXPECT_TRUE(doc.at("error").is_null());
  EXPECT_EQ(doc.at("checksum"), doc.at("rebuilt_checksum"));
  EXPECT_TRUE(doc.at("differences").empty());
  const std::vector<std::string> lines = ok_lines("verify" + d());
  EXPECT_THAT(lines, testing::Contains("last lsn:  6"));
  EXPECT_THAT(lines, testing::Contains("head hash: " +
                                       doc.at("head_hash").get<std::string>()));
  EXPECT_THAT(lines, testing::Contains("checksum:  " +
                                       doc.at("checksum").get<std::string>()));
}

TEST_F(HistoryToolTest, ExportAndImportIntoAFreshStoreRoundTrip) {
  const std::filesystem::path bundle = tmp_ / "wf-1.bundle";
  const json exported =
      ok_json("export wf-1 --json --out " + bundle.string() + d());
  EXPECT_EQ(exported.at("workflow_id"), "wf-1");
  EXPECT_EQ(exported.at("events"), 5);
  EXPECT_EQ(exported.at("bytes"), std::filesystem::file_size(bundle));

  const std::filesystem::path fresh = tmp_ / "fresh";  // missing
  const json imported =
      ok_json("import --json " + bundle.string() + " --dir " + fresh.string());
  EXPECT_EQ(imported.at("sha256"), exported.at("sha256"));
  json original = ok_json("show wf-1 --json" + d());
  json copy = ok_json("show wf-1 --json --dir " + fresh.string());
  original.erase("as_of_lsn");
  copy.erase("as_of_lsn");
  EXPECT_EQ(copy, original);
  EXPECT_EQ(ok_json("verify --json --dir " + fresh.string()).at("ok"), true);

  // Into an empty directory too.
  std::filesystem::create_directories(tmp_ / "empty");
  EXPECT_EQ(run_tool("import " + bundle.string() + " --dir " +
                     (tmp_ / "empty").string())
                .status,
            0);

  // The store already holds the workflow: refused, nothing changed.
  const std::string log_before = slurp_dir(fresh / "log");
  EXPECT_EQ(
      run_tool("import " + bundle.string() + " --dir " + fresh.string()).status,
      2);
  EXPECT_EQ(slurp_dir(fresh / "log"), log_before);

  // A damaged bundle: 4, and no store created.
  std::string bytes = log::testutil::read_file_bytes(bundle);
  bytes[bytes.size() / 2] = static_cast<char>(bytes[bytes.size() / 2] ^ 0x10);
  const std::filesystem::path damaged = tmp_ / "damaged.bundle";
  log::testutil::spit(damaged, bytes);
  const ToolRun bad = run_tool("import " + damaged.string() + " --dir " +
                               (tmp_ / "other").string());
  EXPECT_EQ(bad.status, 4) << bad.output;
  EXPECT_FALSE(std::filesystem::exists(tmp_ / "other"));
  // Not a bundle: 2. No such file: 3. The bundle exists: 2. Unknown id: 3.
  log::testutil::spit(tmp_ / "text", "hello");
  EXPECT_EQ(run_tool("import " + (tmp_ / "text").string() + " --dir " +
                     (tmp_ / "other").string())
                .status,
            2);
  EXPECT_EQ(run_tool("import " + (tmp_ / "none").string() + " --dir " +
                     (tmp_ / "other").string())
                .status,
            3);
  EXPECT_EQ(run_tool("export wf-1 --out " + bundle.string() + d()).status, 2);
  EXPECT_EQ(run_tool("export nope --out " + (tmp_ / "n.bundle").string() + d())
                .status,
            3);
}

TEST_F(HistoryToolTest, EveryCommandExitsOneForADirectoryThatIsNoStore) {
  const std::string none = " --dir " + (tmp_ / "nothing").string();
  for (const std::string& command : std::vector<std::string>{
           "log", "log --workflow wf-1", "show wf-1", "diff wf-1 1 2",
           "history wf-1", "fork --at 1 --out " + (tmp_ / "f").string(),
           "stats", "verify", "verify --json",
           "export wf-1 --out " + (tmp_ / "b").string()}) {
    const ToolRun run = run_tool(command + none);
    EXPECT_EQ(run.status, 1) << command << ": " << run.output;
    EXPECT_THAT(run.output, HasSubstr("not a wfstore store")) << command;
  }
  // Missing arguments are usage errors, and --help names the exit codes.
  for (const char* command : {"show", "diff wf-1 1", "history", "fork --at 1",
                              "stats", "export", "import", "show wf-1 --dir"}) {
    EXPECT_EQ(run_tool(command).status, 2) << command;
  }
  const ToolRun help = run_tool("history --help");
  EXPECT_EQ(help.status, 0);
  EXPECT_THAT(help.output, HasSubstr("3 not found"));
  EXPECT_THAT(help.output, HasSubstr("4 the store or file is damaged"));
}

// `import` into a path that is an empty regular file: not a store (1), the
// file left as it was; a bundle path that is a directory: no bundle (2), and
// no store created.
TEST_F(HistoryToolTest, ImportRefusesAFileAsStoreAndADirectoryAsBundle) {
  const std::filesystem::path bundle = tmp_ / "wf-1.bundle";
  ASSERT_EQ(run_tool("export wf-1 --out " + bundle.string() + d()).status, 0);
  const std::filesystem::path file = tmp_ / "empty-file";
  log::testutil::spit(file, "");
  const ToolRun into_file =
      run_tool("import " + bundle.string() + " --dir " + file.string());
  EXPECT_EQ(into_file.status, 1) << into_file.output;
  EXPECT_THAT(into_file.output, HasSubstr("not a wfstore store"));
  EXPECT_TRUE(std::filesystem::is_regular_file(file));

  const std::filesystem::path target = tmp_ / "target";
  const ToolRun from_dir =
      run_tool("import " + tmp_.path().string() + " --dir " + target.string());
  EXPECT_EQ(from_dir.status, 2) << from_dir.output;
  EXPECT_THAT(from_dir.output, HasSubstr("not a wfstore bundle"));
  EXPECT_FALSE(std::filesystem::exists(target));
}

TEST_F(HistoryToolTest, ImportIntoALockedStoreIsOtherError) {
  const std::filesystem::path bundle = tmp_ / "wf-1.bundle";
  ASSERT_EQ(run_tool("export wf-1 --out " + bundle.string() + d()).status, 0);
  const std::filesystem::path target = tmp_ / "target";
  auto writer = Database::open(target);
  const ToolRun run =
      run_tool("import " + bundle.string() + " --dir " + target.string());
  EXPECT_EQ(run.status, 5) << run.output;
  EXPECT_FALSE(writer->workflow_store().exists("wf-1"));
}

TEST_F(HistoryToolTest, DamagedViewsAreExitFour) {
  // A views file that is not LMDB: opening the store for reading fails as
  // damage.
  log::testutil::spit(dir_ / "views" / "data.mdb", std::string(8192, '\x5a'));
  const ToolRun run = run_tool("stats" + d());
  EXPECT_EQ(run.status, 4) << run.output;
  EXPECT_THAT(run.output, HasSubstr("wfstore: "));
}

// A child process that keeps committing to the store: the commands read it
// meanwhile (read-only opens; the writer holds the LOCK).
class LiveWriter {
 public:
  explicit LiveWriter(const std::filesystem::path& dir)
      : child_(testutil::ChildProcess::spawn([dir](int fd) {
          auto db = Database::open(dir);
          WorkflowStore& store = db->workflow_store();
          for (int i = 0;; ++i) {
            StageExecution stage =
                store.retrieve_stage("wf-2.deploy_verify").stage();
            stage.context.mutable_value()["i"] = i;
            store.store_stage(stage);
            if (i == 20) {
              const char line[] = "ready\n";
              if (::write(fd, line, sizeof(line) - 1) < 0) return;
            }
          }
        })) {
    EXPECT_EQ(child_.read_line(), "ready");
  }

 private:
  testutil::ChildProcess child_;
};

TEST_F(HistoryToolTest, CommandsReadAStoreAnotherProcessIsWriting) {
  LiveWriter writer(dir_);
  EXPECT_EQ(lsns_of(ok_lines("log --json --workflow wf-1" + d())),
            (Lsns{1, 3, 4, 5, 6}));
  EXPECT_GE(ok_lines("log --type StageUpdated --json" + d()).size(), 22U);
  EXPECT_EQ(ok_lines("history wf-1" + d()).size(), 5U);
  EXPECT_GE(ok_lines("history wf-2" + d()).size(), 22U);
  EXPECT_EQ(ok_json("show wf-1 --json" + d()).at("stages").size(), 7U);
  const json stats = ok_json("stats --json" + d());
  EXPECT_GE(stats.at("applied_lsn").get<std::uint64_t>(), 27U);
  EXPECT_GE(stats.at("events_by_type").at("StageUpdated").get<std::uint64_t>(),
            22U);
  EXPECT_EQ(ok_json("verify --json" + d()).at("ok"), true);
}

TEST_F(HistoryToolTest, ForkDiffAndExportReadAStoreAnotherProcessIsWriting) {
  LiveWriter writer(dir_);
  EXPECT_EQ(ok_json("show wf-2 --at 10 --json" + d()).at("as_of_lsn"), 10);
  EXPECT_FALSE(ok_json("diff wf-2 2 10 --json" + d()).at("changes").empty());
  const json fork =
      ok_json("fork --json --at 12 --out " + (tmp_ / "fork").string() + d());
  EXPECT_EQ(fork.at("last_lsn"), 12);
  EXPECT_EQ(
      ok_json("verify --json --dir " + (tmp_ / "fork").string()).at("last_lsn"),
      12);
  const json exported =
      ok_json("export wf-1 --json --out " + (tmp_ / "b").string() + d());
  EXPECT_EQ(exported.at("events"), 5);
}

// A store whose log has several segments of 12 commits, written by the log
// writer (no views): the damage tests of verify through the CLI.
class VerifyDamageToolTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const StoreDir store = StoreDir::create_or_open(posix_file_system(), dir_);
    log::WriterOptions options;
    options.roll_bytes = 900;
    auto w = log::Writer::open(posix_file_system(), store.log_dir(), store.id(),
                               options);
    for (std::uint64_t lsn = 1; lsn <= 24; lsn += 2) {
      w->append(lsn, 2, 1000 + static_cast<std::int64_t>(lsn),
                log::testutil::body_for(lsn, 150));
    }
    w->sync();
    store_id_ = store.id();
    segments_ = log::list_segments(*posix_file_system(), store.log_dir());
    ASSERT_GT(segments_.size(), 3U);
    ok_ = run_tool("verify --dir " + dir_.string());
    ASSERT_EQ(ok_.status, 0) << ok_.output;
  }

  std::filesystem::path segment(std::size_t i) const {
    return dir_ / "log" / log::segment_file_name(segments_[i]);
  }

  // Runs verify plain and with --json: both exit 1, name `what`.
  void expect_caught(const std::string& what) {
    const ToolRun plain = run_tool("verify --dir " + dir_.string());
    EXPECT_EQ(plain.status, 1) << plain.output;
    EXPECT_THAT(plain.output, HasSubstr("wfstore: "));
    EXPECT_THAT(plain.output, HasSubstr(what));
    const ToolRun doc = run_tool("verify --json --dir " + dir_.string(), false);
    EXPECT_EQ(doc.status, 1) << doc.output;
    const json report = json::parse(doc.output);
    EXPECT_EQ(report.at("ok"), false);
    EXPECT_THAT(report.at("error").get<std::string>(), HasSubstr(what));
  }

  TempDir tmp_;
  std::filesystem::path dir_ = tmp_ / "store";
  StoreId store_id_;
  std::vector<std::uint64_t> segments_;
  ToolRun ok_;
};

TEST_F(VerifyDamageToolTest, ATamperedEventWithARecomputedCrcIsCaught) {
  // The first commit of the second segment: its record follows the segment
  // header record.
  const std::filesystem::path path = segment(1);
  const std::string bytes = log::testutil::read_file_bytes(path);
  const std::uint64_t offset = log::kHeaderSize + log::kSegmentHeaderSize;
  log::testutil::rewrite_record(path, offset, [](std::string& payload) {
    payload[log::kCommitFixedSize + 10] ^= 0x20;
  });
  ASSERT_NE(log::testutil::read_file_bytes(path), bytes);
  expect_caught("hash does not match");
}

TEST_F(VerifyDamageToolTest, ARemovedSegmentIsCaught) {
  std::filesystem::remove(segment(1));
  expect_caught("missing or reordered");
}

TEST_F(VerifyDamageToolTest, ReorderedSegmentsAreCaught) {
  // Swap the names of the second and third segments.
  const std::filesystem::path second = segment(1);
  const std::filesystem::path third = segment(2);
  std::filesystem::rename(second, tmp_ / "swap");
  std::filesystem::rename(third, second);
  std::filesystem::rename(tmp_ / "swap", third);
  expect_caught(segment(1).filename().string());
}

}  // namespace
}  // namespace wfstore
