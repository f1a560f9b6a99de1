// The one translation point from POSIX errors (errno) to wfstore exceptions.

#pragma once

#include <filesystem>
#include <string_view>

namespace wfstore {

// Throws IOError("{op} {path}: {strerror(err)}"), e.g. "open /x/LOCK:
// Permission denied".
[[noreturn]] void throw_errno(const std::filesystem::path& path,
                              std::string_view op, int err);

// Same, with the current errno.
[[noreturn]] void throw_errno(const std::filesystem::path& path,
                              std::string_view op);

}  // namespace wfstore
