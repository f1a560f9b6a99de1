// Writing a file whole or not at all: the contents go to a temporary file
// that is fdatasynced and renamed over the target, and the directory is
// fsynced. A crash at any point leaves the old target (or none) or the new
// one, plus possibly the temporary file.
//
// Thread-safety: as the FileSystem's; two writers of one path race.

#pragma once

#include <filesystem>
#include <functional>
#include <string_view>

#include "wfstore/file_system.h"

namespace wfstore {

// Removes `temp` if present, lets `write` append the contents to it, then
// fdatasyncs and closes it, renames it to `path` and fsyncs the directory of
// `path`. `temp` must be in that directory. On failure removes `temp` (best
// effort) and rethrows; `path` is then unchanged. Throws IOError and what
// `write` throws.
void write_file_atomically(FileSystem& fs, const std::filesystem::path& path,
                           const std::filesystem::path& temp,
                           const std::function<void(WritableFile&)>& write);

// write_file_atomically() of `bytes`.
void write_file_atomically(FileSystem& fs, const std::filesystem::path& path,
                           const std::filesystem::path& temp,
                           std::string_view bytes);

}  // namespace wfstore
