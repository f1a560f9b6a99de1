// Several processes on one store: a read-only reader process follows a live
// writer process, and a second writer process is refused with StoreLockedError.

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include "wfstore/database.h"
#include "wfstore/errors.h"

#include "tests/testutil/sample_workflows.h"
#include "tests/testutil/temp_dir.h"

namespace wfstore {
namespace {

using testutil::TempDir;

// One byte through a pipe, for lockstep between parent and child.
void send(int fd) {
  const char byte = 1;
  if (write(fd, &byte, 1) != 1) _exit(10);
}
bool receive(int fd) {
  char byte = 0;
  return read(fd, &byte, 1) == 1;
}

TEST(MultiProcessTest, ReaderProcessFollowsWriterAndSecondWriterIsLocked) {
  const TempDir dir;
  {
    // Create the store so the reader can open it.
    auto db = Database::open(dir.path());
    db->close();
  }
  int to_child[2];
  int to_parent[2];
  ASSERT_EQ(pipe(to_child), 0);
  ASSERT_EQ(pipe(to_parent), 0);
  const pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    close(to_child[1]);
    close(to_parent[0]);
    try {
      auto db = Database::open(dir.path());
      db->workflow_store().store(testutil::diamond_workflow("w1"));
      send(to_parent[1]);
      if (!receive(to_child[0])) _exit(11);
      db->workflow_store().store(testutil::diamond_workflow("w2"));
      send(to_parent[1]);
      if (!receive(to_child[0])) _exit(12);
      db->close();
    } catch (const std::exception&) {
      _exit(2);
    }
    _exit(0);
  }
  close(to_child[0]);
  close(to_parent[1]);
  ASSERT_TRUE(receive(to_parent[0]));
  EXPECT_THROW(Database::open(dir.path()), StoreLockedError);
  auto reader = Database::open_read_only(dir.path());
  EXPECT_TRUE(reader->workflow_store().exists("w1"));
  EXPECT_FALSE(reader->workflow_store().exists("w2"));
  send(to_child[1]);
  ASSERT_TRUE(receive(to_parent[0]));
  EXPECT_TRUE(reader->workflow_store().exists("w2"));
  EXPECT_EQ(reader->workflow_store().retrieve("w2").stages.size(), 7u);
  EXPECT_EQ(reader->stats().applied_lsn, 2u);
  send(to_child[1]);
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0);
  close(to_child[1]);
  close(to_parent[0]);
}

TEST(MultiProcessTest, ReadOnlyOpenFailsWhenViewsNeedARebuild) {
  const TempDir dir;
  {
    auto db = Database::open(dir.path());
    db->workflow_store().mark_message_processed("m");
    db->close();
  }
  std::filesystem::remove_all(dir.path() / "views");
  EXPECT_THAT([&] { Database::open_read_only(dir.path()); },
              ::testing::ThrowsMessage<CorruptionError>(
                  ::testing::HasSubstr("no views")));
}

}  // namespace
}  // namespace wfstore
