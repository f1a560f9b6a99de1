// A small file system of a test's own, to fill or to shut down: mounted in a
// mount namespace of the calling process's own, so call it in a forked child
// (testutil::ChildProcess); the mount goes away with the child. Root only.

#pragma once

#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace wfstore::testutil {

// kExt2 cannot allocate ahead (fallocate: EOPNOTSUPP).
enum class SmallFsKind { kTmpfs, kExt4, kExt2 };

// Unshares the mount namespace and mounts a file system of `mib` MiB at `dir`
// (created if missing): a tmpfs, or ext4 (ext2) made by mkfs in the file
// `image` and mounted through a loop device. Returns why it could not (not
// root, no loop device, no mkfs.ext4), or nullopt once mounted.
std::optional<std::string> mount_small_fs(SmallFsKind kind,
                                          const std::filesystem::path& dir,
                                          const std::filesystem::path& image,
                                          int mib);

// Unmounts `dir` and mounts the ext4 `image` there again (what a machine's
// reboot does to a file system that was shut down). Throws
// std::runtime_error when either fails.
void remount_ext4(const std::filesystem::path& dir,
                  const std::filesystem::path& image);

// Runs `body(root, image, report_fd)` in a forked child (ChildProcess) with a
// file system of `kind` and `mib` MiB mounted at `root` (`image` backs an
// ext4 or ext2). The child reports lines with report_line(); its last must
// be "done". Returns them, after failing the test (gtest) if the child died,
// exited non-zero or did not end with "done". Sets `skipped` instead when the
// file system could not be mounted (not root, no loop device): the caller
// then skips.
std::vector<std::string> run_on_small_fs(
    SmallFsKind kind, int mib,
    const std::function<void(const std::filesystem::path& root,
                             const std::filesystem::path& image, int fd)>& body,
    bool& skipped);

}  // namespace wfstore::testutil
