// StoreDir: creating a store, refusing foreign, damaged and newer directories
// without writing anything, the writer LOCK within and across processes, and
// crash durability of the STORE file.

#include "wfstore_internal/store_dir.h"

#include <fstream>
#include <map>
#include <optional>
#include <regex>
#include <string>
#include <tuple>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include "wfstore/errors.h"

#include "tests/testutil/child_process.h"
#include "tests/testutil/fault_file_system.h"
#include "tests/testutil/file_bytes.h"
#include "tests/testutil/temp_dir.h"
#include "wfstore_internal/crc32c.h"

namespace wfstore {
namespace {

using ::testing::HasSubstr;
using ::testing::ThrowsMessage;

// Every entry under a directory (the directory itself included) with its type,
// size, modification time and content: equal snapshots mean nothing was
// written.
using Snapshot =
    std::map<std::string,
             std::tuple<bool, std::uintmax_t, std::int64_t, std::string>>;

Snapshot snapshot(const std::filesystem::path& root) {
  Snapshot out;
  auto add = [&](const std::filesystem::path& p) {
    const bool is_dir = std::filesystem::is_directory(p);
    const auto mtime =
        std::filesystem::last_write_time(p).time_since_epoch().count();
    std::string content;
    if (!is_dir) content = testutil::read_file_bytes(p);
    out[std::filesystem::relative(p, root.parent_path()).string()] = {
        is_dir, is_dir ? 0 : std::filesystem::file_size(p), mtime, content};
  };
  add(root);
  for (const auto& entry :
       std::filesystem::recursive_directory_iterator(root)) {
    add(entry.path());
  }
  return out;
}

void write_raw(const std::filesystem::path& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << bytes;
}

class StoreDirTest : public ::testing::Test {
 protected:
  std::shared_ptr<FileSystem> fs_ = posix_file_system();
  testutil::TempDir tmp_;
  std::filesystem::path dir_ = tmp_ / "store";
};

TEST_F(StoreDirTest, CreatesInAMissingDirectory) {
  const auto nested = tmp_ / "a" / "b" / "store";
  const StoreDir store = StoreDir::create_or_open(fs_, nested);
  EXPECT_EQ(store.dir(), nested);
  EXPECT_EQ(store.log_dir(), nested / "log");
  EXPECT_EQ(store.views_dir(), nested / "views");
  EXPECT_EQ(store.format_version(), 1u);
  EXPECT_TRUE(store.holds_lock());
  EXPECT_TRUE(std::filesystem::is_directory(nested / "log"));
  EXPECT_FALSE(std::filesystem::exists(nested / "views"));
  EXPECT_FALSE(std::filesystem::exists(nested / "STORE.tmp"));
  EXPECT_EQ(fs_->list_dir(nested),
            (std::vector<std::string>{"LOCK", "STORE", "log"}));

  const std::string bytes = testutil::read_file_bytes(nested / "STORE");
  ASSERT_EQ(bytes.size(), kStoreFileSize);
  EXPECT_EQ(bytes.substr(0, 8), "WFSTORE\n");
  EXPECT_EQ(bytes.substr(8, 4), std::string("\x01\x00\x00\x00", 4));
  EXPECT_EQ(bytes.substr(12, 16),
            std::string(store.id().bytes.begin(), store.id().bytes.end()));
  EXPECT_EQ(bytes, encode_store_file(store.id(), 1));
}

TEST_F(StoreDirTest, CreatesInAnEmptyDirectoryAndReopensWithTheSameId) {
  std::filesystem::create_directories(dir_);
  StoreId id;
  {
    const StoreDir store = StoreDir::create_or_open(fs_, dir_);
    id = store.id();
  }
  const StoreDir again = StoreDir::create_or_open(fs_, dir_);
  EXPECT_EQ(again.id(), id);
  const StoreDir reader = StoreDir::open_existing(fs_, dir_, false);
  EXPECT_EQ(reader.id(), id);
  EXPECT_FALSE(reader.holds_lock());
}

TEST_F(StoreDirTest, StoreFileGrammarChecksumIsTheMaskedCrcOfThePrefix) {
  StoreId id;
  for (std::size_t i = 0; i < id.bytes.size(); ++i)
    id.bytes[i] = static_cast<std::uint8_t>(i);
  const std::string bytes = encode_store_file(id, 1);
  ASSERT_EQ(bytes.size(), 32u);
  const std::uint32_t crc = crc32c::mask(crc32c::value(bytes.data(), 28));
  std::string expected_crc;
  for (int shift = 0; shift < 32; shift += 8) {
    expected_crc.push_back(static_cast<char>((crc >> shift) & 0xff));
  }
  EXPECT_EQ(bytes.substr(28), expected_crc);
  EXPECT_EQ(id.to_string(), "00010203-0405-0607-0809-0a0b0c0d0e0f");
}

TEST_F(StoreDirTest, RandomIdsAreVersion4AndDistinct) {
  const StoreId a = StoreId::random();
  const StoreId b = StoreId::random();
  EXPECT_NE(a, b);
  EXPECT_TRUE(std::regex_match(a.to_string(),
                               std::regex("[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}"
                                          "-[89ab][0-9a-f]{3}-[0-9a-f]{12}")))
      << a.to_string();
}

TEST_F(StoreDirTest, InterruptedCreationLeftoversCountAsEmpty) {
  std::filesystem::create_directories(dir_);
  write_raw(dir_ / "LOCK", "");
  write_raw(dir_ / "STORE.tmp", "half a STO");
  const StoreDir store = StoreDir::create_or_open(fs_, dir_);
  EXPECT_EQ(testutil::read_file_bytes(dir_ / "STORE"),
            encode_store_file(store.id(), 1));
  EXPECT_FALSE(std::filesystem::exists(dir_ / "STORE.tmp"));
}

TEST_F(StoreDirTest, RefusesANonEmptyForeignDirectoryAndWritesNothing) {
  std::filesystem::create_directories(dir_);
  write_raw(dir_ / "notes.txt", "mine");
  const Snapshot before = snapshot(dir_);
  EXPECT_THAT([&] { StoreDir::create_or_open(fs_, dir_); },
              ThrowsMessage<InvalidArgumentError>(
                  dir_.string() + ": not a wfstore store (no STORE file)"));
  EXPECT_THAT(
      [&] { StoreDir::open_existing(fs_, dir_, false); },
      ThrowsMessage<InvalidArgumentError>(HasSubstr("not a wfstore store")));
  EXPECT_EQ(snapshot(dir_), before);
}

TEST_F(StoreDirTest, OpenExistingRefusesMissingAndEmptyDirectories) {
  EXPECT_THAT(
      [&] { StoreDir::open_existing(fs_, dir_, false); },
      ThrowsMessage<InvalidArgumentError>(HasSubstr("not a wfstore store")));
  EXPECT_FALSE(std::filesystem::exists(dir_));
  std::filesystem::create_directories(dir_);
  EXPECT_THAT([&] { StoreDir::open_existing(fs_, dir_, true); },
              ThrowsMessage<InvalidArgumentError>(
                  dir_.string() + ": not a wfstore store (no STORE file)"));
  EXPECT_TRUE(std::filesystem::is_empty(dir_));
}

// Damages STORE, then checks that both ways of opening fail with `matcher` and
// that nothing in the directory changed.
class DamagedStoreTest : public StoreDirTest {
 protected:
  void SetUp() override { StoreDir::create_or_open(fs_, dir_); }

  template <typename Matcher>
  void expect_refused(const std::string& store_bytes, Matcher matcher) {
    write_raw(dir_ / "STORE", store_bytes);
    const Snapshot before = snapshot(dir_);
    EXPECT_THAT([&] { StoreDir::create_or_open(fs_, dir_); }, matcher);
    EXPECT_THAT([&] { StoreDir::open_existing(fs_, dir_, false); }, matcher);
    EXPECT_THAT([&] { StoreDir::open_existing(fs_, dir_, true); }, matcher);
    EXPECT_EQ(snapshot(dir_), before);
  }

  std::string good() { return testutil::read_file_bytes(dir_ / "STORE"); }
};

TEST_F(DamagedStoreTest, BadMagicIsNotAStore) {
  std::string bytes = good();
  bytes[0] = 'X';
  expect_refused(bytes, ThrowsMessage<InvalidArgumentError>(
                            dir_.string() + ": not a wfstore store (bad magic "
                                            "in STORE)"));
  expect_refused("", ThrowsMessage<InvalidArgumentError>(
                         HasSubstr("not a wfstore store")));
}

TEST_F(DamagedStoreTest, AFlippedBitInAnyBytePastTheMagicIsCorruption) {
  const std::string original = good();
  for (std::size_t byte = 8; byte < original.size(); ++byte) {
    std::string bytes = original;
    bytes[byte] = static_cast<char>(bytes[byte] ^ (1 << (byte % 8)));
    write_raw(dir_ / "STORE", bytes);
    EXPECT_THROW(StoreDir::open_existing(fs_, dir_, false), CorruptionError)
        << "byte " << byte;
  }
  expect_refused(original.substr(0, 20) + std::string(12, '\0'),
                 ThrowsMessage<CorruptionError>((dir_ / "STORE").string() +
                                                ": checksum mismatch"));
}

TEST_F(DamagedStoreTest, TruncatedOrOversizedIsCorruption) {
  expect_refused(good().substr(0, 14),
                 ThrowsMessage<CorruptionError>(HasSubstr("truncated")));
  // A valid checksum over the wrong length for version 1.
  std::string longer = good().substr(0, 28) + "xx";
  const std::uint32_t crc =
      crc32c::mask(crc32c::value(longer.data(), longer.size()));
  for (int shift = 0; shift < 32; shift += 8) {
    longer.push_back(static_cast<char>((crc >> shift) & 0xff));
  }
  expect_refused(longer,
                 ThrowsMessage<CorruptionError>(HasSubstr("expected 32")));
}

TEST_F(DamagedStoreTest, NewerFormatVersionIsRefused) {
  expect_refused(encode_store_file(StoreId::random(), 7),
                 ThrowsMessage<InvalidArgumentError>(
                     dir_.string() +
                     ": store format version 7 is newer than supported 1"));
}

TEST_F(StoreDirTest, SecondWriterInTheSameProcessIsLockedOut) {
  const StoreDir first = StoreDir::create_or_open(fs_, dir_);
  const Snapshot before = snapshot(dir_);
  EXPECT_THAT([&] { StoreDir::create_or_open(fs_, dir_); },
              ThrowsMessage<StoreLockedError>(
                  dir_.string() + ": store is locked by another writer"));
  EXPECT_THROW(StoreDir::open_existing(fs_, dir_, true), StoreLockedError);
  // Readers take no lock.
  EXPECT_EQ(StoreDir::open_existing(fs_, dir_, false).id(), first.id());
  EXPECT_EQ(snapshot(dir_), before);
}

// Forks a child that tries to open `dir` as the writer. Returns its exit code:
// 0 locked out, 1 opened, 2 another error.
int open_as_writer_in_child(const std::filesystem::path& dir) {
  return testutil::exit_code_in_child([&] {
    try {
      StoreDir::create_or_open(posix_file_system(), dir);
      return 1;
    } catch (const StoreLockedError&) {
      return 0;
    }
  });
}

TEST_F(StoreDirTest, SecondWriterInAnotherProcessIsLockedOut) {
  std::optional<StoreDir> first = StoreDir::create_or_open(fs_, dir_);
  EXPECT_EQ(open_as_writer_in_child(dir_), 0);
  first.reset();
  EXPECT_EQ(open_as_writer_in_child(dir_), 1);
}

TEST_F(StoreDirTest, DestroyingOrMovingReleasesTheLockOnlyOnce) {
  std::optional<StoreDir> first = StoreDir::create_or_open(fs_, dir_);
  StoreDir moved = std::move(*first);
  first.reset();
  EXPECT_THROW(StoreDir::create_or_open(fs_, dir_), StoreLockedError);
  { const StoreDir gone = std::move(moved); }
  const StoreDir second = StoreDir::create_or_open(fs_, dir_);
  EXPECT_TRUE(second.holds_lock());
}

TEST_F(StoreDirTest, OpenExistingWithoutLockNeverWrites) {
  StoreId id;
  {
    const StoreDir store = StoreDir::create_or_open(fs_, dir_);
    id = store.id();
  }
  std::filesystem::remove(dir_ / "LOCK");
  std::filesystem::remove(dir_ / "log");  // A replica: STORE without log/.
  const Snapshot before = snapshot(dir_);
  const StoreDir reader = StoreDir::open_existing(fs_, dir_, false);
  EXPECT_EQ(reader.id(), id);
  EXPECT_EQ(snapshot(dir_), before);

  const StoreDir writer = StoreDir::open_existing(fs_, dir_, true);
  EXPECT_TRUE(writer.holds_lock());
  EXPECT_FALSE(std::filesystem::exists(dir_ / "log"));
}

TEST_F(StoreDirTest, CreationSyncsTheStoreFileAndDirectories) {
  auto fault = std::make_shared<testutil::FaultFileSystem>();
  fault->set_real_syncs(false);
  StoreDir::create_or_open(fault, dir_);
  const testutil::FaultStats stats = fault->stats();
  EXPECT_EQ(stats.file_syncs, 1u);
  EXPECT_EQ(stats.renames, 1u);
  // The parent (new store directory), the store directory (STORE), again
  // (log/).
  EXPECT_EQ(stats.dir_syncs, 3u);
}

TEST_F(StoreDirTest, CreatedStoreSurvivesAPowerCut) {
  for (std::uint32_t i = 0; i < 16; ++i) {
    const auto dir = tmp_ / ("s" + std::to_string(i));
    auto fault = std::make_shared<testutil::FaultFileSystem>();
    fault->set_real_syncs(false);
    StoreId id;
    {
      const StoreDir store = StoreDir::create_or_open(fault, dir);
      id = store.id();
    }
    fault->power_cut(testutil::random_seed() + i);
    EXPECT_EQ(StoreDir::open_existing(fault, dir, false).id(), id);
  }
}

TEST_F(StoreDirTest, FailedRenameLeavesNoStoreAndARetrySucceeds) {
  auto fault = std::make_shared<testutil::FaultFileSystem>();
  fault->fail_nth_rename(1);
  EXPECT_THROW(StoreDir::create_or_open(fault, dir_), IOError);
  EXPECT_FALSE(std::filesystem::exists(dir_ / "STORE"));
  const StoreDir store = StoreDir::create_or_open(fault, dir_);
  EXPECT_EQ(testutil::read_file_bytes(dir_ / "STORE"),
            encode_store_file(store.id(), 1));
}

TEST_F(StoreDirTest, FailedSyncOfTheStoreFileFailsCreation) {
  auto fault = std::make_shared<testutil::FaultFileSystem>();
  fault->fail_nth_sync(1);
  EXPECT_THROW(StoreDir::create_or_open(fault, dir_), IOError);
  EXPECT_FALSE(std::filesystem::exists(dir_ / "STORE"));
}

TEST_F(StoreDirTest, ViewsStateIsMissingUntilWrittenAndRoundTrips) {
  const StoreDir store = StoreDir::create_or_open(fs_, dir_);
  EXPECT_EQ(store.read_views_state(), std::nullopt);
  const ViewsState open_state{false, "1f6c-boot", 41};
  store.write_views_state(open_state);
  EXPECT_EQ(store.read_views_state(), open_state);
  EXPECT_EQ(testutil::read_file_bytes(dir_ / "VIEWS_STATE"),
            encode_views_state(open_state));
  EXPECT_FALSE(std::filesystem::exists(dir_ / "VIEWS_STATE.tmp"));
  const ViewsState clean{true, "1f6c-boot", UINT64_MAX};
  store.write_views_state(clean);
  EXPECT_EQ(store.read_views_state(), clean);
  EXPECT_THROW(
      store.write_views_state(ViewsState{false, std::string(256, 'b'), 0}),
      InvalidArgumentError);
  EXPECT_EQ(store.read_views_state(), clean);
}

TEST_F(StoreDirTest, ViewsStateGrammar) {
  const std::string bytes = encode_views_state(ViewsState{true, "ab", 258});
  ASSERT_EQ(bytes.size(), 8u + 4 + 1 + 8 + 1 + 2 + 4);
  EXPECT_EQ(bytes.substr(0, 8), "WFVIEWS\n");
  EXPECT_EQ(bytes.substr(8, 4), std::string("\x01\x00\x00\x00", 4));
  EXPECT_EQ(bytes[12], '\x01');
  EXPECT_EQ(bytes.substr(13, 8), std::string("\x02\x01\0\0\0\0\0\0", 8));
  EXPECT_EQ(bytes.substr(21, 3), std::string("\x02"
                                             "ab",
                                             3));
  const std::uint32_t crc = crc32c::mask(crc32c::value(bytes.data(), 24));
  EXPECT_EQ(bytes.substr(24), std::string(reinterpret_cast<const char*>(&crc),
                                          4));  // little-endian host
}

// A damaged marker never makes views trusted: it reads as an unclean state
// with an unknown boot id.
TEST_F(StoreDirTest, DamagedViewsStateReadsAsUntrusted) {
  const StoreDir store = StoreDir::create_or_open(fs_, dir_);
  const std::string good = encode_views_state(ViewsState{true, "boot", 7});
  for (std::size_t i = 0; i < good.size(); ++i) {
    std::string bad = good;
    bad[i] = static_cast<char>(bad[i] ^ 0x10);
    write_raw(dir_ / "VIEWS_STATE", bad);
    EXPECT_EQ(store.read_views_state(), ViewsState{}) << "byte " << i;
  }
  for (std::size_t n : {std::size_t{0}, std::size_t{5}, good.size() - 1}) {
    write_raw(dir_ / "VIEWS_STATE", good.substr(0, n));
    EXPECT_EQ(store.read_views_state(), ViewsState{}) << n << " bytes";
  }
}

// A crash at any step of replacing the marker leaves the old or the new state,
// never a damaged or missing one.
TEST_F(StoreDirTest, ViewsStateSurvivesACrashAtEveryStepAsOldOrNew) {
  const ViewsState before{true, "boot-a", 5};
  const ViewsState after{false, "boot-b", 9};
  for (int step = 0; step < 4; ++step) {
    SCOPED_TRACE("step " + std::to_string(step));
    const auto dir = tmp_ / ("s" + std::to_string(step));
    auto fault = std::make_shared<testutil::FaultFileSystem>();
    fault->set_real_syncs(false);
    {
      const StoreDir store = StoreDir::create_or_open(fault, dir);
      store.write_views_state(before);
      if (step == 0) fault->fail_nth_sync(1);
      if (step == 1) fault->fail_nth_rename(1);
      if (step == 2) fault->fail_nth_sync_dir(1);
      if (step < 3) {
        EXPECT_THROW(store.write_views_state(after), IOError);
      } else {
        store.write_views_state(after);
      }
    }
    for (std::uint32_t seed = 0; seed < 4; ++seed) {
      fault->power_cut(testutil::random_seed() + seed);
      const std::optional<ViewsState> state =
          StoreDir::open_existing(fault, dir, false).read_views_state();
      ASSERT_TRUE(state.has_value());
      EXPECT_TRUE(*state == before || *state == after);
      if (step == 0 || step == 1) {
        EXPECT_EQ(*state, before);
      }
      if (step == 3) {
        EXPECT_EQ(*state, after);
      }
    }
  }
}

TEST_F(StoreDirTest, CreatedFilesAndDirectoriesArePrivate) {
  const mode_t old_umask = ::umask(0);
  { const StoreDir store = StoreDir::create_or_open(fs_, dir_); }
  ::umask(old_umask);
  struct stat st {};
  for (const char* name : {"", "log"}) {
    ASSERT_EQ(::stat((dir_ / name).c_str(), &st), 0) << name;
    EXPECT_EQ(st.st_mode & 07777, 0700u) << name;
  }
  for (const char* name : {"STORE", "LOCK"}) {
    ASSERT_EQ(::stat((dir_ / name).c_str(), &st), 0) << name;
    EXPECT_EQ(st.st_mode & 07777, 0600u) << name;
  }
}

TEST_F(StoreDirTest, PosixFileSystemWidensModesOnRequestOnly) {
  EXPECT_THROW(posix_file_system(0400), InvalidArgumentError);
  EXPECT_THROW(posix_file_system(01600), InvalidArgumentError);
  EXPECT_EQ(posix_file_system(0600), posix_file_system());
  const mode_t old_umask = ::umask(0);
  {
    const StoreDir store =
        StoreDir::create_or_open(posix_file_system(0644), dir_);
  }
  ::umask(old_umask);
  struct stat st {};
  ASSERT_EQ(::stat(dir_.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0755u);
  ASSERT_EQ(::stat((dir_ / "STORE").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0644u);
}

}  // namespace
}  // namespace wfstore
