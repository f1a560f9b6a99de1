// A small file system of a test's own (small_fs.h).

#include "tests/testutil/small_fs.h"

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <stdexcept>

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/wait.h>

#include "tests/testutil/child_process.h"
#include "tests/testutil/temp_dir.h"

namespace wfstore::testutil {

std::optional<std::string> mount_small_fs(SmallFsKind kind,
                                          const std::filesystem::path& dir,
                                          const std::filesystem::path& image,
                                          int mib) {
  if (::unshare(CLONE_NEWNS) != 0) {
    return fmt::format("unshare(CLONE_NEWNS): {}", std::strerror(errno));
  }
  if (::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) {
    return fmt::format("mount --make-rprivate /: {}", std::strerror(errno));
  }
  std::filesystem::create_directories(dir);
  if (kind == SmallFsKind::kTmpfs) {
    const std::string options = fmt::format("size={}m", mib);
    if (::mount("tmpfs", dir.c_str(), "tmpfs", 0, options.c_str()) != 0) {
      return fmt::format("mount tmpfs: {}", std::strerror(errno));
    }
    return std::nullopt;
  }
  const char* const mkfs =
      kind == SmallFsKind::kExt2 ? "mkfs.ext2" : "mkfs.ext4";
  const std::string make = fmt::format(
      "truncate -s {}M '{}' && {} -q -F '{}' >/dev/null 2>&1 && "
      "mount -o loop '{}' '{}' 2>/dev/null",
      mib, image.string(), mkfs, image.string(), image.string(), dir.string());
  if (std::system(make.c_str()) != 0) {
    return "no ext4 on a loop device here (mkfs.ext4 or a loop device missing)";
  }
  return std::nullopt;
}

void remount_ext4(const std::filesystem::path& dir,
                  const std::filesystem::path& image) {
  if (::umount2(dir.c_str(), 0) != 0) {
    throw std::runtime_error(
        fmt::format("umount {}: {}", dir.string(), std::strerror(errno)));
  }
  const std::string mount =
      fmt::format("mount -o loop '{}' '{}' 2>&1", image.string(), dir.string());
  if (std::system(mount.c_str()) != 0) {
    throw std::runtime_error("mount again: " + mount);
  }
}

std::vector<std::string> run_on_small_fs(
    SmallFsKind kind, int mib,
    const std::function<void(const std::filesystem::path& root,
                             const std::filesystem::path& image, int fd)>& body,
    bool& skipped) {
  const TempDir tmp;
  const std::filesystem::path root = tmp.path() / "mnt";
  const std::filesystem::path image = tmp.path() / "fs.img";
  ChildProcess child = ChildProcess::spawn([&](int fd) {
    if (const std::optional<std::string> why =
            mount_small_fs(kind, root, image, mib)) {
      report_line(fd, "skip: " + *why);
      return;
    }
    body(root, image, fd);
  });
  std::vector<std::string> lines;
  while (std::optional<std::string> line = child.read_line()) {
    lines.push_back(*line);
  }
  const int status = child.wait();
  skipped = !lines.empty() && lines.front().rfind("skip: ", 0) == 0;
  if (skipped) return lines;
  std::string said;
  for (const std::string& line : lines) said += line + "\n";
  EXPECT_TRUE(WIFEXITED(status))
      << "the child died of signal " << WTERMSIG(status) << "; it said:\n"
      << said;
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << said;
  EXPECT_FALSE(lines.empty());
  if (!lines.empty()) {
    EXPECT_EQ(lines.back(), "done") << said;
  }
  return lines;
}

}  // namespace wfstore::testutil
