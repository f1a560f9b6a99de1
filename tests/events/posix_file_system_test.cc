// The POSIX FileSystem on real files: appends, reads, truncation, renames,
// directories, errno translation, and flock semantics within and across
// processes.

#include <algorithm>
#include <csignal>
#include <cstdint>
#include <fstream>
#include <string>
#include <vector>

#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "wfstore/errors.h"
#include "wfstore/file_system.h"

#include "tests/testutil/child_process.h"
#include "tests/testutil/file_bytes.h"
#include "tests/testutil/temp_dir.h"

namespace wfstore {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::ThrowsMessage;

class PosixFileSystemTest : public ::testing::Test {
 protected:
  std::shared_ptr<FileSystem> fs_ = posix_file_system();
  testutil::TempDir dir_;
};

TEST_F(PosixFileSystemTest, SameInstanceEveryTime) {
  EXPECT_EQ(posix_file_system().get(), fs_.get());
}

TEST_F(PosixFileSystemTest, AppendSyncCloseThenReadBack) {
  const auto path = dir_ / "a";
  auto file = fs_->open_writable(path);
  EXPECT_EQ(file->path(), path);
  EXPECT_EQ(file->size(), 0u);
  file->append("hello");
  file->append("");
  file->append(" world");
  EXPECT_EQ(file->size(), 11u);
  file->sync();
  file->close();
  file->close();
  EXPECT_EQ(fs_->read_file(path), "hello world");

  auto reader = fs_->open_readable(path);
  EXPECT_EQ(reader->size(), 11u);
  char buf[100];
  ASSERT_EQ(reader->read(6, sizeof buf, buf), 5u);
  EXPECT_EQ(std::string(buf, 5), "world");
  EXPECT_EQ(reader->read(11, sizeof buf, buf), 0u);
  EXPECT_EQ(reader->read(500, sizeof buf, buf), 0u);
}

TEST_F(PosixFileSystemTest, LargeAppendRoundTrips) {
  std::string data;
  for (int i = 0; i < (1 << 20); ++i)
    data.push_back(static_cast<char>(i * 7 + i / 251));
  auto file = fs_->open_writable(dir_ / "big");
  file->append(data);
  file->close();
  EXPECT_EQ(fs_->read_file(dir_ / "big"), data);
}

TEST_F(PosixFileSystemTest, ReopenAppendsAtTheEnd) {
  fs_->open_writable(dir_ / "a")->append("abc");
  auto file = fs_->open_writable(dir_ / "a");
  EXPECT_EQ(file->size(), 3u);
  file->append("def");
  EXPECT_EQ(file->size(), 6u);
  EXPECT_EQ(fs_->read_file(dir_ / "a"), "abcdef");
}

TEST_F(PosixFileSystemTest, TruncateThenAppendGoesToTheNewEnd) {
  auto file = fs_->open_writable(dir_ / "a");
  file->append("0123456789");
  file->truncate(4);
  EXPECT_EQ(file->size(), 4u);
  file->append("xy");
  EXPECT_EQ(file->size(), 6u);
  EXPECT_EQ(fs_->read_file(dir_ / "a"), "0123xy");
  EXPECT_THAT([&] { file->truncate(7); },
              ThrowsMessage<IOError>(HasSubstr("past the end")));
  EXPECT_EQ(fs_->read_file(dir_ / "a"), "0123xy");
}

TEST_F(PosixFileSystemTest, ReaderSeesTheFileGrow) {
  auto file = fs_->open_writable(dir_ / "a");
  file->append("ab");
  auto reader = fs_->open_readable(dir_ / "a");
  EXPECT_EQ(reader->size(), 2u);
  file->append("cd");
  EXPECT_EQ(reader->size(), 4u);
  char buf[4];
  ASSERT_EQ(reader->read(0, 4, buf), 4u);
  EXPECT_EQ(std::string(buf, 4), "abcd");
}

TEST_F(PosixFileSystemTest, UseAfterCloseThrows) {
  auto file = fs_->open_writable(dir_ / "a");
  file->close();
  EXPECT_THAT([&] { file->append("x"); },
              ThrowsMessage<IOError>(HasSubstr("write")));
  EXPECT_THROW(file->sync(), IOError);
  EXPECT_THROW(file->truncate(0), IOError);
}

TEST_F(PosixFileSystemTest, MissingFileErrorsNameTheOperationAndPath) {
  const auto missing = dir_ / "missing";
  const std::string expected =
      "open " + missing.string() + ": No such file or directory";
  EXPECT_THAT([&] { fs_->open_readable(missing); },
              ThrowsMessage<IOError>(expected));
  EXPECT_THAT([&] { fs_->read_file(missing); },
              ThrowsMessage<IOError>(expected));
  EXPECT_THAT([&] { fs_->open_writable(dir_ / "no" / "such"); },
              ThrowsMessage<IOError>(HasSubstr("No such file or directory")));
  EXPECT_FALSE(fs_->exists(missing));
}

TEST_F(PosixFileSystemTest, EnospcIsAnIOError) {
  if (access("/dev/full", W_OK) != 0) GTEST_SKIP() << "no /dev/full";
  auto file = fs_->open_writable("/dev/full");
  EXPECT_THAT(
      [&] { file->append("x"); },
      ThrowsMessage<IOError>("write /dev/full: No space left on device"));
}

// RLIMIT_FSIZE turns the first write into a short one and the retry into EFBIG:
// the loop must retry after a short write and then report the failure.
TEST_F(PosixFileSystemTest, ShortWriteIsRetriedUntilItFails) {
  const auto path = dir_ / "limited";
  const pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    std::signal(SIGXFSZ, SIG_IGN);
    const rlimit limit{4096, 4096};
    if (setrlimit(RLIMIT_FSIZE, &limit) != 0) _exit(10);
    auto file = posix_file_system()->open_writable(path);
    try {
      file->append(std::string(10000, 'x'));
    } catch (const IOError& e) {
      const bool ok =
          std::string(e.what()).find("File too large") != std::string::npos &&
          file->size() == 4096;
      _exit(ok ? 0 : 11);
    }
    _exit(12);
  }
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0);
  EXPECT_EQ(fs_->read_file(path), std::string(4096, 'x'));
}

// The bytes of record `i` of the mapped-writes tests: `size` bytes that name
// it.
std::string record_bytes(int i, std::size_t size) {
  std::string out(size, static_cast<char>('a' + i % 26));
  const std::string label = std::to_string(i) + ":";
  out.replace(0, std::min(label.size(), size), label, 0, size);
  return out;
}

// The bytes this process has written with write system calls so far
// (/proc/self/io's wchar).
std::uint64_t bytes_written_by_system_calls() {
  std::ifstream io("/proc/self/io");
  std::string key;
  std::uint64_t value = 0;
  while (io >> key >> value) {
    if (key == "wchar:") return value;
  }
  ADD_FAILURE() << "no wchar in /proc/self/io";
  return 0;
}

TEST_F(PosixFileSystemTest, MappedWritesAreReadAtOnceAndGoWithClose) {
  const auto path = dir_ / "m";
  auto file = fs_->open_writable(path);
  file->append(std::string(64 * 1024, '\0'));
  EXPECT_FALSE(testutil::is_mapped_for_writes(path));
  file->map_writes(1 << 20);
  EXPECT_TRUE(testutil::is_mapped_for_writes(path));
  auto reader = fs_->open_readable(path);
  std::string expected(64 * 1024, '\0');
  std::uint64_t at = 0;
  // Small writes (through the mapping), one over the size a mapped write
  // takes, and one that passes the file's end: each reads back at once.
  for (const std::size_t size :
       {std::size_t{100}, std::size_t{256}, std::size_t{257}, std::size_t{3000},
        std::size_t{1}}) {
    const std::string bytes = record_bytes(static_cast<int>(at), size);
    const std::uint64_t before = bytes_written_by_system_calls();
    file->write_at(at, bytes);
    // Up to 256 bytes through the mapping, no system call; more by pwrite().
    EXPECT_EQ(bytes_written_by_system_calls() - before, size <= 256 ? 0 : size)
        << size;
    expected.replace(at, size, bytes);
    std::string back(size, '?');
    ASSERT_EQ(reader->read(at, size, back.data()), size);
    EXPECT_EQ(back, bytes);
    at += size;
  }
  const std::string tail = record_bytes(7, 200);
  file->write_at(file->size() - 50, tail);
  expected.replace(expected.size() - 50, 50, tail);
  EXPECT_EQ(file->size(), 64u * 1024 + 150);
  EXPECT_EQ(fs_->read_file(path), expected);
  // Cut, then written again at the new end.
  file->truncate(1000);
  file->write_at(900, record_bytes(8, 100));
  file->append(record_bytes(9, 10));
  expected =
      expected.substr(0, 900) + record_bytes(8, 100) + record_bytes(9, 10);
  EXPECT_EQ(fs_->read_file(path), expected);
  file->map_writes(0);
  EXPECT_FALSE(testutil::is_mapped_for_writes(path));
  file->map_writes(1 << 20);
  file->sync();
  file->close();
  EXPECT_FALSE(testutil::is_mapped_for_writes(path));
  file->map_writes(1 << 20);  // closed: nothing to map
  EXPECT_FALSE(testutil::is_mapped_for_writes(path));
  EXPECT_EQ(fs_->read_file(path), expected);
}

// While the header's page of a record faults (as a page the background sync
// cleaned does), none of the record's later bytes is in the file yet: the log's
// readers take a zero header followed by written bytes for damage. The first
// page of the mapping is made read-only; the handler of the fault reads the
// file, then makes the page writable again.
int g_reader_fd = -1;
std::uintptr_t g_page = 0;
volatile sig_atomic_t g_faults = 0;
volatile sig_atomic_t g_later_bytes_seen = 0;

void on_fault(int, siginfo_t*, void*) {
  g_faults = g_faults + 1;
  char page[4096];
  if (::pread(g_reader_fd, page, sizeof page, 4096) == 4096) {
    for (const char c : page) {
      if (c != 0) g_later_bytes_seen = 1;
    }
  }
  ::mprotect(reinterpret_cast<void*>(g_page), 4096, PROT_READ | PROT_WRITE);
}

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define WFSTORE_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define WFSTORE_SANITIZED 1
#endif
#endif

TEST_F(PosixFileSystemTest, MappedWritesStoreFrontToBack) {
#ifdef WFSTORE_SANITIZED
  GTEST_SKIP() << "the sanitizers handle SIGSEGV themselves";
#else
  ASSERT_EQ(::sysconf(_SC_PAGESIZE), 4096);
  const auto path = dir_ / "o";
  auto file = fs_->open_writable(path);
  file->append(std::string(3 * 4096, '\0'));
  file->map_writes(1 << 20);
  g_page = testutil::writable_mapping_of(path);
  ASSERT_NE(g_page, 0u);
  g_reader_fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  ASSERT_GE(g_reader_fd, 0);
  struct sigaction action {};
  struct sigaction old_segv {};
  struct sigaction old_bus {};
  action.sa_sigaction = on_fault;
  action.sa_flags = SA_SIGINFO;
  sigemptyset(&action.sa_mask);
  ASSERT_EQ(::sigaction(SIGSEGV, &action, &old_segv), 0);
  ASSERT_EQ(::sigaction(SIGBUS, &action, &old_bus), 0);
  ASSERT_EQ(::mprotect(reinterpret_cast<void*>(g_page), 4096, PROT_READ), 0);
  // A 256-byte record whose first 40 bytes (a log record's 7-byte header
  // among them) end the first page.
  const std::string record = record_bytes(5, 256);
  file->write_at(4096 - 40, record);
  ::sigaction(SIGSEGV, &old_segv, nullptr);
  ::sigaction(SIGBUS, &old_bus, nullptr);
  ::close(g_reader_fd);
  EXPECT_EQ(g_faults, 1);
  EXPECT_EQ(g_later_bytes_seen, 0);
  EXPECT_EQ(fs_->read_file(path).substr(4096 - 40, 256), record);
#endif
}

// A write through the mapping is in the page cache when write_at() returns:
// a SIGKILL of the writer loses none of it.
TEST_F(PosixFileSystemTest, MappedWritesSurviveAKilledWriter) {
  const auto path = dir_ / "k";
  constexpr std::size_t kRecords = 3000;
  constexpr std::size_t kSize = 200;  // a mapped write (at most 256 bytes)
  auto child = testutil::ChildProcess::spawn([&](int report_fd) {
    auto file = posix_file_system()->open_writable(path);
    file->append(std::string(kRecords * kSize, '\0'));
    file->map_writes(kRecords * kSize);
    testutil::report_line(
        report_fd, testutil::is_mapped_for_writes(path) ? "mapped" : "not");
    for (std::size_t i = 0; i < kRecords; ++i) {
      file->write_at(i * kSize, record_bytes(static_cast<int>(i), kSize));
      testutil::report_line(report_fd, std::to_string(i));
    }
    for (;;) ::pause();
  });
  EXPECT_EQ(child.read_line(), "mapped");
  std::size_t reported = 0;  // records the child reported written
  // Killed in the middle of the writes.
  for (std::size_t i = 0; i < kRecords / 2; ++i) {
    const auto line = child.read_line();
    ASSERT_TRUE(line.has_value());
    reported = std::stoul(*line) + 1;
  }
  const int status = child.kill_and_wait();
  EXPECT_TRUE(WIFSIGNALED(status)) << testutil::describe_wait_status(status);
  for (const std::string& line : child.drain()) reported = std::stoul(line) + 1;
  const std::string bytes = testutil::read_file_bytes(path);
  ASSERT_EQ(bytes.size(), kRecords * kSize);
  for (std::size_t i = 0; i < reported; ++i) {
    ASSERT_EQ(bytes.substr(i * kSize, kSize),
              record_bytes(static_cast<int>(i), kSize))
        << "record " << i << " of " << reported << " reported";
  }
}

// A file its process may write but not read is opened write-only (a shared
// mapping needs both, so it is not mapped) and written by pwrite().
TEST_F(PosixFileSystemTest, AWriteOnlyFileIsOpenedForWritingAndNotMapped) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to act as another user";
  constexpr uid_t kNobody = 65534;
  const auto path = dir_ / "w";
  fs_->open_writable(path)->append(std::string(8192, '\0'));
  ASSERT_EQ(::chown(dir_.path().c_str(), kNobody, kNobody), 0);
  ASSERT_EQ(::chown(path.c_str(), kNobody, kNobody), 0);
  ASSERT_EQ(::chmod(path.c_str(), 0200), 0);
  const int code = testutil::exit_code_in_child([&] {
    if (::setgid(kNobody) != 0 || ::setuid(kNobody) != 0) return 3;
    auto file = posix_file_system()->open_writable(path);
    file->map_writes(1 << 20);
    if (testutil::is_mapped_for_writes(path)) return 4;
    file->write_at(100, "written");
    file->close();
    return 0;
  });
  EXPECT_EQ(code, 0);
  EXPECT_EQ(testutil::read_file_bytes(path).substr(100, 7), "written");
}

TEST_F(PosixFileSystemTest, RenameReplacesTheTarget) {
  fs_->open_writable(dir_ / "tmp")->append("new");
  fs_->open_writable(dir_ / "cur")->append("old");
  fs_->rename(dir_ / "tmp", dir_ / "cur");
  EXPECT_FALSE(fs_->exists(dir_ / "tmp"));
  EXPECT_EQ(fs_->read_file(dir_ / "cur"), "new");
  EXPECT_THAT([&] { fs_->rename(dir_ / "tmp", dir_ / "cur"); },
              ThrowsMessage<IOError>(
                  HasSubstr("rename " + (dir_ / "tmp").string() + " to " +
                            (dir_ / "cur").string() + ": No such file")));
}

TEST_F(PosixFileSystemTest, RemoveIsIdempotent) {
  fs_->open_writable(dir_ / "a")->append("x");
  EXPECT_TRUE(fs_->exists(dir_ / "a"));
  fs_->remove(dir_ / "a");
  EXPECT_FALSE(fs_->exists(dir_ / "a"));
  fs_->remove(dir_ / "a");
}

TEST_F(PosixFileSystemTest, CreateDirectoriesMakesParentsAndIsIdempotent) {
  const auto deep = dir_ / "x" / "y" / "z";
  fs_->create_directories(deep);
  fs_->create_directories(deep);
  fs_->create_directories(dir_ / "x" / "y" / "z" / "");
  EXPECT_TRUE(std::filesystem::is_directory(deep));
  fs_->sync_dir(deep);
  fs_->sync_dir(dir_ / "x");
  fs_->open_writable(dir_ / "file")->append("x");
  EXPECT_THAT(
      [&] { fs_->create_directories(dir_ / "file" / "sub"); },
      ThrowsMessage<IOError>(HasSubstr("mkdir " + (dir_ / "file").string())));
}

TEST_F(PosixFileSystemTest, SyncDirOfAMissingDirectoryThrows) {
  EXPECT_THAT([&] { fs_->sync_dir(dir_ / "nope"); },
              ThrowsMessage<IOError>(HasSubstr((dir_ / "nope").string())));
}

TEST_F(PosixFileSystemTest, ListDirIsSortedNamesOnly) {
  for (const char* name : {"b", "a", "c.log", "B"})
    fs_->open_writable(dir_ / name);
  fs_->create_directories(dir_ / "sub");
  EXPECT_THAT(fs_->list_dir(dir_.path()),
              ElementsAre("B", "a", "b", "c.log", "sub"));
  EXPECT_TRUE(fs_->list_dir(dir_ / "sub").empty());
  EXPECT_THAT([&] { fs_->list_dir(dir_ / "nope"); },
              ThrowsMessage<IOError>(HasSubstr("No such file")));
}

TEST_F(PosixFileSystemTest, TryLockIsExclusiveWithinTheProcess) {
  const auto path = dir_ / "LOCK";
  auto lock = fs_->try_lock(path);
  ASSERT_NE(lock, nullptr);
  EXPECT_TRUE(fs_->exists(path));
  EXPECT_EQ(fs_->try_lock(path), nullptr);
  lock.reset();
  auto again = fs_->try_lock(path);
  EXPECT_NE(again, nullptr);
}

// Returns the child's exit code: 0 if the lock was busy, 1 if it got it, 2 on
// error.
int try_lock_in_child(const std::filesystem::path& path) {
  return testutil::exit_code_in_child(
      [&] { return posix_file_system()->try_lock(path) == nullptr ? 0 : 1; });
}

TEST_F(PosixFileSystemTest, TryLockIsExclusiveAcrossProcesses) {
  const auto path = dir_ / "LOCK";
  auto lock = fs_->try_lock(path);
  ASSERT_NE(lock, nullptr);
  EXPECT_EQ(try_lock_in_child(path), 0);
  lock.reset();
  EXPECT_EQ(try_lock_in_child(path), 1);
}

TEST_F(PosixFileSystemTest, TryLockInAMissingDirectoryThrows) {
  EXPECT_THAT([&] { fs_->try_lock(dir_ / "nope" / "LOCK"); },
              ThrowsMessage<IOError>(HasSubstr("open")));
}

}  // namespace
}  // namespace wfstore
