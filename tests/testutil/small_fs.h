// A small file system of a test's own, to fill or to shut down: mounted in a
// mount namespace of the calling process's own, so call it in a forked child
// (testutil::ChildProcess); the mount goes away with the child. Root only.

#pragma once

#include <filesystem>
#include <optional>
#include <string>

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

}  // namespace wfstore::testutil
