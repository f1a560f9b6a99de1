// A full disk under the views: LMDB writes its data through a shared writable
// map, and a write to a page of it that has no block on disk raises SIGBUS
// where write() would return ENOSPC. A writer allocates the map's blocks at
// open and at each growth (lmdb::Env::open), so a commit whose views need
// more room than the disk has is refused with IOError: nothing is appended,
// the views are as they were, and the store stays usable. Each test runs in a
// child process with a mount namespace of its own, on a small file system
// mounted there (tmpfs, or ext4 on a loop device): root only, skipped
// elsewhere.

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <mutex>
#include <optional>
#include <ostream>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include "wfstore/database.h"
#include "wfstore/errors.h"
#include "wfstore/maintenance.h"
#include "wfstore/workflow_store.h"

#include "tests/testutil/child_process.h"
#include "tests/testutil/sample_workflows.h"
#include "tests/testutil/small_fs.h"
#include "tests/testutil/store_test_util.h"
#include "tests/testutil/temp_dir.h"

namespace wfstore {
namespace {

namespace fs = std::filesystem;

using FsKind = testutil::SmallFsKind;

struct Param {
  FsKind fs;
  Durability durability;
};

void PrintTo(const Param& param, std::ostream* out) {
  *out << (param.fs == FsKind::kTmpfs ? "tmpfs" : "ext4") << ", "
       << (param.durability == Durability::kSync ? "sync" : "buffered");
}

std::string param_name(const ::testing::TestParamInfo<Param>& info) {
  return fmt::format(
      "{}_{}", info.param.fs == FsKind::kTmpfs ? "Tmpfs" : "Ext4",
      info.param.durability == Durability::kSync ? "Sync" : "Buffered");
}

// Fills the file system of `dir` with `filler` until it has at most
// `leave_bytes` free.
void fill_leaving(const fs::path& filler, std::uint64_t leave_bytes) {
  {
    std::ofstream out(filler, std::ios::binary);
    const std::string chunk(1 << 16, 'f');
    while (
        out.write(chunk.data(), static_cast<std::streamsize>(chunk.size()))) {
    }
  }
  std::error_code ec;
  const std::uint64_t size = fs::file_size(filler, ec);
  if (ec) throw std::runtime_error("filler: " + ec.message());
  fs::resize_file(filler, size > leave_bytes ? size - leave_bytes : 0);
}

std::uint64_t free_bytes(const fs::path& path) {
  struct statvfs st {};
  if (::statvfs(path.c_str(), &st) != 0) throw std::runtime_error("statvfs");
  return static_cast<std::uint64_t>(st.f_bavail) * st.f_frsize;
}

// A failed check of a child's scenario: the child reports it and fails.
void expect(bool ok, const std::string& what) {
  if (!ok) throw std::runtime_error("check failed: " + what);
}

// Stores the diamond workflows wf-0 .. wf-19.
void store_twenty_workflows(Database& db) {
  for (int k = 0; k < 20; ++k) {
    db.workflow_store().store(
        testutil::diamond_workflow(fmt::format("wf-{}", k)));
  }
}

Workflow big_workflow(const std::string& id, std::size_t bytes) {
  Workflow w = testutil::diamond_workflow(id);
  w.context = nlohmann::json{{"big", std::string(bytes, 'x')}};
  return w;
}

class DiskFullTest : public ::testing::TestWithParam<Param> {};

// The child's scenario; each step reports a line, a failed check throws.
void scenario(const Param& param, const fs::path& root, int fd) {
  const fs::path dir = root / "store";
  const fs::path filler = root / "filler";
  DatabaseOptions options = testutil::quiet_options(param.durability);
  options.map_size = std::uint64_t{4} << 20;
  {
    auto db = Database::open(dir, options);
    WorkflowStore& store = db->workflow_store();
    store_twenty_workflows(*db);
    // 10 MiB left: the views may grow by 2 MiB (a growth leaves 8 MiB to
    // the log), too little for the 6 MB commit. Its views are folded before
    // its record is appended, so the refusal comes from the views' growth.
    fill_leaving(filler, std::uint64_t{10} << 20);
    const testutil::TableDump before = testutil::dump_all(*db);
    const std::uint64_t log_before = testutil::log_bytes(dir);
    const std::uint64_t free_before = free_bytes(root);
    bool refused = false;
    try {
      store.store(big_workflow("big", 6 << 20));
    } catch (const IOError& e) {
      refused = std::string(e.what()).find("no room on the disk") !=
                std::string::npos;
      testutil::report_line(fd, fmt::format("refused: {}", e.what()));
    }
    expect(refused, "a commit the views have no room for is refused");
    expect(testutil::dump_all(*db) == before, "the views are unchanged");
    expect(testutil::log_bytes(dir) == log_before, "nothing is appended");
    const std::uint64_t free_after = free_bytes(root);
    expect(free_after + (std::uint64_t{256} << 10) >= free_before,
           fmt::format("the refused commit's growths are given back ({} "
                       "bytes free before, {} after)",
                       free_before, free_after));
    expect(!store.retrieve("wf-3").id.empty(), "reads go on");
    for (int k = 0; k < 200; ++k) {
      store.store(testutil::diamond_workflow(fmt::format("small-{}", k)));
    }
    testutil::report_line(fd,
                          "200 small commits after the refusal are written");
    fs::remove(filler);
    store.store(big_workflow("big", 6 << 20));
    testutil::report_line(fd, "with room again the big commit is written");
    // Nearly full again: an open keeps the room its map has, and a growth
    // is refused.
    fill_leaving(filler, std::uint64_t{256} << 10);
    db->close();
  }
  {
    auto db = Database::open(dir, options);
    WorkflowStore& store = db->workflow_store();
    expect(store.retrieve("big").context.value().size() == 1, "reopened");
    bool refused = false;
    try {
      store.store(big_workflow("big-2", 6 << 20));
    } catch (const IOError& e) {
      refused = true;
      testutil::report_line(
          fd, fmt::format("refused after reopening: {}", e.what()));
    }
    expect(refused, "a growth on a full disk is refused after a reopen");
    db->close();
  }
  fs::remove(filler);
  const ViewsVerifyReport verify = verify_store_views(dir);
  expect(verify.equal(), "the views equal a rebuild of the log");
  testutil::report_line(fd, "done");
}

TEST_P(DiskFullTest, ACommitTheViewsHaveNoRoomForIsRefusedNotKilled) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to mount a file system";
  const Param param = GetParam();
  bool skipped = false;
  testutil::run_on_small_fs(
      param.fs, 48,
      [&](const fs::path& root, const fs::path&, int fd) {
        scenario(param, root, fd);
      },
      skipped);
  if (skipped) GTEST_SKIP();
}

class DiskFullOpenTest : public ::testing::TestWithParam<FsKind> {};

// A new store, and a rebuild's new views, on a disk with almost no room:
// LMDB writes lock.mdb's header through a mapping as it creates the file,
// which wfstore now allocates first. The open or the rebuild is refused with
// an error (or succeeds), and the process lives, at every amount of room.
TEST_P(DiskFullOpenTest, ANewStoreOrARebuildOnAFullDiskIsRefusedNotKilled) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to mount a file system";
  bool skipped = false;
  testutil::run_on_small_fs(
      GetParam(), 32,
      [](const fs::path& root, const fs::path&, int fd) {
        const fs::path dir = root / "store";
        const fs::path filler = root / "filler";
        DatabaseOptions options = testutil::quiet_options(Durability::kSync);
        options.map_size = std::uint64_t{1} << 20;
        {
          auto db = Database::open(dir, options);
          store_twenty_workflows(*db);
          db->close();
        }
        int refused = 0;
        for (const std::uint64_t room :
             std::vector<std::uint64_t>{0, 4, 8, 12, 16, 24, 32, 64, 128}) {
          fill_leaving(filler, room << 10);
          const fs::path fresh = root / fmt::format("new-{}", room);
          try {
            Database::open(fresh, options)->close();
          } catch (const Error&) {
            ++refused;
          }
          try {
            rebuild_store_views(dir);
          } catch (const Error&) {
            ++refused;
          }
          fs::remove(filler);
          fs::remove_all(fresh);
        }
        testutil::report_line(
            fd, fmt::format("{} opens and rebuilds refused", refused));
        if (refused == 0) throw std::runtime_error("none was refused");
        const ViewsVerifyReport verify = verify_store_views(dir);
        if (!verify.equal()) throw std::runtime_error("views differ");
        testutil::report_line(fd, "done");
      },
      skipped);
  if (skipped) GTEST_SKIP();
}

// A disk that fills commit by commit ends in refusals, the store healthy:
// the views refuse to grow into the last 8 MiB, a refold after the records
// are appended may (so the map filling only at LMDB's commit no longer fails
// the store: "view commit failed", about one run in four before), and a
// group whose records would leave less than 4 MiB free is refused before
// the log (the log's own write failed the writer on the disk's last bytes).
// A reopen recovers and the views equal a rebuild.
TEST(DiskFullFillTest, ADiskThatFillsCommitByCommitEndsInRefusals) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to mount a file system";
  bool skipped = false;
  testutil::run_on_small_fs(
      FsKind::kTmpfs, 48,
      [](const fs::path& root, const fs::path&, int fd) {
        for (int trial = 0; trial < 12; ++trial) {
          const fs::path dir = root / "store";
          const fs::path filler = root / "filler";
          DatabaseOptions options = testutil::quiet_options(
              trial % 2 == 0 ? Durability::kSync : Durability::kBuffered);
          options.map_size =
              (trial % 3 == 0 ? std::uint64_t{1} : std::uint64_t{4}) << 20;
          auto db = Database::open(dir, options);
          WorkflowStore& store = db->workflow_store();
          fill_leaving(filler, (std::uint64_t{19} << 20) / 2);
          int k = 0;
          std::string error;
          for (; k < 100000 && error.empty(); ++k) {
            try {
              store.store(testutil::diamond_workflow(fmt::format("wf-{}", k)));
            } catch (const IOError& e) {
              error = e.what();
            }
          }
          testutil::report_line(fd, fmt::format("trial {}: {} commits, then {}",
                                                trial, k, error));
          // A refusal, the store healthy: by the views (no room to grow) or
          // before the log (its records would leave less than the store
          // keeps free).
          const bool refused =
              error.find("no room on the disk") != std::string::npos &&
              store.is_healthy();
          if (!refused) {
            throw std::runtime_error("trial " + std::to_string(trial) +
                                     " ended otherwise: " + error);
          }
          if (store.retrieve("wf-0").id != "wf-0") {
            throw std::runtime_error("a read failed after the refusal");
          }
          try {
            db->close();
          } catch (const IOError&) {
          }
          db.reset();
          fs::remove(filler);
          // Reopened with room, the store recovers whatever was appended.
          Database::open(dir, options)->close();
          if (!verify_store_views(dir).equal()) {
            throw std::runtime_error("views differ from a rebuild");
          }
          fs::remove_all(dir);
        }
        testutil::report_line(fd, "done");
      },
      skipped);
  if (skipped) GTEST_SKIP();
}

// An open whose map (here 64 MiB, asked for after the disk filled) does not
// fit the disk's room with the log's reserve shrinks the map to the pages in
// use and opens: reads go on, a growth is refused, and with room again the
// store takes commits.
TEST(DiskFullShrinkTest, AnOpenWithoutRoomForItsMapShrinksIt) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to mount a file system";
  bool skipped = false;
  testutil::run_on_small_fs(
      FsKind::kTmpfs, 48,
      [](const fs::path& root, const fs::path&, int fd) {
        const fs::path dir = root / "store";
        const fs::path filler = root / "filler";
        DatabaseOptions options = testutil::quiet_options(Durability::kSync);
        options.map_size = std::uint64_t{4} << 20;
        {
          auto db = Database::open(dir, options);
          store_twenty_workflows(*db);
          db->close();
        }
        fill_leaving(filler, std::uint64_t{12} << 20);
        options.map_size = std::uint64_t{64} << 20;
        {
          auto db = Database::open(dir, options);
          const std::uint64_t map = fs::file_size(dir / "views" / "data.mdb");
          testutil::report_line(fd, fmt::format("map at open: {} bytes", map));
          // Below even the 4 MiB the store had: the pages in use.
          expect(map < (std::uint64_t{4} << 20),
                 "the map shrank to the pages in use");
          expect(!db->workflow_store().retrieve("wf-3").id.empty(),
                 "reads go on");
          bool refused = false;
          try {
            db->workflow_store().store(big_workflow("big", 6 << 20));
          } catch (const IOError& e) {
            refused = std::string(e.what()).find("no room on the disk") !=
                      std::string::npos;
          }
          expect(refused, "a growth past the room is refused");
          fs::remove(filler);
          db->workflow_store().store(big_workflow("big", 6 << 20));
          testutil::report_line(fd, "with room again the commit is written");
          db->close();
        }
        expect(verify_store_views(dir).equal(),
               "the views equal a rebuild of the log");
        testutil::report_line(fd, "done");
      },
      skipped);
  if (skipped) GTEST_SKIP();
}

// A file system that cannot allocate ahead (ext2: fallocate is EOPNOTSUPP)
// is used as before, without the guarantee: a map larger than the disk's
// room still opens and takes commits (its open failed with "Operation not
// supported").
TEST(DiskFullExt2Test, AFileSystemThatCannotAllocateAheadStillOpens) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to mount a file system";
  bool skipped = false;
  testutil::run_on_small_fs(
      FsKind::kExt2, 48,
      [](const fs::path& root, const fs::path&, int fd) {
        DatabaseOptions options = testutil::quiet_options(Durability::kSync);
        options.map_size = std::uint64_t{256} << 20;
        auto db = Database::open(root / "store", options);
        store_twenty_workflows(*db);
        db->close();
        testutil::report_line(fd, "done");
      },
      skipped);
  if (skipped) GTEST_SKIP();
}

// A clock that holds the first commit's group until released, so that the
// commits behind it queue and form the next group together.
class HoldingClock final : public Clock {
 public:
  std::int64_t now_ms() override {
    std::unique_lock lock(mu_);
    if (!held_once_) {
      held_once_ = true;
      cv_.wait(lock, [&] { return released_; });
    }
    return ++now_;
  }
  void release() {
    const std::scoped_lock lock(mu_);
    released_ = true;
    cv_.notify_all();
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool held_once_ = false;
  bool released_ = false;
  std::int64_t now_ = 1'000'000;
};

// A commit the views have no room for is refused alone: the small commit
// grouped behind it is written (it was refused with it).
TEST(DiskFullGroupTest, ACommitGroupedWithARefusedOneIsWritten) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to mount a file system";
  bool skipped = false;
  testutil::run_on_small_fs(
      FsKind::kTmpfs, 32,
      [](const fs::path& root, const fs::path&, int fd) {
        auto clock = std::make_shared<HoldingClock>();
        DatabaseOptions options = testutil::quiet_options(Durability::kSync);
        options.map_size = std::uint64_t{4} << 20;
        options.clock = clock;
        auto db = Database::open(root / "store", options);
        WorkflowStore& store = db->workflow_store();
        // Room for 2 MiB of growth beyond the log's 8 MiB: not for 8 MB.
        fill_leaving(root / "filler", std::uint64_t{10} << 20);
        const std::uint64_t groups_before = db->stats().groups;
        std::string big_error;
        bool small_written = false;
        std::thread first(
            [&] { store.store(testutil::diamond_workflow("first")); });
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
        std::thread big([&] {
          try {
            store.store(big_workflow("big", 8 << 20));
          } catch (const IOError& e) {
            big_error = e.what();
          }
        });
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
        std::thread small([&] {
          store.store(testutil::diamond_workflow("small"));
          small_written = true;
        });
        std::this_thread::sleep_for(std::chrono::milliseconds(200));
        clock->release();
        first.join();
        big.join();
        small.join();
        testutil::report_line(fd, "big: " + big_error);
        // The held first commit's group, then the big and the small one's.
        if (db->stats().groups != groups_before + 2) {
          throw std::runtime_error(fmt::format(
              "{} groups, not 2: the big and the small commit were not "
              "grouped",
              db->stats().groups - groups_before));
        }
        if (big_error.find("no room on the disk") == std::string::npos) {
          throw std::runtime_error("the big commit was not refused for room");
        }
        if (!small_written || store.retrieve("small").id != "small") {
          throw std::runtime_error("the small commit was not written");
        }
        db->close();
        testutil::report_line(fd, "done");
      },
      skipped);
  if (skipped) GTEST_SKIP();
}

INSTANTIATE_TEST_SUITE_P(FileSystems, DiskFullOpenTest,
                         ::testing::Values(FsKind::kTmpfs, FsKind::kExt4),
                         [](const ::testing::TestParamInfo<FsKind>& p) {
                           return std::string(
                               p.param == FsKind::kTmpfs ? "Tmpfs" : "Ext4");
                         });

INSTANTIATE_TEST_SUITE_P(
    FileSystems, DiskFullTest,
    ::testing::Values(Param{FsKind::kTmpfs, Durability::kSync},
                      Param{FsKind::kTmpfs, Durability::kBuffered},
                      Param{FsKind::kExt4, Durability::kSync},
                      Param{FsKind::kExt4, Durability::kBuffered}),
    param_name);

}  // namespace
}  // namespace wfstore
