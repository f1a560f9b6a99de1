// `wfstore salvage` run as a real process: the table and the --json
// document for an undamaged and a damaged store, the exit codes (0 nothing
// lost, 6 salvaged with losses, 1 no store, 2 a bad target, 5 a live
// writer), `wfstore verify` on every salvaged store, and the source left
// byte-identical by every run.

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "wfstore/database.h"

#include "tests/store/history_script.h"
#include "tests/testutil/run_tool.h"
#include "tests/testutil/sample_workflows.h"
#include "tests/testutil/store_test_util.h"
#include "tests/testutil/temp_dir.h"
#include "wfstore_internal/log_format.h"
#include "wfstore_internal/log_reader.h"
#include "wfstore_internal/store_dir.h"

namespace wfstore {
namespace {

using nlohmann::json;
using ::testing::HasSubstr;
using ::testing::Not;
using testutil::hash_files;
using testutil::read_file_bytes;
using testutil::read_log_commits;
using testutil::run_tool;
using testutil::TempDir;
using testutil::ToolRun;
using testutil::write_bytes;

class SalvageToolTest : public ::testing::Test {
 protected:
  // The scripted history, then 30 commits storing one workflow each.
  void SetUp() override {
    auto db = Database::open(dir_, testutil::quiet_options());
    testutil::run_history_script(*db);
    for (int i = 0; i < 30; ++i) {
      db->workflow_store().store(
          testutil::diamond_workflow(fmt::format("wf-{:02}", i)));
    }
    db->close();
    commits_ = read_log_commits(dir_);
    last_lsn_ = commits_.back().last_lsn();
  }

  // Flips a payload byte of the commit `from_end` commits before the last;
  // returns it.
  log::Commit damage(std::size_t from_end) {
    const log::Commit hit = commits_[commits_.size() - 1 - from_end];
    const std::filesystem::path file = dir_ / "log" / hit.segment;
    std::string bytes = read_file_bytes(file);
    bytes[hit.offset + log::kHeaderSize + 70] ^= 0x20;
    write_bytes(file, bytes);
    return hit;
  }

  // Runs `wfstore <args>`, checking that the source store did not change.
  ToolRun run(const std::string& args, bool with_stderr = true) {
    const auto before = hash_files(dir_);
    ToolRun result = run_tool(args, with_stderr);
    EXPECT_EQ(hash_files(dir_), before) << args << ": the source changed";
    return result;
  }

  std::string salvage_args(const std::filesystem::path& out) const {
    return fmt::format("salvage --dir '{}' --out '{}'", dir_.string(),
                       out.string());
  }

  // `wfstore verify --json` of `dir`, expecting it to pass.
  static json verified(const std::filesystem::path& dir) {
    const ToolRun v =
        run_tool(fmt::format("verify --dir '{}' --json", dir.string()), false);
    EXPECT_EQ(v.status, 0) << v.output;
    return v.status == 0 ? json::parse(v.output) : json();
  }

  TempDir temp_;
  std::filesystem::path dir_ = temp_ / "store";
  std::filesystem::path out_ = temp_ / "salvaged";
  std::vector<log::Commit> commits_;
  std::uint64_t last_lsn_ = 0;
};

TEST_F(SalvageToolTest, UndamagedStoreIsCopiedWholeAndExitsZero) {
  const ToolRun table = run(salvage_args(out_), false);
  ASSERT_EQ(table.status, 0) << table.output;
  EXPECT_THAT(table.output,
              HasSubstr(fmt::format("salvaged:      lsn 1..{} ({} commits",
                                    last_lsn_, commits_.size())));
  EXPECT_THAT(table.output, HasSubstr("lost:          nothing"));
  EXPECT_THAT(table.output, HasSubstr("stopped:       the log ends"));
  EXPECT_THAT(table.output, Not(HasSubstr("damage:")));
  const json v = verified(out_);
  EXPECT_EQ(v.at("last_lsn"), last_lsn_);
  EXPECT_EQ(v.at("head_hash"), log::to_hex(commits_.back().hash));
  EXPECT_TRUE(std::filesystem::exists(out_ / "SALVAGE"));
  EXPECT_TRUE(std::filesystem::exists(out_ / "ORIGIN"));

  const std::filesystem::path out2 = temp_ / "salvaged-json";
  const ToolRun doc = run(salvage_args(out2) + " --json", false);
  ASSERT_EQ(doc.status, 0) << doc.output;
  const json report = json::parse(doc.output);
  const std::set<std::string> keys = {"out",
                                      "nothing_lost",
                                      "store_id",
                                      "source_store_id",
                                      "last_lsn",
                                      "head_hash",
                                      "commits",
                                      "events",
                                      "commits_from_side_files",
                                      "side_files_used",
                                      "side_files",
                                      "stop_reason",
                                      "highest_known_lsn",
                                      "evidence",
                                      "lost",
                                      "lost_events",
                                      "workflows",
                                      "workflows_complete",
                                      "lost_events_without_workflow",
                                      "discarded_commits",
                                      "segments",
                                      "segments_skipped",
                                      "foreign_segments",
                                      "source_bytes",
                                      "bytes_lost",
                                      "damages",
                                      "segments_written",
                                      "bytes_written",
                                      "seconds"};
  std::set<std::string> got;
  for (const auto& [key, value] : report.items()) got.insert(key);
  EXPECT_EQ(got, keys);
  EXPECT_EQ(report.at("out"), out2.string());
  EXPECT_TRUE(report.at("nothing_lost").get<bool>());
  EXPECT_EQ(report.at("last_lsn"), last_lsn_);
  EXPECT_EQ(report.at("highest_known_lsn"), last_lsn_);
  EXPECT_EQ(report.at("lost"), json::array());
  EXPECT_EQ(report.at("lost_events"), 0);
  EXPECT_EQ(report.at("bytes_lost"), 0);
  EXPECT_EQ(report.at("evidence").at("log commits"), last_lsn_);
  EXPECT_EQ(report.at("evidence").at("views applied_lsn"), last_lsn_);
  EXPECT_EQ(report.at("head_hash"), log::to_hex(commits_.back().hash));
  // Each salvage is a new store: a new id, the source's id recorded.
  const json v2 = verified(out2);
  EXPECT_EQ(v2.at("store_id"), report.at("store_id"));
  EXPECT_NE(report.at("store_id"), report.at("source_store_id"));
  EXPECT_NE(report.at("store_id"), v.at("store_id"));
  EXPECT_EQ(json::parse(read_file_bytes(out2 / "SALVAGE")).at("store_id"),
            report.at("store_id"));
}

TEST_F(SalvageToolTest, DamagedStoreExitsSixAndNamesTheLoss) {
  const log::Commit hit = damage(10);
  const ToolRun doc = run(salvage_args(out_) + " --json", false);
  ASSERT_EQ(doc.status, 6) << doc.output;
  const json report = json::parse(doc.output);
  EXPECT_FALSE(report.at("nothing_lost").get<bool>());
  EXPECT_EQ(report.at("last_lsn"), hit.first_lsn - 1);
  EXPECT_EQ(report.at("highest_known_lsn"), last_lsn_);
  EXPECT_EQ(report.at("lost_events"), last_lsn_ - hit.first_lsn + 1);
  // The damaged commit's LSNs are unreadable, the ten after it were read.
  const json& lost = report.at("lost");
  ASSERT_EQ(lost.size(), 2u) << lost.dump();
  EXPECT_EQ(lost[0].at("first_lsn"), hit.first_lsn);
  EXPECT_EQ(lost[0].at("last_lsn"), hit.last_lsn());
  EXPECT_FALSE(lost[0].at("readable").get<bool>());
  EXPECT_EQ(lost[1].at("first_lsn"), hit.last_lsn() + 1);
  EXPECT_EQ(lost[1].at("last_lsn"), last_lsn_);
  EXPECT_TRUE(lost[1].at("readable").get<bool>());
  EXPECT_EQ(lost[1].at("commits"), 10);
  // The eleven workflows stored by the lost commits, known from the views
  // of the clean close and (all but the damaged one) from the log.
  std::set<std::string> workflows;
  for (const json& w : report.at("workflows")) {
    workflows.insert(w.at("workflow_id").get<std::string>());
    EXPECT_EQ(w.at("known_from"),
              w.at("workflow_id") == "wf-19" ? "views" : "log+views");
  }
  std::set<std::string> expected;
  for (int i = 19; i < 30; ++i) expected.insert(fmt::format("wf-{:02}", i));
  EXPECT_EQ(workflows, expected);
  EXPECT_TRUE(report.at("workflows_complete").get<bool>());
  ASSERT_FALSE(report.at("damages").empty());
  EXPECT_EQ(report.at("damages")[0].at("file"), hit.segment);
  EXPECT_EQ(report.at("damages")[0].at("offset"), hit.offset);
  EXPECT_EQ(report.at("damages")[0].at("reason"), "checksum mismatch");
  const json v = verified(out_);
  EXPECT_EQ(v.at("last_lsn"), hit.first_lsn - 1);
  // stats tells a salvage and its loss.
  const ToolRun stats =
      run_tool(fmt::format("stats --dir '{}' --json", out_.string()), false);
  ASSERT_EQ(stats.status, 0) << stats.output;
  const json brief = json::parse(stats.output).at("salvage");
  EXPECT_EQ(brief.at("lost_events"), last_lsn_ - hit.first_lsn + 1);
  EXPECT_EQ(brief.at("last_lsn"), hit.first_lsn - 1);
  EXPECT_EQ(brief.at("source_store_id"), report.at("source_store_id"));
  const ToolRun stats_table =
      run_tool(fmt::format("stats --dir '{}'", out_.string()), false);
  EXPECT_THAT(
      stats_table.output,
      HasSubstr(fmt::format("salvage of:     {} up to lsn {}; lost {} "
                            "events through lsn {}",
                            report.at("source_store_id").get<std::string>(),
                            hit.first_lsn - 1, last_lsn_ - hit.first_lsn + 1,
                            last_lsn_)));
  EXPECT_EQ(
      json::parse(
          run_tool(fmt::format("stats --dir '{}' --json", dir_.string()), false)
              .output)
          .at("salvage"),
      nullptr);

  // The table names the same loss.
  const ToolRun table = run(salvage_args(temp_ / "table"), false);
  ASSERT_EQ(table.status, 6) << table.output;
  EXPECT_THAT(table.output,
              HasSubstr(fmt::format("lost:          lsn {}..{} (unreadable)",
                                    hit.first_lsn, hit.last_lsn())));
  EXPECT_THAT(table.output,
              HasSubstr(fmt::format("lsn {}..{} (read past the damage: 10 "
                                    "whole commits, not copied)",
                                    hit.last_lsn() + 1, last_lsn_)));
  EXPECT_THAT(table.output, HasSubstr("workflows:     wf-19 (1 events"));
  EXPECT_THAT(table.output, HasSubstr(fmt::format("damage:        {} offset {}",
                                                  hit.segment, hit.offset)));
  EXPECT_THAT(
      table.output,
      HasSubstr(fmt::format("no whole commit holds lsn {}", hit.first_lsn)));
  verified(temp_ / "table");
}

TEST_F(SalvageToolTest, BadInputIsAClearErrorWithItsExitCode) {
  // The target exists and is not empty: usage (2), the target untouched.
  std::filesystem::create_directories(out_);
  write_bytes(out_ / "keep", "mine");
  ToolRun r = run(salvage_args(out_));
  EXPECT_EQ(r.status, 2) << r.output;
  EXPECT_THAT(r.output, HasSubstr("exists and is not an empty directory"));
  EXPECT_EQ(read_file_bytes(out_ / "keep"), "mine");
  // The target is the store, inside it, or holds it: usage (2).
  for (const std::filesystem::path& bad :
       {dir_, dir_ / "inner", dir_.parent_path()}) {
    r = run(salvage_args(bad));
    EXPECT_EQ(r.status, 2) << bad << ": " << r.output;
    EXPECT_THAT(r.output, HasSubstr("the store it reads")) << bad;
  }
  EXPECT_FALSE(std::filesystem::exists(dir_ / "inner"));
  // The source is no store or missing: 1, nothing created.
  const std::filesystem::path fresh = temp_ / "fresh";
  for (const std::filesystem::path& source :
       {temp_ / "missing", temp_.path()}) {
    r = run_tool(fmt::format("salvage --dir '{}' --out '{}'", source.string(),
                             fresh.string()));
    EXPECT_EQ(r.status, 1) << source << ": " << r.output;
    EXPECT_THAT(r.output, HasSubstr("wfstore:")) << source;
    EXPECT_FALSE(std::filesystem::exists(fresh));
  }
  // --out missing: usage.
  r = run(fmt::format("salvage --dir '{}'", dir_.string()));
  EXPECT_EQ(r.status, 2) << r.output;
  // A live writer: 5, nothing created.
  {
    auto db = Database::open(dir_, testutil::quiet_options());
    r = run_tool(salvage_args(fresh));
    EXPECT_EQ(r.status, 5) << r.output;
    EXPECT_THAT(r.output, HasSubstr("offline"));
    EXPECT_FALSE(std::filesystem::exists(fresh));
    db->close();
  }
  r = run(salvage_args(fresh));
  EXPECT_EQ(r.status, 0) << r.output;
}

}  // namespace
}  // namespace wfstore
