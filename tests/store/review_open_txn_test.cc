// Opening after crashes in the narrow windows of view creation and log repair:
// a store never refuses to open over files a crash can leave, and a log repair
// never destroys the bytes an earlier repair kept.

#include <algorithm>
#include <chrono>
#include <csignal>
#include <fstream>
#include <functional>
#include <iterator>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/wait.h>

#include "wfstore/database.h"
#include "wfstore/errors.h"
#include "wfstore/maintenance.h"

#include "events/log/log_recovery.h"
#include "store/commit_pipeline.h"
#include "store/database_impl.h"
#include "tests/testutil/child_process.h"
#include "tests/testutil/file_bytes.h"
#include "tests/testutil/forwarding_file_system.h"
#include "tests/testutil/store_test_util.h"
#include "tests/testutil/temp_dir.h"
#include "wfstore_internal/log_reader.h"
#include "wfstore_internal/store_dir.h"

namespace wfstore {
namespace {

using testutil::TempDir;
using testutil::Warnings;

void append_bytes(const std::filesystem::path& path, const std::string& bytes) {
  std::ofstream f(path, std::ios::app | std::ios::binary);
  f << bytes;
}

// The contents of every side file of a cut in `log_dir`.
std::vector<std::string> side_file_contents(
    const std::filesystem::path& log_dir) {
  std::vector<std::string> out;
  for (const auto& entry : std::filesystem::directory_iterator(log_dir)) {
    if (entry.path().filename().string().find(log::kCutInfix) !=
        std::string::npos) {
      out.push_back(testutil::read_file_bytes(entry.path()));
    }
  }
  return out;
}

// The real file system, calling `hook` once before the first read of
// VIEWS_STATE.
class HookedFileSystem final : public testutil::ForwardingFileSystem {
 public:
  explicit HookedFileSystem(std::function<void()> hook)
      : hook_(std::move(hook)) {}
  std::string read_file(const std::filesystem::path& path) const override {
    if (path.filename() == kViewsStateFileName && hook_) {
      std::exchange(hook_, nullptr)();
    }
    return real().read_file(path);
  }

 private:
  mutable std::function<void()> hook_;
};

// The real file system that kills the process (SIGKILL) just before its
// `kill_at`-th mutating operation (open_writable, append, sync, truncate,
// close of a written file, rename, remove, create_directories, sync_dir);
// 0 never kills. Counts across every file it opened.
class KillingFileSystem final : public testutil::ForwardingFileSystem {
 public:
  explicit KillingFileSystem(int kill_at) : kill_at_(kill_at) {}

  void step() {
    if (++count_ == kill_at_) ::raise(SIGKILL);
  }

  std::unique_ptr<WritableFile> open_writable(
      const std::filesystem::path& path) override {
    step();
    return std::make_unique<File>(real().open_writable(path), *this);
  }
  void rename(const std::filesystem::path& from,
              const std::filesystem::path& to) override {
    step();
    real().rename(from, to);
  }
  void remove(const std::filesystem::path& path) override {
    step();
    real().remove(path);
  }
  void create_directories(const std::filesystem::path& path) override {
    step();
    real().create_directories(path);
  }
  void sync_dir(const std::filesystem::path& path) override {
    step();
    real().sync_dir(path);
  }

 private:
  class File final : public WritableFile {
   public:
    File(std::unique_ptr<WritableFile> real, KillingFileSystem& fs)
        : real_(std::move(real)), fs_(fs) {}
    void append(std::string_view data) override {
      fs_.step();
      real_->append(data);
    }
    void write_at(std::uint64_t offset, std::string_view data) override {
      fs_.step();
      real_->write_at(offset, data);
    }
    bool supports_write_at() const override {
      return real_->supports_write_at();
    }
    void sync() override {
      fs_.step();
      real_->sync();
    }
    void truncate(std::uint64_t size) override {
      fs_.step();
      real_->truncate(size);
    }
    std::uint64_t size() const override { return real_->size(); }
    void close() override { real_->close(); }
    const std::filesystem::path& path() const override { return real_->path(); }

   private:
    std::unique_ptr<WritableFile> real_;
    KillingFileSystem& fs_;
  };

  int kill_at_;
  int count_ = 0;
};

class ReviewOpenTest : public ::testing::Test {
 protected:
  void TearDown() override { set_boot_id_for_testing(""); }

  DatabaseOptions options() {
    DatabaseOptions o;
    o.logger = warnings_.logger();
    o.map_size = std::uint64_t{1} << 22;
    return o;
  }

  std::unique_ptr<Database> open() { return Database::open(dir_, options()); }

  std::filesystem::path only_segment() {
    std::vector<std::filesystem::path> segments;
    for (const auto& entry :
         std::filesystem::directory_iterator(dir_ / "log")) {
      if (entry.path().filename().string().find(log::kCutInfix) ==
          std::string::npos) {
        segments.push_back(entry.path());
      }
    }
    EXPECT_EQ(segments.size(), 1u);
    return segments.empty() ? std::filesystem::path() : segments.front();
  }

  TempDir temp_;
  std::filesystem::path dir_ = temp_ / "store";
  Warnings warnings_;
};

// LMDB creates data.mdb empty and only then writes its meta pages: a crash
// (SIGKILL) of the first open of a store in between leaves an empty data.mdb
// beside a VIEWS_STATE of this boot that trusts the views. LMDB itself opens
// such a file as a new environment; the store must too, rather than fail every
// open (and every rebuild) with "Bad file descriptor" until a reboot.
TEST_F(ReviewOpenTest, EmptyDataMdbLeftByACrashWhileCreatingTheViewsOpens) {
  set_boot_id_for_testing("boot-a");
  {
    auto db = open();
    database_impl(*db).simulate_crash_for_testing();
  }
  std::filesystem::resize_file(dir_ / "views" / "data.mdb", 0);
  {
    auto db = open();
    db->workflow_store().mark_message_processed("m0");
    db->close();
  }
  auto db = open();
  EXPECT_TRUE(db->workflow_store().is_message_processed("m0"));
}

TEST_F(ReviewOpenTest, EmptyDataMdbLeftByACrashDoesNotFailTheRebuildTool) {
  set_boot_id_for_testing("boot-a");
  {
    auto db = open();
    database_impl(*db).simulate_crash_for_testing();
  }
  std::filesystem::resize_file(dir_ / "views" / "data.mdb", 0);
  const RebuildReport report = rebuild_store_views(dir_, warnings_.logger());
  EXPECT_EQ(report.applied_lsn, 0u);
  auto db = open();
  db->workflow_store().mark_message_processed("m0");
  EXPECT_TRUE(db->workflow_store().is_message_processed("m0"));
}

// After a repair the writer appends at the cut offset again, so a second torn
// tail can start at the same offset: its side file must not replace the one
// the first repair kept.
TEST_F(ReviewOpenTest, SecondTornTailAtTheSameOffsetKeepsTheFirstSideFile) {
  {
    auto db = open();
    db->workflow_store().mark_message_processed("m0");
    db->close();
  }
  const std::filesystem::path segment = only_segment();
  const std::string first =
      "\x01\x02\x03"
      "first-torn-write";
  const std::string second =
      "\x04\x05\x06"
      "second-torn-write-longer";
  append_bytes(segment, first);
  open()->close();
  append_bytes(segment, second);
  open()->close();
  std::vector<std::string> kept = side_file_contents(dir_ / "log");
  std::sort(kept.begin(), kept.end());
  std::vector<std::string> expected = {first, second};
  std::sort(expected.begin(), expected.end());
  EXPECT_EQ(kept, expected);
  // The same bytes cut again at the same offset (a repair redone after a
  // crash before its truncate) reuse their side file.
  append_bytes(segment, first);
  open()->close();
  kept = side_file_contents(dir_ / "log");
  EXPECT_EQ(kept.size(), 2u);
}

// After a reboot, views an unclean close left may be torn (here: stale, a
// valid environment missing the last commit). A read-only open racing with
// the writer's open, which deletes them, rebuilds and records a clean
// VIEWS_STATE of this boot, must not judge the views it opened by the
// VIEWS_STATE written after them: it reads VIEWS_STATE first, so it either
// refuses the old views or opens the rebuilt ones.
TEST_F(ReviewOpenTest, ReadOnlyOpenNeverTrustsViewsByALaterViewsState) {
  set_boot_id_for_testing("boot-a");
  const std::filesystem::path stale = temp_ / "stale-views";
  {
    auto db = open();
    db->workflow_store().mark_message_processed("m0");
    db->close();
  }
  std::filesystem::copy(dir_ / "views", stale);
  {
    auto db = open();
    db->workflow_store().mark_message_processed("m1");
    database_impl(*db).simulate_crash_for_testing();
  }
  std::filesystem::remove_all(dir_ / "views");
  std::filesystem::copy(stale, dir_ / "views");
  set_boot_id_for_testing("boot-b");
  DatabaseOptions reader_options = options();
  reader_options.file_system = std::make_shared<HookedFileSystem>([&] {
    // The writer's open runs between the reader's steps.
    auto writer = open();
    writer->close();
  });
  std::unique_ptr<Database> reader;
  try {
    reader = Database::open_read_only(dir_, reader_options);
  } catch (const CorruptionError& e) {
    // Refusing the old views is right too.
    EXPECT_THAT(e.what(), ::testing::HasSubstr("need a rebuild"));
    return;
  }
  EXPECT_TRUE(reader->workflow_store().is_message_processed("m0"));
  EXPECT_TRUE(reader->workflow_store().is_message_processed("m1"))
      << "the reader serves the old views of the unclean close";
}

// An empty store path names no directory: it is InvalidArgumentError naming
// the path, and nothing is created (not in the working directory either).
TEST_F(ReviewOpenTest, EmptyStorePathIsRejectedAndCreatesNothing) {
  const std::filesystem::path cwd = std::filesystem::current_path();
  std::filesystem::create_directory(temp_ / "cwd");
  std::filesystem::current_path(temp_ / "cwd");
  std::string error;
  try {
    Database::open("", options());
  } catch (const InvalidArgumentError& e) {
    error = e.what();
  } catch (const std::exception& e) {
    error = std::string("wrong error type: ") + e.what();
  }
  std::vector<std::string> created;
  for (const auto& entry : std::filesystem::directory_iterator(temp_ / "cwd")) {
    created.push_back(entry.path().filename().string());
  }
  std::filesystem::current_path(cwd);
  EXPECT_THAT(error, ::testing::HasSubstr("dir"));
  EXPECT_TRUE(created.empty()) << ::testing::PrintToString(created);
}

// A real SIGKILL before every file operation of an open that has the most to
// do: a torn log tail to cut (copied to a side file, then truncated) and views
// left by an unclean close before a reboot (deleted, VIEWS_STATE rewritten,
// views rebuilt and swapped in). After each kill the store opens, keeps every
// acknowledged commit, its views equal a rebuild, and the torn bytes are in a
// side file whenever they are gone from the segment.
TEST_F(ReviewOpenTest,
       SigkillAtEveryFileStepOfARepairingOpenLeavesAStoreThatOpens) {
  const std::filesystem::path origin = temp_ / "origin";
  const std::string garbage =
      "\x01\x02\x03"
      "torn-unsynced-write";
  set_boot_id_for_testing("boot-a");
  {
    auto db = Database::open(origin, options());
    for (int i = 0; i < 3; ++i)
      db->workflow_store().mark_message_processed(fmt::format("m{}", i));
    database_impl(*db).simulate_crash_for_testing();
  }
  {
    std::filesystem::path segment;
    for (const auto& e : std::filesystem::directory_iterator(origin / "log"))
      segment = e.path();
    append_bytes(segment, garbage);
  }
  set_boot_id_for_testing("boot-b");
  bool finished = false;
  int kills = 0;
  for (int kill_at = 1; kill_at < 200 && !finished; ++kill_at) {
    SCOPED_TRACE(fmt::format("killed before file operation {}", kill_at));
    std::filesystem::remove_all(dir_);
    std::filesystem::copy(origin, dir_,
                          std::filesystem::copy_options::recursive);
    testutil::ChildProcess child =
        testutil::ChildProcess::spawn([&](int report_fd) {
          DatabaseOptions o = options();
          o.logger = nullptr;
          o.file_system = std::make_shared<KillingFileSystem>(kill_at);
          auto db = Database::open(dir_, o);
          db->close();
          testutil::report_line(report_fd, "opened");
        });
    const int status = child.wait();
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0) finished = true;
    if (WIFSIGNALED(status)) ++kills;
    ASSERT_TRUE(finished || WIFSIGNALED(status))
        << testutil::describe_wait_status(status);
    {
      auto db = open();
      for (int i = 0; i < 3; ++i) {
        EXPECT_TRUE(
            db->workflow_store().is_message_processed(fmt::format("m{}", i)));
      }
      db->close();
    }
    const ViewsVerifyReport report = verify_store_views(dir_);
    EXPECT_TRUE(report.equal()) << ::testing::PrintToString(report.differences);
    const std::vector<std::string> kept = side_file_contents(dir_ / "log");
    EXPECT_NE(std::find(kept.begin(), kept.end(), garbage), kept.end());
    EXPECT_FALSE(std::filesystem::exists(dir_ / "views.rebuild"));
    EXPECT_FALSE(std::filesystem::exists(dir_ / "views.old"));
    if (HasFailure()) break;
  }
  EXPECT_TRUE(finished) << "the open never finished";
  // The copy, truncate, VIEWS_STATE and rebuild steps each got a kill.
  EXPECT_GE(kills, 10);
}

}  // namespace
}  // namespace wfstore
