// Opening a store after damage and crashes: a log repair is checked against
// what is known to be durable before any byte changes, cut bytes are kept in
// side files, the views' unclean-shutdown marker lives outside LMDB (views of
// an unclean close across a reboot are deleted and rebuilt without being
// read), rebuilds swap in fresh views, and every file is created private.

#include <csignal>
#include <fstream>
#include <iterator>
#include <map>
#include <memory>
#include <string>

#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "wfstore/database.h"
#include "wfstore/errors.h"
#include "wfstore/maintenance.h"

#include "events/log/log_recovery.h"
#include "store/commit_pipeline.h"
#include "store/database_impl.h"
#include "tests/testutil/child_process.h"
#include "tests/testutil/file_bytes.h"
#include "tests/testutil/log_test_util.h"
#include "tests/testutil/sample_workflows.h"
#include "tests/testutil/store_test_util.h"
#include "tests/testutil/temp_dir.h"
#include "wfstore_internal/log_reader.h"
#include "wfstore_internal/store_dir.h"
#include "wfstore_internal/view_recovery.h"

namespace wfstore {
namespace {

using ::testing::HasSubstr;
using ::testing::ThrowsMessage;
using testutil::TempDir;
using testutil::Warnings;

// Every regular file under `dir` (relative path -> bytes).
std::map<std::string, std::string> all_files(const std::filesystem::path& dir) {
  std::map<std::string, std::string> out;
  for (const auto& entry : std::filesystem::recursive_directory_iterator(dir)) {
    if (entry.is_regular_file()) {
      out[std::filesystem::relative(entry.path(), dir).string()] =
          testutil::read_file_bytes(entry.path());
    }
  }
  return out;
}

std::vector<log::Commit> read_commits(const std::filesystem::path& dir) {
  const StoreDir store =
      StoreDir::open_existing(posix_file_system(), dir, false);
  log::Reader reader(posix_file_system(), store.log_dir(), store.id(), 1,
                     nullptr);
  std::vector<log::Commit> commits;
  log::Commit commit;
  while (reader.next(&commit)) commits.push_back(commit);
  return commits;
}

unsigned mode_of(const std::filesystem::path& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return 0;
  return st.st_mode & 07777;
}

class OpenRecoveryTest : public ::testing::Test {
 protected:
  void TearDown() override {
    set_boot_id_for_testing("");
    set_rebuild_hooks_for_testing({});
  }

  DatabaseOptions options() {
    DatabaseOptions o;
    o.logger = warnings_.logger();
    o.map_size = std::uint64_t{1} << 22;  // data.mdb is as large as the map
    return o;
  }

  std::unique_ptr<Database> open() { return Database::open(dir_, options()); }
  // Creates the store with `o` under umask 0 (so that its modes come from
  // creation alone) and commits once.
  void create_without_umask(const DatabaseOptions& o) {
    const mode_t old_umask = ::umask(0);
    {
      auto db = Database::open(dir_, o);
      db->workflow_store().mark_message_processed("m0");
      db->close();
    }
    ::umask(old_umask);
  }

  // Three synced commits m0..m2, closed cleanly.
  void write_three_commits() {
    auto db = open();
    for (int i = 0; i < 3; ++i)
      db->workflow_store().mark_message_processed(fmt::format("m{}", i));
    db->close();
  }

  ViewsState views_state() {
    const StoreDir store =
        StoreDir::open_existing(posix_file_system(), dir_, false);
    const std::optional<ViewsState> state = store.read_views_state();
    EXPECT_TRUE(state.has_value());
    return state.value_or(ViewsState{});
  }

  // Zeroes the first pages of data.mdb: both meta pages and the root.
  void zero_first_pages_of_views() {
    std::fstream f(dir_ / "views" / "data.mdb",
                   std::ios::in | std::ios::out | std::ios::binary);
    const std::string zeros(4 * 4096, '\0');
    f.write(zeros.data(), static_cast<std::streamsize>(zeros.size()));
  }

  void expect_views_equal_a_rebuild() {
    const ViewsVerifyReport report = verify_store_views(dir_);
    EXPECT_TRUE(report.equal()) << ::testing::PrintToString(report.differences);
  }

  TempDir temp_;
  std::filesystem::path dir_ = temp_ / "store";
  Warnings warnings_;
};

// The last commit's record is damaged: recovery would cut it as a torn tail,
// ending the log at lsn 2, but the views know lsn 3 was acknowledged.
TEST_F(OpenRecoveryTest, RefusedOpenLeavesEveryFileByteIdentical) {
  write_three_commits();
  const std::vector<log::Commit> commits = read_commits(dir_);
  ASSERT_EQ(commits.size(), 3u);
  const std::filesystem::path segment = dir_ / "log" / commits.back().segment;
  // Every bit of the byte: a fixed value may be the one already there.
  log::testutil::flip_bit(segment, commits.back().offset + 20, 0xff);
  const std::map<std::string, std::string> before = all_files(dir_);
  EXPECT_THAT([&] { open(); }, ThrowsMessage<CorruptionError>(HasSubstr(
                                   "below the views' durable lsn 3")));
  EXPECT_EQ(all_files(dir_), before);
  // Twice: the refusal is stable, never a repair on the second try.
  EXPECT_THROW(open(), CorruptionError);
  EXPECT_EQ(all_files(dir_), before);
  EXPECT_THROW(rebuild_store_views(dir_, warnings_.logger()), CorruptionError);
  EXPECT_EQ(all_files(dir_), before);
}

// The views' durable LSN is not the only witness: VIEWS_STATE records the
// durable LSN too, so a refusal does not depend on LMDB pages.
TEST_F(OpenRecoveryTest, RefusalUsesTheDurableLsnOutsideLmdbWhenViewsAreGone) {
  write_three_commits();
  std::filesystem::remove_all(dir_ / "views");
  const std::vector<log::Commit> commits = read_commits(dir_);
  std::filesystem::resize_file(dir_ / "log" / commits.back().segment,
                               commits.back().offset + 10);
  const std::map<std::string, std::string> before = all_files(dir_);
  EXPECT_THAT([&] { open(); }, ThrowsMessage<CorruptionError>(HasSubstr(
                                   "below the views' durable lsn 3")));
  EXPECT_EQ(all_files(dir_), before);
}

TEST_F(OpenRecoveryTest, TornTailCutAtOpenIsMovedToASideFile) {
  write_three_commits();
  const std::vector<log::Commit> commits = read_commits(dir_);
  const std::filesystem::path segment = dir_ / "log" / commits.back().segment;
  const std::uint64_t end = std::filesystem::file_size(segment);
  const std::string garbage = "\x01\x02\x03torn-unsynced-write";
  {
    std::ofstream f(segment, std::ios::app | std::ios::binary);
    f << garbage;
  }
  auto db = open();
  EXPECT_TRUE(warnings_.contains("bytes of torn tail"));
  const std::filesystem::path side =
      dir_ / "log" / log::cut_file_name(segment.filename().string(), end);
  ASSERT_TRUE(std::filesystem::exists(side));
  EXPECT_EQ(testutil::read_file_bytes(side), garbage);
  EXPECT_EQ(mode_of(side), 0600u);
  EXPECT_EQ(std::filesystem::file_size(segment), end);
  EXPECT_TRUE(db->workflow_store().is_message_processed("m2"));
  db->workflow_store().mark_message_processed("m3");
  db->close();
  EXPECT_EQ(read_commits(dir_).size(), 4u);
  expect_views_equal_a_rebuild();
}

TEST_F(OpenRecoveryTest, MarkerOutsideLmdbRecordsOpenAndCleanClose) {
  set_boot_id_for_testing("boot-a");
  auto db = open();
  db->workflow_store().mark_message_processed("m0");
  ViewsState state = views_state();
  EXPECT_FALSE(state.clean);
  EXPECT_EQ(state.boot_id, "boot-a");
  db->close();
  state = views_state();
  EXPECT_TRUE(state.clean);
  EXPECT_EQ(state.boot_id, "boot-a");
  EXPECT_EQ(state.durable_lsn, 1u);
  EXPECT_EQ(mode_of(dir_ / std::string(kViewsStateFileName)), 0600u);
}

// A power cut tore the views' pages (they run NOSYNC|WRITEMAP|NOMETASYNC):
// after the reboot they are deleted and rebuilt, never read.
TEST_F(OpenRecoveryTest, TornViewsAfterAnUncleanCloseAcrossARebootAreRebuilt) {
  set_boot_id_for_testing("boot-a");
  {
    auto db = open();
    db->workflow_store().store(testutil::diamond_workflow("wf"));
    db->workflow_store().mark_message_processed("m0");
    database_impl(*db).simulate_crash_for_testing();
  }
  zero_first_pages_of_views();
  set_boot_id_for_testing("boot-b");
  auto db = open();
  EXPECT_TRUE(warnings_.contains("not closed cleanly before a reboot"))
      << ::testing::PrintToString(warnings_.messages());
  EXPECT_TRUE(db->workflow_store().exists("wf"));
  EXPECT_TRUE(db->workflow_store().is_message_processed("m0"));
  db->workflow_store().mark_message_processed("m1");
  db->close();
  expect_views_equal_a_rebuild();
}

TEST_F(OpenRecoveryTest, TornViewsWithoutAMarkerAreRebuiltWithoutAnError) {
  write_three_commits();
  std::filesystem::remove(dir_ / std::string(kViewsStateFileName));
  zero_first_pages_of_views();
  auto db = open();
  EXPECT_TRUE(warnings_.contains("no shutdown record"));
  EXPECT_TRUE(db->workflow_store().is_message_processed("m2"));
  db->close();
  expect_views_equal_a_rebuild();
}

TEST_F(OpenRecoveryTest, RebuildToolReplacesUnreadableViews) {
  write_three_commits();
  zero_first_pages_of_views();
  const RebuildReport report = rebuild_store_views(dir_, warnings_.logger());
  EXPECT_EQ(report.applied_lsn, 3u);
  EXPECT_TRUE(views_state().clean);
  expect_views_equal_a_rebuild();
  auto db = open();
  EXPECT_TRUE(db->workflow_store().is_message_processed("m2"));
}

TEST_F(OpenRecoveryTest, SameBootUncleanCloseTrustsTheViewsAndCatchesUp) {
  set_boot_id_for_testing("boot-a");
  {
    auto db = open();
    db->workflow_store().mark_message_processed("m0");
    database_impl(*db).simulate_crash_for_testing();
  }
  auto db = open();
  EXPECT_FALSE(warnings_.contains("rebuilding"));
  EXPECT_TRUE(db->workflow_store().is_message_processed("m0"));
}

TEST_F(OpenRecoveryTest, ViewsWithoutAMarkerAreRebuiltOnce) {
  write_three_commits();
  std::filesystem::remove(dir_ / std::string(kViewsStateFileName));
  {
    auto db = open();
    EXPECT_TRUE(warnings_.contains("no shutdown record"));
    EXPECT_TRUE(db->workflow_store().is_message_processed("m2"));
    db->close();
  }
  const std::size_t warned = warnings_.messages().size();
  auto db = open();
  EXPECT_EQ(warnings_.messages().size(), warned);
}

TEST_F(OpenRecoveryTest,
       ReadOnlyOpenRefusesViewsOfAnUncleanCloseAcrossAReboot) {
  set_boot_id_for_testing("boot-a");
  {
    auto db = open();
    db->workflow_store().mark_message_processed("m0");
    database_impl(*db).simulate_crash_for_testing();
  }
  set_boot_id_for_testing("boot-b");
  EXPECT_THAT([&] { Database::open_read_only(dir_, options()); },
              ThrowsMessage<CorruptionError>(
                  HasSubstr("not closed cleanly before a reboot")));
}

// While `wfstore rebuild` builds, readers keep the old, whole views: the new
// ones are built beside them and swapped in.
TEST_F(OpenRecoveryTest, ReadersNeverSeeHalfRebuiltViews) {
  {
    auto db = open();
    for (int i = 0; i < 50; ++i)
      db->workflow_store().mark_message_processed(fmt::format("m{}", i));
    db->close();
  }
  bool checked = false;
  RebuildHooks hooks;
  hooks.at_step = [&](std::string_view step) {
    if (step != "built") return;
    // The fresh views are complete but not yet in place; views/ is untouched.
    auto reader = Database::open_read_only(dir_, options());
    EXPECT_EQ(reader->workflow_store().get_processed_message_ids().size(), 50u);
    EXPECT_EQ(reader->stats().applied_lsn, 50u);
    checked = true;
  };
  set_rebuild_hooks_for_testing(hooks);
  const RebuildReport report = rebuild_store_views(dir_, warnings_.logger());
  EXPECT_TRUE(checked);
  EXPECT_EQ(report.applied_lsn, 50u);
  EXPECT_FALSE(std::filesystem::exists(dir_ / "views.rebuild"));
  EXPECT_FALSE(std::filesystem::exists(dir_ / "views.old"));
  expect_views_equal_a_rebuild();
  auto db = open();
  EXPECT_EQ(db->workflow_store().get_processed_message_ids().size(), 50u);
}

// A real crash (SIGKILL) at every step of a rebuild's swap leaves a store
// that opens, with views equal to a rebuild.
TEST_F(OpenRecoveryTest, CrashAtEveryStepOfARebuildLeavesAStoreThatOpens) {
  struct Case {
    std::string step;
    bool no_exchange;
  };
  const Case cases[] = {{"built", false},
                        {"swapped", false},
                        {"moved-old", true},
                        {"swapped", true}};
  for (const Case& c : cases) {
    SCOPED_TRACE(c.step + (c.no_exchange ? " (two renames)" : ""));
    std::filesystem::remove_all(dir_);
    {
      auto db = open();
      db->workflow_store().store(testutil::diamond_workflow("wf"));
      db->workflow_store().mark_message_processed("m0");
      db->close();
    }
    testutil::ChildProcess child =
        testutil::ChildProcess::spawn([&](int report_fd) {
          RebuildHooks hooks;
          hooks.no_exchange = c.no_exchange;
          hooks.at_step = [&](std::string_view step) {
            if (step == c.step) {
              testutil::report_line(report_fd, "dying");
              ::raise(SIGKILL);
            }
          };
          set_rebuild_hooks_for_testing(hooks);
          rebuild_store_views(dir_, nullptr);
        });
    const int status = child.wait();
    ASSERT_TRUE(WIFSIGNALED(status)) << "the child finished without the step";
    {
      auto db = open();
      EXPECT_TRUE(db->workflow_store().exists("wf"));
      EXPECT_TRUE(db->workflow_store().is_message_processed("m0"));
      db->workflow_store().mark_message_processed("m1");
      db->close();
    }
    EXPECT_FALSE(std::filesystem::exists(dir_ / "views.rebuild"));
    EXPECT_FALSE(std::filesystem::exists(dir_ / "views.old"));
    expect_views_equal_a_rebuild();
  }
}

TEST_F(OpenRecoveryTest, StoreFilesAndDirectoriesArePrivate) {
  create_without_umask(options());
  EXPECT_EQ(mode_of(dir_), 0700u);
  for (const char* d : {"log", "views"})
    EXPECT_EQ(mode_of(dir_ / d), 0700u) << d;
  for (const auto& [name, bytes] : all_files(dir_)) {
    EXPECT_EQ(mode_of(dir_ / name), 0600u) << name;
  }
  EXPECT_EQ(all_files(dir_).count("views/data.mdb"), 1u);
  EXPECT_EQ(all_files(dir_).count("LOCK"), 1u);
}

TEST_F(OpenRecoveryTest, FileModeOptionWidensModes) {
  DatabaseOptions o = options();
  o.file_mode = 0640;
  create_without_umask(o);
  EXPECT_EQ(mode_of(dir_), 0750u);
  for (const char* d : {"log", "views"})
    EXPECT_EQ(mode_of(dir_ / d), 0750u) << d;
  for (const auto& [name, bytes] : all_files(dir_)) {
    EXPECT_EQ(mode_of(dir_ / name), 0640u) << name;
  }
}

TEST_F(OpenRecoveryTest, InvalidFileModeIsRejectedAndCreatesNothing) {
  for (unsigned mode : {0400u, 0200u, 01600u, 0u}) {
    DatabaseOptions o = options();
    o.file_mode = mode;
    EXPECT_THAT([&] { Database::open(dir_, o); },
                ThrowsMessage<InvalidArgumentError>(HasSubstr("file_mode")))
        << mode;
    EXPECT_FALSE(std::filesystem::exists(dir_));
  }
}

}  // namespace
}  // namespace wfstore
