// Tests of the LMDB wrapper: transactions, error translation, the environment
// registry, read-only opens, map growth, and a reader in another process.

#include "projector/lmdb.h"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <fcntl.h>
#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "wfstore/errors.h"

#include "tests/testutil/child_process.h"
#include "tests/testutil/file_bytes.h"
#include "tests/testutil/small_fs.h"
#include "tests/testutil/temp_dir.h"
#include "wfstore_internal/keys.h"
#include "wfstore_internal/lmdb_views.h"

namespace wfstore {
namespace {

using ::testing::HasSubstr;
using ::testing::ThrowsMessage;

class LmdbTest : public ::testing::Test {
 protected:
  std::shared_ptr<lmdb::Env> open_env(bool read_only = false,
                                      std::uint64_t map_size = std::uint64_t{64}
                                                               << 20) {
    lmdb::EnvOptions options;
    options.read_only = read_only;
    options.map_size = map_size;
    return lmdb::Env::open(dir_.path() / "views", options);
  }

  static void open_env_at(const std::filesystem::path& dir) {
    lmdb::EnvOptions options;
    options.map_size = std::uint64_t{1} << 20;
    lmdb::Env::open(dir, options);
  }

  static MDB_dbi table(lmdb::Env& env) {
    return *env.dbis({"t"}, true).front();
  }

  // Commits `key` = `value` in the fixture's table.
  static void write(lmdb::Env& env, std::string_view key,
                    std::string_view value) {
    const MDB_dbi dbi = table(env);
    lmdb::Txn txn(env, false);
    txn.put(dbi, key, value);
    txn.commit();
  }

  static std::optional<std::string> read(lmdb::Env& env, std::string_view key) {
    lmdb::Txn txn(env, true);
    auto value = txn.get(table(env), key);
    return value ? std::optional<std::string>(*value) : std::nullopt;
  }

  testutil::TempDir dir_;
};

TEST_F(LmdbTest, TxnAbortedOnDestructionLeavesNothing) {
  auto env = open_env();
  const MDB_dbi dbi = table(*env);
  {
    lmdb::Txn txn(*env, false);
    txn.put(dbi, "k", "v");
    EXPECT_EQ(txn.get(dbi, "k"), "v");
  }
  EXPECT_EQ(read(*env, "k"), std::nullopt);
}

TEST_F(LmdbTest, CommitIsVisibleToLaterReadTxns) {
  auto env = open_env();
  const MDB_dbi dbi = table(*env);
  lmdb::Txn before(*env, true);
  lmdb::Txn txn(*env, false);
  txn.put(dbi, "k", "v");
  txn.commit();
  EXPECT_FALSE(txn.active());
  EXPECT_EQ(before.get(dbi, "k"),
            std::nullopt);  // A snapshot from before the commit.
  EXPECT_EQ(read(*env, "k"), "v");
}

// The reader table's slots in use and, of those, the ones at a snapshot:
// mdb_reader_list prints a header line, then a line per slot whose
// transaction id is "-" when the slot is reset (or one line saying there are
// no readers).
struct ReaderSlots {
  int used = 0;
  int active = 0;
};
ReaderSlots list_reader_slots(lmdb::Env& env) {
  ReaderSlots slots;
  mdb_reader_list(
      env.get(),
      [](const char* line, void* ctx) {
        const std::string_view text(line);
        // The header, or "(no active readers)".
        if (text.find("pid") != std::string_view::npos ||
            text.find("no active") != std::string_view::npos) {
          return 0;
        }
        auto& out = *static_cast<ReaderSlots*>(ctx);
        ++out.used;
        if (text.find(" -") == std::string_view::npos) ++out.active;
        return 0;
      },
      &slots);
  return slots;
}

int reader_slots(lmdb::Env& env) { return list_reader_slots(env).used; }
int active_reader_slots(lmdb::Env& env) {
  return list_reader_slots(env).active;
}

TEST_F(LmdbTest, AKeptReaderRenewedSeesTheLatestCommit) {
  auto env = open_env();
  const MDB_dbi dbi = table(*env);
  EXPECT_EQ(read(*env, "k"), std::nullopt);
  const int slots = reader_slots(*env);
  EXPECT_GE(slots, 1);  // The ended reader kept its slot, reset.
  for (int i = 0; i < 3; ++i) {
    lmdb::Txn txn(*env, false);
    txn.put(dbi, "k", std::to_string(i));
    txn.commit();
    EXPECT_EQ(read(*env, "k"), std::to_string(i));
  }
  EXPECT_EQ(reader_slots(*env), slots);  // Each read renewed the kept one.
}

TEST_F(LmdbTest, KeptReadersAreCappedAndFreedWithTheEnvironment) {
  auto env = open_env();
  const MDB_dbi dbi = table(*env);
  {
    std::vector<lmdb::Txn> readers;
    for (int i = 0; i < 20; ++i) readers.emplace_back(*env, true);
    EXPECT_EQ(reader_slots(*env), 20);
    for (const lmdb::Txn& txn : readers)
      EXPECT_EQ(txn.get(dbi, "k"), std::nullopt);
  }
  EXPECT_EQ(reader_slots(*env), static_cast<int>(lmdb::Env::kMaxResetReaders));
  {
    lmdb::Txn txn(*env, false);
    txn.put(dbi, "k", "v");
    txn.commit();
  }
  // Every kept reader renews onto the new commit.
  {
    std::vector<lmdb::Txn> readers;
    for (int i = 0; i < 20; ++i) readers.emplace_back(*env, true);
    for (const lmdb::Txn& txn : readers) EXPECT_EQ(txn.get(dbi, "k"), "v");
  }
  env.reset();  // Frees the kept readers (ASan would see a leak otherwise).
  auto reopened = open_env();
  EXPECT_EQ(reader_slots(*reopened), 0);
  table(*reopened);  // Opens the handle before read() begins its reader.
  EXPECT_EQ(read(*reopened, "k"), "v");
}

// A process that dies without closing its environment leaves its reader slots
// (up to Env::kMaxResetReaders kept ones each); a read that finds the table
// full reaps them instead of failing.
TEST_F(LmdbTest, SlotsOfADeadProcessAreReapedWhenTheTableIsFull) {
  const std::filesystem::path path = dir_.path() / "views";
  lmdb::EnvOptions options;
  options.max_readers = 4;
  options.map_size = std::uint64_t{1} << 20;
  // Open across the child's life: the last process to close the lock file
  // resets its reader table, which would hide the dead child's slots.
  auto env = lmdb::Env::open(path, options);
  const MDB_dbi dbi = table(*env);
  write(*env, "k", "v");
  ASSERT_EQ(reader_slots(*env), 0);
  ASSERT_EQ(testutil::exit_code_in_child([&] {
              lmdb::EnvOptions read_only;
              read_only.read_only = true;
              auto child_env = lmdb::Env::open(path, read_only);
              std::vector<lmdb::Txn> readers;
              for (int i = 0; i < 4; ++i)
                readers.emplace_back(*child_env, true);
              // Dies holding them.
              ::_exit(reader_slots(*child_env) == 4 ? 0 : 1);
              return 1;
            }),
            0);
  EXPECT_EQ(reader_slots(*env), 4);  // Every slot is the dead child's.
  lmdb::Txn txn(*env, true);
  EXPECT_EQ(txn.get(dbi, "k"), "v");
}

// LMDB forbids using an environment across fork(): a child neither begins a
// transaction of its parent's environment (IOError) nor, ending one it
// inherited, frees the parent's reader slot in the shared lock file.
TEST_F(LmdbTest, AForkedChildNeitherReadsThroughNorEndsItsParentsEnvironment) {
  auto env = open_env();
  const MDB_dbi dbi = table(*env);
  write(*env, "k", "v");
  EXPECT_EQ(read(*env, "k"), "v");
  lmdb::Txn reading(*env, true);  // Open across the fork.
  ASSERT_EQ(reader_slots(*env), 1);
  EXPECT_EQ(testutil::exit_code_in_child([&] {
              int code = 0;
              try {
                const lmdb::Txn txn(*env, true);
                code = 1;
              } catch (const IOError&) {
              }
              reading.abort();
              // The parent's slot stays, at its snapshot.
              if (active_reader_slots(*env) != 1) code = 2;
              return code;
            }),
            0);
  EXPECT_EQ(active_reader_slots(*env), 1);
  EXPECT_EQ(reading.get(dbi, "k"), "v");
  reading.abort();
  EXPECT_EQ(active_reader_slots(*env), 0);
  EXPECT_EQ(read(*env, "k"), "v");
}

TEST_F(LmdbTest, AChildMadeWithoutForkHandlersDoesNotFreeItsParentsSlots) {
  auto env = open_env();
  write(*env, "k", "v");
  EXPECT_EQ(read(*env, "k"), "v");  // Keeps a reset reader.
  ASSERT_EQ(reader_slots(*env), 1);
  // _Fork() runs no pthread_atfork handlers, so the fork generation stays.
  EXPECT_EQ(testutil::exit_code_in_child(
                [&] {
                  env.reset();  // The child's last reference: ~Env runs here.
                  return 0;
                },
                testutil::ForkHandlers::kSkip),
            0);
  EXPECT_EQ(reader_slots(*env), 1);
  EXPECT_EQ(read(*env, "k"), "v");
}

TEST_F(LmdbTest, DelAndCursorWalkInKeyOrder) {
  auto env = open_env();
  const MDB_dbi dbi = table(*env);
  lmdb::Txn txn(*env, false);
  for (const char* key : {"b", "a", "c"}) txn.put(dbi, key, key);
  EXPECT_TRUE(txn.del(dbi, "b"));
  EXPECT_FALSE(txn.del(dbi, "b"));
  std::string keys;
  {
    lmdb::Cursor cursor(txn, dbi);
    for (bool ok = cursor.move(MDB_FIRST); ok; ok = cursor.move(MDB_NEXT))
      keys += cursor.key();
  }
  EXPECT_EQ(keys, "ac");
}

// Random keys from a few byte values around the signed/unsigned edges, often
// a prefix of or one byte off another key, across the 8-byte steps.
std::string random_key(std::mt19937& rng, const std::string& near) {
  static constexpr unsigned char kBytes[] = {0x00, 0x01, 0x7f,
                                             0x80, 0xfe, 0xff};
  std::string key;
  switch (rng() % 3) {
    case 0:
      key = near.substr(0, rng() % (near.size() + 1));
      break;
    case 1:
      key = near;
      if (!key.empty()) {
        key[rng() % key.size()] = static_cast<char>(kBytes[rng() % 6]);
      }
      break;
    default:
      break;
  }
  const std::size_t extra = rng() % 20;
  for (std::size_t i = 0; i < extra; ++i) {
    key.push_back(static_cast<char>(kBytes[rng() % 6]));
  }
  return key;
}

int sign(int x) { return (x > 0) - (x < 0); }

TEST_F(LmdbTest, CompareKeysOrdersAsLmdbsDefault) {
  // LMDB's default: memcmp over the common length, then the shorter first,
  // which is std::string's order.
  std::mt19937 rng(7);
  std::string a;
  std::string b;
  for (int i = 0; i < 50000; ++i) {
    a = random_key(rng, b);
    b = random_key(rng, a);
    const MDB_val va{a.size(), a.data()};
    const MDB_val vb{b.size(), b.data()};
    ASSERT_EQ(sign(lmdb::compare_keys(&va, &vb)), sign(a.compare(b)))
        << lmdb::compare_keys(&va, &vb) << " " << keys::hex(a) << " "
        << keys::hex(b);
  }
}

TEST_F(LmdbTest, ATableWrittenInCompareKeysOrderReadsAlikeThroughLmdbsOwn) {
  std::mt19937 rng(11);
  std::set<std::string> written;
  std::string last = "seed";
  while (written.size() < 3000) {
    last = random_key(rng, last);
    if (!last.empty()) written.insert(last);
  }
  {
    auto env = open_env();
    const MDB_dbi dbi = table(*env);
    lmdb::Txn txn(*env, false);
    for (const std::string& key : written) txn.put(dbi, key, key);
    txn.commit();
    lmdb::Txn read(*env, true);
    std::vector<std::string> walked;
    lmdb::Cursor cursor(read, dbi);
    for (bool ok = cursor.move(MDB_FIRST); ok; ok = cursor.move(MDB_NEXT)) {
      walked.emplace_back(cursor.key());
    }
    EXPECT_EQ(walked, std::vector<std::string>(written.begin(), written.end()));
  }
  // A plain LMDB handle (its default comparison) finds every key.
  MDB_env* raw = nullptr;
  ASSERT_EQ(mdb_env_create(&raw), MDB_SUCCESS);
  ASSERT_EQ(mdb_env_set_maxdbs(raw, 4), MDB_SUCCESS);
  ASSERT_EQ(mdb_env_open(raw, (dir_.path() / "views").c_str(),
                         MDB_RDONLY | MDB_NOLOCK, 0),
            MDB_SUCCESS);
  MDB_txn* txn = nullptr;
  ASSERT_EQ(mdb_txn_begin(raw, nullptr, MDB_RDONLY, &txn), MDB_SUCCESS);
  MDB_dbi dbi = 0;
  ASSERT_EQ(mdb_dbi_open(txn, "t", 0, &dbi), MDB_SUCCESS);
  std::size_t found = 0;
  for (const std::string& key : written) {
    MDB_val k{key.size(), const_cast<char*>(key.data())};
    MDB_val v{};
    if (mdb_get(txn, dbi, &k, &v) == MDB_SUCCESS &&
        std::string_view(static_cast<const char*>(v.mv_data), v.mv_size) ==
            key) {
      ++found;
    }
  }
  mdb_txn_abort(txn);
  mdb_env_close(raw);
  EXPECT_EQ(found, written.size());
}

TEST_F(LmdbTest, CheckTranslatesReturnCodes) {
  EXPECT_NO_THROW(lmdb::check(MDB_SUCCESS, "mdb_get", "/v"));
  for (int rc : {MDB_CORRUPTED, MDB_PAGE_NOTFOUND, MDB_INVALID}) {
    EXPECT_THAT(
        [&] { lmdb::check(rc, "mdb_get", "/some/views"); },
        ThrowsMessage<CorruptionError>(HasSubstr("/some/views: mdb_get: ")));
  }
  EXPECT_THROW(lmdb::check(MDB_MAP_FULL, "mdb_put", "/v"), MapFullError);
  EXPECT_THAT([&] { lmdb::check(EIO, "mdb_txn_commit", "/v"); },
              ThrowsMessage<IOError>(
                  HasSubstr("/v: mdb_txn_commit: Input/output error")));
}

TEST_F(LmdbTest, DamagedDataFileIsCorruptionNamingThePath) {
  std::filesystem::create_directories(dir_ / "views");
  std::ofstream(dir_ / "views" / "data.mdb") << std::string(16384, 'x');
  EXPECT_THAT(
      [&] { open_env(true); },
      ThrowsMessage<CorruptionError>(HasSubstr((dir_ / "views").string())));
}

TEST_F(LmdbTest, RegistrySharesOneEnvironmentPerDirectory) {
  auto writer = open_env();
  auto reader = open_env(true);
  EXPECT_EQ(writer.get(), reader.get());
  EXPECT_FALSE(reader->read_only());
  // Another spelling of the same directory finds the same environment.
  std::filesystem::create_symlink(dir_ / "views", dir_ / "link");
  lmdb::EnvOptions options;
  options.read_only = true;
  EXPECT_EQ(lmdb::Env::open(dir_ / "link", options).get(), writer.get());
  EXPECT_EQ(lmdb::Env::open(dir_.path() / "." / "views", options).get(),
            writer.get());
}

TEST_F(LmdbTest, ConcurrentOpensAndClosesNeverMakeASecondEnvironment) {
  { open_env(); }  // create the environment
  ASSERT_EQ(lmdb::live_envs_for_testing(), 0);
  lmdb::reset_peak_live_envs_for_testing();
  constexpr int kThreads = 4;
  constexpr int kRounds = 300;
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < kRounds; ++i) {
        try {
          std::shared_ptr<lmdb::Env> env = open_env();
          lmdb::Txn txn(*env, true);
          txn.abort();
          env.reset();  // often the last user: closes while others open
        } catch (const std::exception&) {
          failures.fetch_add(1);
        }
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(lmdb::peak_live_envs_for_testing(), 1);
  EXPECT_EQ(lmdb::live_envs_for_testing(), 0);
}

TEST_F(LmdbTest, OpenWaitsForAPendingCloseOfTheSameEnvironment) {
  { open_env(); }
  ASSERT_EQ(lmdb::live_envs_for_testing(), 0);
  lmdb::reset_peak_live_envs_for_testing();
  // The deleter of the first environment parks after its last user let go and
  // before the MDB_env is closed.
  std::mutex mu;
  std::condition_variable cv;
  bool parked = false;
  bool release = false;
  lmdb::set_env_close_hook_for_testing([&] {
    std::unique_lock lock(mu);
    parked = true;
    cv.notify_all();
    cv.wait(lock, [&] { return release; });
  });
  std::shared_ptr<lmdb::Env> first = open_env();
  std::thread closer([&first] { first.reset(); });
  {
    std::unique_lock lock(mu);
    cv.wait(lock, [&] { return parked; });
  }
  lmdb::set_env_close_hook_for_testing({});
  std::atomic<bool> opened{false};
  std::shared_ptr<lmdb::Env> second;
  std::thread opener([&] {
    second = open_env();
    opened = true;
  });
  // The open either waits for the close or (wrongly) returns a second
  // environment while the first is still open.
  while (lmdb::waiting_opens_for_testing() == 0 && !opened.load()) {
    std::this_thread::yield();
  }
  EXPECT_FALSE(opened.load()) << "an open did not wait for a pending close";
  {
    std::scoped_lock lock(mu);
    release = true;
  }
  cv.notify_all();
  closer.join();
  opener.join();
  ASSERT_NE(second, nullptr);
  EXPECT_EQ(lmdb::peak_live_envs_for_testing(), 1);
  lmdb::Txn txn(*second, true);
}

TEST_F(LmdbTest, RegistryIsKeyedByDeviceAndInodeNotPath) {
  auto writer = open_env();
  // A directory renamed while open keeps its environment under any path.
  std::filesystem::rename(dir_ / "views", dir_ / "moved");
  lmdb::EnvOptions options;
  options.read_only = true;
  EXPECT_EQ(lmdb::Env::open(dir_ / "moved", options).get(), writer.get());
  EXPECT_EQ(lmdb::live_envs_for_testing(), 1);
}

// The registry's key is the directory's inode, which cannot be reused by
// another directory while the environment is open: its open data.mdb and
// lock.mdb pin their directory's entry, and with it the inode, after the
// directory is deleted. On a small ext4 whose every inode is taken, deleting
// `a` frees none, so `b` needs a filler's and gets an environment of its own,
// not the deleted one's. In a child with a mount namespace of its own (root
// only).
TEST_F(LmdbTest, ADeletedDirectorysInodeIsNotReusedWhileItsEnvironmentIsOpen) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to mount a file system";
  const std::filesystem::path mnt = dir_ / "mnt";
  testutil::ChildProcess child = testutil::ChildProcess::spawn([&](int fd) {
    auto say = [&](const std::string& line) {
      const std::string out = line + "\n";
      (void)!::write(fd, out.data(), out.size());
    };
    if (auto why = testutil::mount_small_fs(testutil::SmallFsKind::kExt4, mnt,
                                            dir_ / "fs.img", 16)) {
      say("skip: " + *why);
      return;
    }
    lmdb::EnvOptions options;
    options.map_size = std::uint64_t{1} << 20;
    auto env_a = lmdb::Env::open(mnt / "a", options);
    write(*env_a, "k", "from a");
    struct stat st_a {};
    if (::stat((mnt / "a").c_str(), &st_a) != 0)
      throw std::runtime_error("stat a");
    // Every inode taken, then `a` deleted: it frees none.
    int files = 0;
    for (;; ++files) {
      const std::string name = (mnt / ("f" + std::to_string(files))).string();
      const int f = ::open(name.c_str(), O_CREAT | O_WRONLY, 0600);
      if (f < 0) break;
      ::close(f);
    }
    std::filesystem::remove_all(mnt / "a");
    if (::mkdir((mnt / "b").c_str(), 0700) != 0) {
      say(fmt::format("no inode for b: {}", std::strerror(errno)));
      for (int i = 1; i <= 3; ++i) {
        std::filesystem::remove(mnt / ("f" + std::to_string(files - i)));
      }
      std::filesystem::create_directory(mnt / "b");
    }
    struct stat st_b {};
    if (::stat((mnt / "b").c_str(), &st_b) != 0)
      throw std::runtime_error("stat b");
    auto env_b = lmdb::Env::open(mnt / "b", options);
    write(*env_b, "other", "from b");
    say(fmt::format("inodes a {} b {}; {} fillers", st_a.st_ino, st_b.st_ino,
                    files));
    say(fmt::format("same environment: {}", env_a.get() == env_b.get()));
    say(fmt::format("b has its data.mdb: {}",
                    std::filesystem::exists(mnt / "b" / "data.mdb")));
    say(fmt::format("b reads a's key: {}", read(*env_b, "k").has_value()));
    say(fmt::format("a reads its key: {}", read(*env_a, "k") == "from a"));
  });
  std::vector<std::string> lines;
  while (auto line = child.read_line()) lines.push_back(*line);
  const int status = child.wait();
  std::string said;
  for (const std::string& line : lines) said += line + "\n";
  if (!lines.empty() && lines.front().rfind("skip: ", 0) == 0) {
    GTEST_SKIP() << lines.front();
  }
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << said;
  EXPECT_THAT(lines,
              ::testing::Contains("no inode for b: No space left on device"))
      << said;
  EXPECT_THAT(lines, ::testing::Contains("same environment: false")) << said;
  EXPECT_THAT(lines, ::testing::Contains("b has its data.mdb: true")) << said;
  EXPECT_THAT(lines, ::testing::Contains("b reads a's key: false")) << said;
  EXPECT_THAT(lines, ::testing::Contains("a reads its key: true")) << said;
}

TEST_F(LmdbTest, WriterCreatesPrivateFilesAndDirectory) {
  { open_env(); }
  struct stat st {};
  ASSERT_EQ(::stat((dir_ / "views").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);
  for (const char* name : {"data.mdb", "lock.mdb"}) {
    ASSERT_EQ(::stat((dir_ / "views" / name).c_str(), &st), 0) << name;
    EXPECT_EQ(st.st_mode & 0777, 0600u) << name;
  }
}

TEST_F(LmdbTest, WriterCreatesMissingParentsWithTheConfiguredMode) {
  lmdb::EnvOptions options;
  options.map_size = std::uint64_t{1} << 20;
  options.file_mode = 0640;
  const mode_t old_umask = ::umask(0);
  { lmdb::Env::open(dir_ / "a" / "b" / "views", options); }
  ::umask(old_umask);
  for (const char* sub : {"a", "a/b", "a/b/views"}) {
    struct stat st {};
    ASSERT_EQ(::stat((dir_ / sub).c_str(), &st), 0) << sub;
    EXPECT_EQ(st.st_mode & 0777, 0750u) << sub;
  }
  // An existing directory is used as it is.
  { lmdb::Env::open(dir_ / "a" / "b" / "views", options); }
}

TEST_F(LmdbTest, WriterUnderARegularFileIsIOErrorNamingThePath) {
  { std::ofstream(dir_ / "file") << "x"; }
  EXPECT_THAT([&] { open_env_at(dir_ / "file" / "views"); },
              ThrowsMessage<IOError>(HasSubstr((dir_ / "file").string())));
}

TEST_F(LmdbTest, WriterRejectsAFileModeOutsideThePermissionRange) {
  for (unsigned mode : {0400u, 01600u}) {
    lmdb::EnvOptions options;
    options.file_mode = mode;
    EXPECT_THAT([&] { lmdb::Env::open(dir_ / "views", options); },
                ThrowsMessage<InvalidArgumentError>(HasSubstr("file_mode")))
        << mode;
    EXPECT_FALSE(std::filesystem::exists(dir_ / "views"));
  }
}

TEST_F(LmdbTest, ReadDatabaseUnlockedWritesNoByte) {
  {
    auto env = open_env(false, std::uint64_t{1} << 20);
    const MDB_dbi dbi = table(*env);
    lmdb::Txn txn(*env, false);
    txn.put(dbi, "k", "v");
    txn.commit();
  }
  const std::string data_before =
      testutil::read_file_bytes(dir_ / "views" / "data.mdb");
  const std::string lock_before =
      testutil::read_file_bytes(dir_ / "views" / "lock.mdb");
  const auto values = lmdb::read_database_unlocked(dir_ / "views", "t");
  ASSERT_TRUE(values.has_value());
  EXPECT_EQ(values->at("k"), "v");
  EXPECT_FALSE(lmdb::read_database_unlocked(dir_ / "views", "none"));
  EXPECT_EQ(testutil::read_file_bytes(dir_ / "views" / "data.mdb"),
            data_before);
  EXPECT_EQ(testutil::read_file_bytes(dir_ / "views" / "lock.mdb"),
            lock_before);
}

TEST_F(LmdbTest, ReadOnlyViewsShareTheWritersEnvironmentAndSeeItsCommits) {
  LmdbViewsOptions options;
  auto writer = LmdbViews::open(dir_ / "views", options);
  options.read_only = true;
  auto reader = LmdbViews::open(dir_ / "views", options);
  EXPECT_EQ(writer->environment_for_testing(),
            reader->environment_for_testing());
  LmdbViews::WriteTxn txn = writer->begin_write();
  txn.put(Table::kWorkflows, "w", "1");
  txn.commit();
  EXPECT_EQ(reader->begin_read().get(Table::kWorkflows, "w"), "1");
  EXPECT_THROW(reader->begin_write(), IOError);
}

TEST_F(LmdbTest, WriterOpenWhileReadOnlyOpenInThisProcessFails) {
  { LmdbViews::open(dir_ / "views"); }
  LmdbViewsOptions options;
  options.read_only = true;
  auto reader = LmdbViews::open(dir_ / "views", options);
  EXPECT_THAT([&] { LmdbViews::open(dir_ / "views"); },
              ThrowsMessage<IOError>(HasSubstr("read-only")));
  reader.reset();
  EXPECT_NO_THROW(
      LmdbViews::open(dir_ / "views"));  // The registry forgot the closed one.
}

TEST_F(LmdbTest, ReadOnlyOpenOfMissingViewsFailsAndCreatesNothing) {
  LmdbViewsOptions options;
  options.read_only = true;
  EXPECT_THAT([&] { LmdbViews::open(dir_ / "views", options); },
              ThrowsMessage<IOError>(HasSubstr((dir_ / "views").string())));
  EXPECT_FALSE(std::filesystem::exists(dir_ / "views"));
  std::filesystem::create_directories(dir_ / "empty");
  EXPECT_THROW(LmdbViews::open(dir_ / "empty", options), IOError);
  EXPECT_TRUE(std::filesystem::is_empty(dir_ / "empty"));
}

struct FileState {
  std::string bytes;
  struct stat st {};
};

FileState file_state(const std::filesystem::path& path) {
  FileState state;
  state.bytes = testutil::read_file_bytes(path);
  EXPECT_EQ(::stat(path.c_str(), &state.st), 0) << path;
  return state;
}

std::set<std::string> listing(const std::filesystem::path& dir) {
  std::set<std::string> names;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    names.insert(entry.path().filename().string());
  }
  return names;
}

TEST_F(LmdbTest, ReadOnlyOpenNeverWritesTheDataFile) {
  {
    LmdbViewsOptions options;
    options.map_size = std::uint64_t{1}
                       << 20;  // data.mdb is as large as the map.
    auto writer = LmdbViews::open(dir_ / "views", options);
    writer->write([](LmdbViews::WriteTxn& txn) {
      for (std::uint64_t i = 0; i < 100; ++i)
        txn.put(Table::kStages, keys::encode_u64(i), "stage");
    });
  }
  const auto names = listing(dir_ / "views");
  const FileState data = file_state(dir_ / "views" / "data.mdb");
  const FileState lock = file_state(dir_ / "views" / "lock.mdb");
  ::usleep(20000);  // Let a write, if there were one, land on a later mtime.
  {
    LmdbViewsOptions options;
    options.read_only = true;
    auto reader = LmdbViews::open(dir_ / "views", options);
    EXPECT_EQ(reader->dump(Table::kStages).size(), 100u);
    EXPECT_NO_THROW(reader->sync());
    EXPECT_THROW(reader->drop_all(), IOError);
  }
  const FileState data_after = file_state(dir_ / "views" / "data.mdb");
  EXPECT_EQ(data_after.bytes, data.bytes);
  EXPECT_EQ(data_after.st.st_size, data.st.st_size);
  EXPECT_EQ(data_after.st.st_mtim.tv_sec, data.st.st_mtim.tv_sec);
  EXPECT_EQ(data_after.st.st_mtim.tv_nsec, data.st.st_mtim.tv_nsec);
  EXPECT_EQ(file_state(dir_ / "views" / "lock.mdb").st.st_size,
            lock.st.st_size);
  EXPECT_EQ(listing(dir_ / "views"), names);
}

TEST_F(LmdbTest, MapGrowsWhenATransactionOverflowsIt) {
  LmdbViewsOptions options;
  options.map_size = std::uint64_t{1} << 20;
  auto views = LmdbViews::open(dir_ / "views", options);
  int runs = 0;
  views->write([&](LmdbViews::WriteTxn& txn) {
    ++runs;
    for (std::uint64_t j = 0; j < 1024; ++j) {
      txn.put(Table::kStages, keys::encode_u64(j), std::string(1024, 'v'));
    }
  });
  EXPECT_GT(runs, 1);
  EXPECT_GE(views->map_size(), std::uint64_t{2} << 20);
  EXPECT_EQ(views->dump(Table::kStages).size(), 1024u);
}

// Creating tables in a map without room for them grows the map (LMDB's
// MDB_MAP_FULL) and creates them all. With four pages and names this long,
// the map fills at the twelfth table, so the handles the aborted transaction
// opened must be dropped and their tables created again: each table is then
// written, read and found again after a reopen.
TEST_F(LmdbTest, CreatingTablesInAFullMapGrowsIt) {
  constexpr std::uint64_t kSmall = 4 * 4096;
  std::vector<std::string> names;
  for (int i = 0; i < 30; ++i) {
    names.push_back(std::string(300, 't') + fmt::format("{:02}", i));
  }
  {
    auto env = open_env(false, kSmall);
    const std::vector<std::optional<MDB_dbi>> handles = env->dbis(names, true);
    EXPECT_GT(env->map_size(), kSmall);
    lmdb::Txn txn(*env, false);
    for (std::size_t i = 0; i < names.size(); ++i) {
      ASSERT_TRUE(handles[i].has_value()) << i;
      txn.put(*handles[i], "k", fmt::format("v{}", i));
    }
    txn.commit();
  }
  auto env = open_env();
  const std::vector<std::optional<MDB_dbi>> handles = env->dbis(names, false);
  lmdb::Txn txn(*env, true);
  for (std::size_t i = 0; i < names.size(); ++i) {
    ASSERT_TRUE(handles[i].has_value()) << i;
    EXPECT_EQ(txn.get(*handles[i], "k"), fmt::format("v{}", i)) << i;
  }
}

TEST_F(LmdbTest, MapGrowthIsAsMuchAgainAtMost256MiB) {
  constexpr std::uint64_t kMiB = std::uint64_t{1} << 20;
  EXPECT_EQ(lmdb::map_growth(4096), kMiB);
  EXPECT_EQ(lmdb::map_growth(kMiB), kMiB);
  EXPECT_EQ(lmdb::map_growth(64 * kMiB), 64 * kMiB);
  EXPECT_EQ(lmdb::map_growth(256 * kMiB), 256 * kMiB);
  EXPECT_EQ(lmdb::map_growth(3072 * kMiB), 256 * kMiB);
}

// A writer's map and lock file have their blocks on disk from the open, and
// a growth allocates what it adds, so no write through the maps needs the
// file system to find room (a full disk raised SIGBUS; see disk_full_test).
// A read-only open allocates nothing.
TEST_F(LmdbTest, AWritersMapAndLockFileHaveTheirBlocksOnDisk) {
  constexpr std::uint64_t kMiB = std::uint64_t{1} << 20;
  {
    const std::filesystem::path probe = dir_ / "probe";
    std::ofstream(probe).put('x');
    const int fd = ::open(probe.c_str(), O_RDWR);
    ASSERT_GE(fd, 0);
    const bool can = ::fallocate(fd, 0, 0, 1 << 16) == 0;
    ::close(fd);
    if (!can) GTEST_SKIP() << "this file system cannot allocate ahead";
  }
  const auto allocated = [&](const char* name) {
    struct stat st {};
    EXPECT_EQ(::stat((dir_ / "views" / name).c_str(), &st), 0);
    return static_cast<std::uint64_t>(st.st_blocks) * 512;
  };
  auto env = open_env(false, 8 * kMiB);
  EXPECT_GE(allocated("data.mdb"), 8 * kMiB);
  // Allocated before mdb_env_open at the length LMDB gives it (a 192-byte
  // header and 64 bytes per reader slot beyond the first), which LMDB kept.
  const std::uint64_t lock_bytes = 192 + (1024 - 1) * 64;
  EXPECT_EQ(std::filesystem::file_size(dir_ / "views" / "lock.mdb"),
            lock_bytes);
  unsigned readers = 0;
  ASSERT_EQ(mdb_env_get_maxreaders(env->get(), &readers), MDB_SUCCESS);
  EXPECT_EQ(readers, 1024u);
  EXPECT_GE(allocated("lock.mdb"), lock_bytes);
  env->grow(env->map_size());
  EXPECT_EQ(env->map_size(), 16 * kMiB);
  EXPECT_GE(allocated("data.mdb"), 16 * kMiB);
  write(*env, "k", "v");
  EXPECT_EQ(read(*env, "k"), "v");
  // Shrunk back: LMDB truncates data.mdb to its map, freeing the rest.
  env->shrink(8 * kMiB);
  EXPECT_EQ(env->map_size(), 8 * kMiB);
  EXPECT_LT(allocated("data.mdb"), 9 * kMiB);
  EXPECT_EQ(read(*env, "k"), "v");
  env.reset();
  // A read-only open allocates nothing.
  const std::filesystem::path other = dir_ / "other";
  {
    lmdb::EnvOptions options;
    options.map_size = kMiB;
    options.write_map = false;  // no allocation: a sparse data.mdb
    auto writer = lmdb::Env::open(other, options);
    write(*writer, "k", "v");
  }
  struct stat before {};
  ASSERT_EQ(::stat((other / "data.mdb").c_str(), &before), 0);
  lmdb::EnvOptions read_only;
  read_only.read_only = true;
  auto reader = lmdb::Env::open(other, read_only);
  ASSERT_TRUE(reader->dbis({"t"}, false).front().has_value());
  EXPECT_EQ(read(*reader, "k"), "v");
  struct stat after {};
  ASSERT_EQ(::stat((other / "data.mdb").c_str(), &after), 0);
  EXPECT_EQ(after.st_blocks, before.st_blocks);
  EXPECT_EQ(after.st_size, before.st_size);
}

// The prefaulter keeps the map's pages ahead of the writes faulted in through
// map growth (each remaps the map) while another thread reads: every value
// reads back, before and after a reopen; with prefault_bytes 0 none is.
TEST_F(LmdbTest, PrefaulterRunsAheadOfTheWritesThroughMapGrowth) {
  const std::string value(8000, 'p');
  const auto key = [](int i) { return "k" + std::to_string(i); };
  constexpr int kValues = 600;  // about 5 MB: the map grows from 1 MiB
  constexpr std::chrono::seconds kWait{20};
  {
    lmdb::EnvOptions options;
    options.map_size = std::uint64_t{1} << 20;
    options.prefault_bytes = std::uint64_t{512} << 10;
    auto env = lmdb::Env::open(dir_.path() / "views", options);
    write(*env, key(0), value);
    std::atomic<bool> done{false};
    std::thread reader([&] {
      while (!done.load()) EXPECT_EQ(read(*env, key(0)), value);
    });
    int growths = 0;
    for (int i = 1; i < kValues; ++i) {
      for (;;) {
        const std::uint64_t seen = env->map_size();
        try {
          write(*env, key(i), value);
          break;
        } catch (const lmdb::MapFullError&) {
          env->grow(seen);
          ++growths;
        }
      }
    }
    EXPECT_GE(growths, 2);
    // After one more remap, writes of more than half the window wake the
    // prefaulter, which finds the new map and faults its pages in.
    env->grow(env->map_size());
    const std::uint64_t before = env->prefaulted_bytes();
    EXPECT_GT(before, 0u);
    for (int i = kValues; i < kValues + 64; ++i) write(*env, key(i), value);
    const auto deadline = std::chrono::steady_clock::now() + kWait;
    while (env->prefaulted_bytes() == before &&
           std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds{5});
    }
    EXPECT_GT(env->prefaulted_bytes(), before);
    done.store(true);
    reader.join();
    for (int i = 0; i < kValues + 64; ++i) {
      ASSERT_EQ(read(*env, key(i)), value);
    }
  }
  lmdb::EnvOptions options;
  options.prefault_bytes = 0;
  auto env = lmdb::Env::open(dir_.path() / "views", options);
  write(*env, "after", "reopen");
  EXPECT_EQ(env->prefaulted_bytes(), 0u);
  for (int i = 0; i < kValues + 64; ++i) ASSERT_EQ(read(*env, key(i)), value);
}

// Pages beyond the used end are mapped before a commit writes them: with a
// snapshot pinned (no freed page is reused, so every page a write makes comes
// from the end) and the prefaulter idle, writing 32 new pages takes the
// writing thread (almost) no page fault, where without it each is one.
TEST_F(LmdbTest, PrefaultedPagesTakeTheWriterNoFault) {
#if defined(__SANITIZE_THREAD__)
  GTEST_SKIP() << "ThreadSanitizer's shadow memory faults on every new page";
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
  GTEST_SKIP() << "ThreadSanitizer's shadow memory faults on every new page";
#endif
#endif
  lmdb::EnvOptions options;
  options.map_size = std::uint64_t{64} << 20;
  options.prefault_bytes = std::uint64_t{1} << 20;
  auto env = lmdb::Env::open(dir_.path() / "views", options);
  const std::string value(8000, 'p');
  for (int i = 0; i < 64; ++i) write(*env, "warm" + std::to_string(i), value);
  const lmdb::Txn pinned(*env, true);
  // Idle: it has faulted pages in, and no more for 100 ms.
  const auto deadline =
      std::chrono::steady_clock::now() + std::chrono::seconds{20};
  std::uint64_t seen = 0;
  while ((seen == 0 || seen != env->prefaulted_bytes()) &&
         std::chrono::steady_clock::now() < deadline) {
    seen = env->prefaulted_bytes();
    std::this_thread::sleep_for(std::chrono::milliseconds{100});
  }
  ASSERT_GE(seen, std::uint64_t{1} << 20);
  const auto thread_faults = [] {
    rusage usage{};
    ::getrusage(RUSAGE_THREAD, &usage);
    return usage.ru_minflt;
  };
  const long before = thread_faults();
  for (int i = 0; i < 16; ++i) {
    write(*env, "new" + std::to_string(i), value);  // 16 x 8000 bytes
  }
  EXPECT_LT(thread_faults() - before, 8);
}

// Writes one byte to `fd` and reads one from `in_fd`; false on failure.
bool signal_byte(int fd) { return ::write(fd, "x", 1) == 1; }
bool wait_byte(int fd) {
  char c = 0;
  return ::read(fd, &c, 1) == 1;
}

// The child's side of ReaderProcessSeesTheWritersCommits; returns its exit
// code.
int run_reader_child(const std::filesystem::path& dir, int to_parent,
                     int from_parent) {
  try {
    LmdbViewsOptions options;
    options.read_only = true;
    auto views = LmdbViews::open(dir, options);
    if (views->begin_read().get(Table::kWorkflows, "first") != "1") return 10;
    if (!signal_byte(to_parent) || !wait_byte(from_parent)) return 11;
    // The writer has grown the map past this process's mapping:
    // MDB_MAP_RESIZED.
    LmdbViews::Snapshot snapshot = views->begin_read();
    if (snapshot.get(Table::kWorkflows, "second") != "2") return 12;
    if (dump_table(snapshot, Table::kStages).size() != 2048) return 13;
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "reader child: %s\n", e.what());
    return 20;
  }
}

TEST_F(LmdbTest, ReaderProcessSeesTheWritersCommits) {
  LmdbViewsOptions options;
  options.map_size = std::uint64_t{1} << 20;
  auto writer = LmdbViews::open(dir_ / "views", options);
  writer->write([](LmdbViews::WriteTxn& txn) {
    txn.put(Table::kWorkflows, "first", "1");
  });
  const std::uint64_t map_before = writer->map_size();
  int to_parent[2];
  int to_child[2];
  ASSERT_EQ(::pipe(to_parent), 0);
  ASSERT_EQ(::pipe(to_child), 0);
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0)
    ::_exit(run_reader_child(dir_ / "views", to_parent[1], to_child[0]));
  ASSERT_TRUE(wait_byte(to_parent[0]));
  writer->write([](LmdbViews::WriteTxn& txn) {
    for (std::uint64_t i = 0; i < 2048; ++i) {
      txn.put(Table::kStages, keys::encode_u64(i), std::string(1024, 'v'));
    }
    txn.put(Table::kWorkflows, "second", "2");
  });
  EXPECT_GT(writer->map_size(), map_before);
  ASSERT_TRUE(signal_byte(to_child[1]));
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0);
  for (int fd : {to_parent[0], to_parent[1], to_child[0], to_child[1]})
    ::close(fd);
  // The child's exit closed none of this process's environment.
  EXPECT_EQ(writer->begin_read().get(Table::kWorkflows, "second"), "2");
}

}  // namespace
}  // namespace wfstore
