// FaultFileSystem: each injected fault, the call counters, the sync hook, and
// the power-cut model (synced data always survives; unsynced pages and
// directory entries may not).

#include "tests/testutil/fault_file_system.h"

#include <atomic>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "wfstore/errors.h"

#include "tests/testutil/temp_dir.h"

namespace wfstore::testutil {
namespace {

using ::testing::HasSubstr;
using ::testing::ThrowsMessage;

constexpr int kSeeds = 64;

// Bytes that differ from zero and from their neighbours' pages.
std::string pattern(std::size_t n, char salt) {
  std::string s(n, '\0');
  for (std::size_t i = 0; i < n; ++i)
    s[i] = static_cast<char>('A' + (i + static_cast<unsigned char>(salt)) % 26);
  return s;
}

class FaultFileSystemTest : public ::testing::Test {
 protected:
  // Power-cut loops model durability; real fsyncs would only make them slow.
  void SetUp() override { fs_.set_real_syncs(false); }

  // Writes `data` to a new file at dir_/name, syncs it, and syncs the
  // directory.
  void write_durable(const std::string& name, const std::string& data) {
    fs_.remove(dir_ / name);
    auto file = fs_.open_writable(dir_ / name);
    file->append(data);
    file->sync();
    file->close();
    fs_.sync_dir(dir_.path());
  }

  std::string read(const std::string& name) {
    return fs_.read_file(dir_ / name);
  }

  TempDir dir_;
  FaultFileSystem fs_;
};

// Bytes written over synced ones (write_at) are durable only once synced: a
// power cut keeps, page by page, the new bytes or the old ones, never a mix
// within a page and never anything else; past the synced length the usual
// page lottery applies.
TEST_F(FaultFileSystemTest, OverwritesOfSyncedBytesSurviveOrRevertPageByPage) {
  constexpr std::size_t kPage = FaultFileSystem::kPageSize;
  const std::string old = std::string(4 * kPage, '\0');
  const std::string fresh = pattern(2 * kPage + 100, 'w');
  const std::size_t at = kPage / 2;
  std::set<std::string> outcomes;
  for (int seed = 0; seed < kSeeds; ++seed) {
    write_durable("f", old);
    auto file = fs_.open_writable(dir_ / "f");
    ASSERT_TRUE(file->supports_write_at());
    file->write_at(at, fresh);
    EXPECT_EQ(file->size(), old.size());
    fs_.power_cut(static_cast<std::uint32_t>(seed));
    const std::string after = read("f");
    ASSERT_EQ(after.size(), old.size());
    std::string expected_new = old;
    expected_new.replace(at, fresh.size(), fresh);
    std::string mask;
    for (std::size_t page = 0; page < 4; ++page) {
      const std::string got = after.substr(page * kPage, kPage);
      const bool is_new = got == expected_new.substr(page * kPage, kPage);
      const bool is_old = got == old.substr(page * kPage, kPage);
      ASSERT_TRUE(is_new || is_old) << seed << " page " << page;
      mask += is_new ? 'n' : 'o';
    }
    outcomes.insert(mask);
  }
  EXPECT_GT(outcomes.size(), 2u);  // the pages are decided apart
  // Once synced, the new bytes always survive.
  for (int seed = 0; seed < 8; ++seed) {
    write_durable("f", old);
    auto file = fs_.open_writable(dir_ / "f");
    file->write_at(at, fresh);
    file->sync();
    file->write_at(old.size(), "tail");  // unsynced, past the synced length
    fs_.power_cut(static_cast<std::uint32_t>(seed));
    const std::string after = read("f");
    ASSERT_GE(after.size(), old.size());
    EXPECT_EQ(after.substr(at, fresh.size()), fresh) << seed;
  }
  auto file = fs_.open_writable(dir_ / "f");
  EXPECT_THAT([&] { file->write_at(file->size() + 1, "x"); },
              ThrowsMessage<IOError>(HasSubstr("past the end")));
}

TEST_F(FaultFileSystemTest, PassesThroughAndCountsCalls) {
  auto file = fs_.open_writable(dir_ / "a");
  file->append("hello");
  file->append(" world");
  file->sync();
  file->truncate(5);
  EXPECT_EQ(file->size(), 5u);
  file->close();
  fs_.sync_dir(dir_.path());
  fs_.rename(dir_ / "a", dir_ / "b");
  EXPECT_EQ(read("b"), "hello");
  auto reader = fs_.open_readable(dir_ / "b");
  char buf[8];
  EXPECT_EQ(reader->read(1, 8, buf), 4u);
  EXPECT_EQ(fs_.list_dir(dir_.path()), std::vector<std::string>{"b"});
  fs_.remove(dir_ / "b");
  EXPECT_FALSE(fs_.exists(dir_ / "b"));

  const FaultStats stats = fs_.stats();
  EXPECT_EQ(stats.appends, 2u);
  EXPECT_EQ(stats.bytes_appended, 11u);
  EXPECT_EQ(stats.file_syncs, 1u);
  EXPECT_EQ(stats.dir_syncs, 1u);
  EXPECT_EQ(stats.truncates, 1u);
  EXPECT_EQ(stats.renames, 1u);
  EXPECT_EQ(stats.removes, 1u);
  fs_.reset_stats();
  EXPECT_EQ(fs_.stats().appends, 0u);
}

TEST_F(FaultFileSystemTest, FailNthWriteWritesNothing) {
  fs_.fail_nth_write(2);
  auto file = fs_.open_writable(dir_ / "a");
  file->append("a");
  EXPECT_THAT([&] { file->append("b"); },
              ThrowsMessage<IOError>("write " + (dir_ / "a").string() +
                                     ": Input/output error (injected)"));
  file->append("c");
  EXPECT_EQ(read("a"), "ac");
  EXPECT_EQ(file->size(), 2u);
  EXPECT_EQ(fs_.stats().appends, 3u);
  EXPECT_EQ(fs_.stats().bytes_appended, 2u);
}

TEST_F(FaultFileSystemTest, FaultsCountOnlyMatchingPaths) {
  fs_.fail_nth_write(1, name_ends_with(".log"));
  auto other = fs_.open_writable(dir_ / "x.tmp");
  other->append("fine");
  other->append("fine");
  auto log = fs_.open_writable(dir_ / "1.log");
  EXPECT_THROW(log->append("lost"), IOError);
  log->append("kept");
  EXPECT_EQ(read("1.log"), "kept");
  EXPECT_EQ(read("x.tmp"), "finefine");
}

TEST_F(FaultFileSystemTest, ShortWritePersistsAPrefixThenFails) {
  fs_.short_write_nth(1, 3);
  auto file = fs_.open_writable(dir_ / "a");
  EXPECT_THAT([&] { file->append("abcdef"); },
              ThrowsMessage<IOError>(HasSubstr("short write (injected)")));
  EXPECT_EQ(file->size(), 3u);
  EXPECT_EQ(read("a"), "abc");
  file->append("g");
  EXPECT_EQ(read("a"), "abcg");
}

TEST_F(FaultFileSystemTest, EnospcFillsTheBudgetThenKeepsFailing) {
  fs_.enospc_after(5);
  auto file = fs_.open_writable(dir_ / "a");
  file->append("abc");
  EXPECT_THAT([&] { file->append("defg"); },
              ThrowsMessage<IOError>(HasSubstr("No space left")));
  EXPECT_THAT([&] { file->append("x"); },
              ThrowsMessage<IOError>(HasSubstr("No space left")));
  EXPECT_EQ(read("a"), "abcde");
  EXPECT_EQ(file->size(), 5u);
  file->append("");
  fs_.clear_faults();
  file->append("x");
  EXPECT_EQ(read("a"), "abcdex");
}

TEST_F(FaultFileSystemTest, FailedSyncLeavesDataUnsynced) {
  write_durable("a", "");
  int lost = 0;
  for (int seed = 0; seed < kSeeds; ++seed) {
    auto file = fs_.open_writable(dir_ / "a");
    file->truncate(0);
    file->append(pattern(3 * FaultFileSystem::kPageSize, 'a'));
    fs_.fail_nth_sync(1);
    EXPECT_THAT([&] { file->sync(); },
                ThrowsMessage<IOError>(
                    HasSubstr("fdatasync " + (dir_ / "a").string())));
    fs_.power_cut(random_seed() + static_cast<std::uint32_t>(seed));
    if (read("a").size() < 3 * FaultFileSystem::kPageSize) ++lost;
  }
  EXPECT_GT(lost, 0);
}

// sync_file makes what a writable handle wrote durable, as that handle's own
// sync would (a reader process syncing a writer's log); a failed one leaves
// it unsynced, and a missing file is IOError.
TEST_F(FaultFileSystemTest, SyncFileMakesWhatAnotherHandleWroteDurable) {
  write_durable("a", "");
  const std::string data = pattern(3 * FaultFileSystem::kPageSize, 'a');
  int lost_unsynced = 0;
  for (int seed = 0; seed < kSeeds; ++seed) {
    const std::uint32_t cut = random_seed() + static_cast<std::uint32_t>(seed);
    {
      auto file = fs_.open_writable(dir_ / "a");
      file->truncate(0);
      file->append(data);
      fs_.sync_file(dir_ / "a");
      file->append("b");
    }
    fs_.power_cut(cut);
    EXPECT_EQ(read("a").substr(0, data.size()), data) << seed;
    {
      auto file = fs_.open_writable(dir_ / "a");
      file->truncate(0);
      file->append(data);
      fs_.fail_nth_sync(1);
      EXPECT_THROW(fs_.sync_file(dir_ / "a"), IOError);
    }
    fs_.power_cut(cut);
    if (read("a").size() < data.size()) ++lost_unsynced;
  }
  EXPECT_GT(lost_unsynced, 0);
  EXPECT_THAT([&] { fs_.sync_file(dir_ / "missing"); },
              ThrowsMessage<IOError>(HasSubstr("missing")));
}

TEST_F(FaultFileSystemTest, FailNthRenameRenamesNothing) {
  write_durable("tmp", "new");
  write_durable("cur", "old");
  fs_.fail_nth_rename(1);
  EXPECT_THAT(
      [&] { fs_.rename(dir_ / "tmp", dir_ / "cur"); },
      ThrowsMessage<IOError>(HasSubstr("rename " + (dir_ / "tmp").string() +
                                       " to " + (dir_ / "cur").string())));
  EXPECT_EQ(read("tmp"), "new");
  EXPECT_EQ(read("cur"), "old");
  fs_.rename(dir_ / "tmp", dir_ / "cur");
  EXPECT_EQ(read("cur"), "new");
}

TEST_F(FaultFileSystemTest, FailedSyncDirLeavesCreationPending) {
  int vanished = 0;
  for (int seed = 0; seed < kSeeds; ++seed) {
    auto file = fs_.open_writable(dir_ / "a");
    file->append("x");
    file->sync();
    fs_.fail_nth_sync_dir(1);
    EXPECT_THROW(fs_.sync_dir(dir_.path()), IOError);
    fs_.power_cut(random_seed() + static_cast<std::uint32_t>(seed));
    if (!fs_.exists(dir_ / "a")) ++vanished;
    fs_.remove(dir_ / "a");
    fs_.sync_dir(dir_.path());
  }
  EXPECT_GT(vanished, 0);
}

TEST_F(FaultFileSystemTest, SyncHookRunsBeforeEachSyncWithoutLocks) {
  std::vector<std::filesystem::path> seen;
  fs_.set_sync_hook([&](const std::filesystem::path& path) {
    seen.push_back(path);
    // Would deadlock if the hook ran under the file system's lock.
    EXPECT_EQ(fs_.stats().file_syncs, seen.size() - 1);
  });
  auto a = fs_.open_writable(dir_ / "a");
  auto b = fs_.open_writable(dir_ / "b");
  a->sync();
  b->sync();
  a->sync();
  EXPECT_EQ(seen, (std::vector<std::filesystem::path>{dir_ / "a", dir_ / "b",
                                                      dir_ / "a"}));
  fs_.set_sync_hook({});
  a->sync();
  EXPECT_EQ(seen.size(), 3u);
}

// The core promise: synced bytes always survive; unsynced pages survive or read
// as zeros, independently, so a later page can survive an earlier lost one.
TEST_F(FaultFileSystemTest,
       PowerCutKeepsSyncedDataAndLosesUnsyncedPagesOutOfOrder) {
  const std::uint64_t page = FaultFileSystem::kPageSize;
  // Two unsynced pages: the rest of the page that holds the synced end, and one
  // more.
  const std::string synced = pattern(2 * page + 1000, 'x');
  const std::string unsynced = pattern(page + 2000, 'y');
  const std::string all = synced + unsynced;
  bool later_kept_after_earlier_lost = false;
  bool all_kept = false;
  bool all_lost = false;
  for (int i = 0; i < 2 * kSeeds; ++i) {
    fs_.remove(dir_ / "a");
    auto file = fs_.open_writable(dir_ / "a");
    fs_.sync_dir(dir_.path());
    file->append(synced);
    file->sync();
    file->append(unsynced);
    fs_.power_cut(random_seed() + static_cast<std::uint32_t>(i));

    const std::string after = read("a");
    ASSERT_GE(after.size(), synced.size());
    ASSERT_LE(after.size(), all.size());
    ASSERT_EQ(after.substr(0, synced.size()), synced) << "seed offset " << i;
    std::vector<bool> kept;
    for (std::uint64_t start = synced.size() / page * page; start < all.size();
         start += page) {
      const std::uint64_t from = std::max<std::uint64_t>(start, synced.size());
      const std::uint64_t to =
          std::min<std::uint64_t>(start + page, all.size());
      if (from >= after.size()) {
        kept.push_back(false);
        continue;
      }
      ASSERT_LE(to, after.size()) << "length ends inside a page";
      const std::string got = after.substr(from, to - from);
      const bool same = got == all.substr(from, to - from);
      ASSERT_TRUE(same || got == std::string(to - from, '\0'))
          << "page at " << start;
      kept.push_back(same);
    }
    if (after.size() > synced.size()) {
      ASSERT_NE(after.back(), '\0')
          << "the length must end at a surviving page";
    }
    bool lost_seen = false;
    for (bool k : kept) {
      if (!k) lost_seen = true;
      if (k && lost_seen) later_kept_after_earlier_lost = true;
    }
    all_kept |= after == all;
    all_lost |= after == synced;
  }
  EXPECT_TRUE(later_kept_after_earlier_lost);
  EXPECT_TRUE(all_kept);
  EXPECT_TRUE(all_lost);
}

TEST_F(FaultFileSystemTest, PowerCutLengthIsTheLastSurvivingPage) {
  const std::uint64_t page = FaultFileSystem::kPageSize;
  for (int i = 0; i < kSeeds; ++i) {
    fs_.remove(dir_ / "a");
    fs_.sync_dir(dir_.path());
    write_durable("a", "");
    auto file = fs_.open_writable(dir_ / "a");
    file->append(pattern(4 * page, 'z'));
    fs_.power_cut(random_seed() + static_cast<std::uint32_t>(i));
    const std::string after = read("a");
    ASSERT_EQ(after.size() % page, 0u);
    if (!after.empty()) {
      // The last page is there because it survived, so it is not zeros.
      EXPECT_NE(after.substr(after.size() - page), std::string(page, '\0'));
    }
  }
}

TEST_F(FaultFileSystemTest, UnsyncedCreationMayVanishSyncedNever) {
  std::set<bool> outcomes;
  for (int i = 0; i < kSeeds; ++i) {
    auto file = fs_.open_writable(dir_ / "new");
    file->append("data");
    file->sync();
    fs_.power_cut(random_seed() + static_cast<std::uint32_t>(i));
    const bool there = fs_.exists(dir_ / "new");
    if (there) {
      EXPECT_EQ(read("new"), "data");
    }
    outcomes.insert(there);
    fs_.remove(dir_ / "new");
    fs_.sync_dir(dir_.path());
  }
  EXPECT_EQ(outcomes, (std::set<bool>{false, true}));

  for (int i = 0; i < kSeeds; ++i) {
    write_durable("kept", "data");
    fs_.power_cut(random_seed() + static_cast<std::uint32_t>(i));
    ASSERT_EQ(read("kept"), "data");
  }
}

TEST_F(FaultFileSystemTest, UnsyncedRenameMayRevertToAnEarlierPoint) {
  std::set<std::string> outcomes;
  for (int i = 0; i < kSeeds; ++i) {
    write_durable("cur", "v1");
    auto tmp = fs_.open_writable(dir_ / "tmp");
    tmp->append("v2");
    tmp->sync();
    tmp->close();
    fs_.rename(dir_ / "tmp", dir_ / "cur");
    fs_.power_cut(random_seed() + static_cast<std::uint32_t>(i));
    std::string outcome = "cur=" + read("cur");
    if (fs_.exists(dir_ / "tmp")) outcome += " tmp=" + read("tmp");
    outcomes.insert(outcome);
    fs_.remove(dir_ / "tmp");
    fs_.sync_dir(dir_.path());
  }
  // Nothing, the creation of tmp, or the creation and the rename persisted.
  EXPECT_EQ(outcomes,
            (std::set<std::string>{"cur=v1", "cur=v1 tmp=v2", "cur=v2"}));
}

TEST_F(FaultFileSystemTest, SyncedRenameAlwaysPersists) {
  for (int i = 0; i < kSeeds; ++i) {
    write_durable("cur", "v1");
    write_durable("tmp", "v2");
    fs_.rename(dir_ / "tmp", dir_ / "cur");
    fs_.sync_dir(dir_.path());
    fs_.power_cut(random_seed() + static_cast<std::uint32_t>(i));
    ASSERT_EQ(read("cur"), "v2");
    ASSERT_FALSE(fs_.exists(dir_ / "tmp"));
  }
}

TEST_F(FaultFileSystemTest, UnsyncedRemoveMayComeBackWithItsDurableContent) {
  std::set<bool> outcomes;
  for (int i = 0; i < kSeeds; ++i) {
    write_durable("gone", "durable");
    fs_.remove(dir_ / "gone");
    fs_.power_cut(random_seed() + static_cast<std::uint32_t>(i));
    const bool back = fs_.exists(dir_ / "gone");
    if (back) {
      EXPECT_EQ(read("gone"), "durable");
    }
    outcomes.insert(back);
  }
  EXPECT_EQ(outcomes, (std::set<bool>{false, true}));
}

TEST_F(FaultFileSystemTest, FilesThatExistedBeforeCountAsDurable) {
  {
    auto file = posix_file_system()->open_writable(dir_ / "old");
    file->append("before");
  }
  for (int i = 0; i < kSeeds; ++i) {
    auto file = fs_.open_writable(dir_ / "old");
    file->append(pattern(2 * FaultFileSystem::kPageSize, 'q'));
    fs_.power_cut(random_seed() + static_cast<std::uint32_t>(i));
    ASSERT_EQ(read("old").substr(0, 6), "before");
    auto again = fs_.open_writable(dir_ / "old");
    again->truncate(6);
  }
}

TEST_F(FaultFileSystemTest, HandlesDieAtPowerCutAndLocksAreReleased) {
  auto writer = fs_.open_writable(dir_ / "a");
  writer->append("x");
  auto reader = fs_.open_readable(dir_ / "a");
  auto lock = fs_.try_lock(dir_ / "LOCK");
  ASSERT_NE(lock, nullptr);
  EXPECT_EQ(fs_.try_lock(dir_ / "LOCK"), nullptr);

  fs_.power_cut(random_seed());
  const auto died = ThrowsMessage<IOError>(HasSubstr("simulated crash"));
  EXPECT_THAT([&] { writer->append("y"); }, died);
  EXPECT_THAT([&] { writer->sync(); }, died);
  EXPECT_THAT([&] { writer->truncate(0); }, died);
  EXPECT_THAT([&] { writer->size(); }, died);
  EXPECT_THAT([&] { writer->close(); }, died);
  EXPECT_EQ(writer->path(), dir_ / "a");
  char buf[1];
  EXPECT_THAT([&] { reader->read(0, 1, buf); }, died);
  EXPECT_THAT([&] { reader->size(); }, died);

  auto relock = fs_.try_lock(dir_ / "LOCK");
  EXPECT_NE(relock, nullptr);
  lock.reset();  // The dead machine's lock going away must not free the new
                 // holder's.
  EXPECT_EQ(fs_.try_lock(dir_ / "LOCK"), nullptr);
}

TEST_F(FaultFileSystemTest,
       ProcessCrashKeepsUnsyncedDataButAPowerCutMayStillLoseIt) {
  std::set<bool> survived;
  for (int i = 0; i < kSeeds; ++i) {
    fs_.remove(dir_ / "a");
    write_durable("a", "");
    auto file = fs_.open_writable(dir_ / "a");
    file->append("unsynced");
    fs_.crash_process();
    EXPECT_THROW(file->append("more"), IOError);
    ASSERT_EQ(read("a"), "unsynced");
    fs_.power_cut(random_seed() + static_cast<std::uint32_t>(i));
    survived.insert(read("a") == "unsynced");
  }
  EXPECT_EQ(survived, (std::set<bool>{false, true}));
}

TEST_F(FaultFileSystemTest, TruncateIsDurableAtOnce) {
  for (int i = 0; i < kSeeds; ++i) {
    fs_.remove(dir_ / "a");
    write_durable("a", pattern(FaultFileSystem::kPageSize * 2, 't'));
    auto file = fs_.open_writable(dir_ / "a");
    file->truncate(100);
    file->append(std::string(50, '!'));
    fs_.power_cut(random_seed() + static_cast<std::uint32_t>(i));
    const std::string after = read("a");
    ASSERT_GE(after.size(), 100u);
    ASSERT_LE(after.size(), 150u);
    ASSERT_EQ(after.substr(0, 100), pattern(100, 't'));
  }
}

TEST_F(FaultFileSystemTest, ConcurrentWritersAreCountedExactly) {
  constexpr std::uint64_t kThreads = 4;
  constexpr std::uint64_t kAppends = 200;
  std::vector<std::thread> threads;
  threads.reserve(kThreads);
  for (std::uint64_t t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      auto file = fs_.open_writable(dir_ / ("f" + std::to_string(t)));
      for (std::uint64_t i = 0; i < kAppends; ++i) {
        file->append("abc");
        if (i % 10 == 0) file->sync();
      }
    });
  }
  for (auto& thread : threads) thread.join();
  const FaultStats stats = fs_.stats();
  EXPECT_EQ(stats.appends, kThreads * kAppends);
  EXPECT_EQ(stats.bytes_appended, 3 * kThreads * kAppends);
  EXPECT_EQ(stats.file_syncs, kThreads * kAppends / 10);
  for (std::uint64_t t = 0; t < kThreads; ++t) {
    EXPECT_EQ(read("f" + std::to_string(t)).size(), 3u * kAppends);
  }
}

TEST_F(FaultFileSystemTest, SameSeedSameOutcome) {
  auto run = [&](std::uint32_t seed) {
    fs_.remove(dir_ / "a");
    fs_.sync_dir(dir_.path());
    auto file = fs_.open_writable(dir_ / "a");
    file->append(pattern(8 * FaultFileSystem::kPageSize, 's'));
    fs_.power_cut(seed);
    return fs_.exists(dir_ / "a") ? read("a") : std::string("<none>");
  };
  const std::uint32_t seed = random_seed();
  EXPECT_EQ(run(seed), run(seed));
}

}  // namespace
}  // namespace wfstore::testutil
