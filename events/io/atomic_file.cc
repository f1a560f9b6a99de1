// write_file_atomically: temp file, fdatasync, rename, directory fsync.

#include "wfstore_internal/atomic_file.h"

#include <memory>

namespace wfstore {

void write_file_atomically(FileSystem& fs, const std::filesystem::path& path,
                           const std::filesystem::path& temp,
                           const std::function<void(WritableFile&)>& write) {
  fs.remove(temp);
  try {
    const std::unique_ptr<WritableFile> file = fs.open_writable(temp);
    write(*file);
    file->sync();
    file->close();
    fs.rename(temp, path);
  } catch (...) {
    try {
      fs.remove(temp);
    } catch (...) {  // NOLINT(bugprone-empty-catch): the first error wins.
    }
    throw;
  }
  fs.sync_dir(path.parent_path().empty() ? std::filesystem::path(".")
                                         : path.parent_path());
}

void write_file_atomically(FileSystem& fs, const std::filesystem::path& path,
                           const std::filesystem::path& temp,
                           std::string_view bytes) {
  write_file_atomically(fs, path, temp,
                        [bytes](WritableFile& file) { file.append(bytes); });
}

}  // namespace wfstore
