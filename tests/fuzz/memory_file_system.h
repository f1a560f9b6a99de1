// MemoryFileSystem: a FileSystem whose files live in memory, so a fuzz target
// can lay out a log directory from its input and run the reader, recovery and
// verify over it without touching the disk. Syncs are no-ops and every call
// succeeds except opening a missing file for reading and listing a missing
// directory (IOError, as the POSIX file system).
//
// Thread-safety: one thread at a time (a fuzz input runs on one thread).

#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "wfstore/errors.h"
#include "wfstore/file_system.h"

namespace wfstore::fuzz {

class MemoryFileSystem final : public FileSystem {
 public:
  // Creates or replaces the file at `path` (its directory is created too).
  void put(const std::filesystem::path& path, std::string bytes) {
    create_directories(path.parent_path());
    files_[key(path)] = std::make_shared<std::string>(std::move(bytes));
  }
  // The bytes of `path`, or nullptr if there is no such file.
  const std::string* get(const std::filesystem::path& path) const {
    const auto it = files_.find(key(path));
    return it == files_.end() ? nullptr : it->second.get();
  }

  std::unique_ptr<WritableFile> open_writable(
      const std::filesystem::path& path) override {
    auto& file = files_[key(path)];
    if (!file) file = std::make_shared<std::string>();
    return std::make_unique<Writable>(path, file);
  }
  std::unique_ptr<ReadableFile> open_readable(
      const std::filesystem::path& path) const override {
    const auto it = files_.find(key(path));
    if (it == files_.end()) {
      throw IOError("open " + path.string() + ": No such file or directory");
    }
    return std::make_unique<Readable>(path, it->second);
  }
  std::string read_file(const std::filesystem::path& path) const override {
    const auto it = files_.find(key(path));
    if (it == files_.end()) {
      throw IOError("open " + path.string() + ": No such file or directory");
    }
    return *it->second;
  }
  void rename(const std::filesystem::path& from,
              const std::filesystem::path& to) override {
    const auto it = files_.find(key(from));
    if (it == files_.end()) {
      throw IOError("rename " + from.string() + ": No such file or directory");
    }
    auto file = it->second;
    files_.erase(it);
    files_[key(to)] = std::move(file);
  }
  void remove(const std::filesystem::path& path) override {
    files_.erase(key(path));
  }
  void create_directories(const std::filesystem::path& path) override {
    for (std::filesystem::path p = path; !p.empty() && p != p.parent_path();
         p = p.parent_path()) {
      dirs_.insert(key(p));
    }
  }
  void sync_dir(const std::filesystem::path&) override {}
  void sync_file(const std::filesystem::path& path) override {
    if (files_.count(key(path)) == 0) {
      throw IOError("fdatasync " + path.string() +
                    ": No such file or directory");
    }
  }
  bool exists(const std::filesystem::path& path) const override {
    return files_.count(key(path)) != 0 || dirs_.count(key(path)) != 0;
  }
  std::vector<std::string> list_dir(
      const std::filesystem::path& dir) const override {
    if (dirs_.count(key(dir)) == 0) {
      throw IOError("list " + dir.string() + ": No such file or directory");
    }
    std::set<std::string> names;
    for (const auto& [name, file] : files_) {
      const std::filesystem::path p(name);
      if (p.parent_path() == key(dir)) names.insert(p.filename().string());
    }
    for (const std::string& name : dirs_) {
      const std::filesystem::path p(name);
      if (p.parent_path() == key(dir)) names.insert(p.filename().string());
    }
    return {names.begin(), names.end()};
  }
  std::unique_ptr<FileLock> try_lock(
      const std::filesystem::path& path) override {
    open_writable(path);
    return std::make_unique<FileLock>();
  }

 private:
  using Bytes = std::shared_ptr<std::string>;

  static std::string key(const std::filesystem::path& path) {
    return path.lexically_normal().string();
  }

  class Writable final : public WritableFile {
   public:
    Writable(std::filesystem::path path, Bytes bytes)
        : path_(std::move(path)), bytes_(std::move(bytes)) {}
    void append(std::string_view data) override { bytes_->append(data); }
    void write_at(std::uint64_t offset, std::string_view data) override {
      if (offset > bytes_->size()) throw IOError("write past the end");
      const auto at = static_cast<std::size_t>(offset);
      if (bytes_->size() < at + data.size()) bytes_->resize(at + data.size());
      bytes_->replace(at, data.size(), data);
    }
    bool supports_write_at() const override { return true; }
    void sync() override {}
    void truncate(std::uint64_t size) override {
      if (size < bytes_->size()) bytes_->resize(static_cast<std::size_t>(size));
    }
    std::uint64_t size() const override { return bytes_->size(); }
    void close() override {}
    const std::filesystem::path& path() const override { return path_; }

   private:
    std::filesystem::path path_;
    Bytes bytes_;
  };

  class Readable final : public ReadableFile {
   public:
    Readable(std::filesystem::path path, Bytes bytes)
        : path_(std::move(path)), bytes_(std::move(bytes)) {}
    std::size_t read(std::uint64_t offset, std::size_t n,
                     char* dst) const override {
      if (offset >= bytes_->size()) return 0;
      const std::size_t count = std::min<std::size_t>(
          n, bytes_->size() - static_cast<std::size_t>(offset));
      std::memcpy(dst, bytes_->data() + offset, count);
      return count;
    }
    std::uint64_t size() const override { return bytes_->size(); }
    const std::filesystem::path& path() const override { return path_; }

   private:
    std::filesystem::path path_;
    Bytes bytes_;
  };

  std::map<std::string, Bytes> files_;
  std::set<std::string> dirs_;
};

}  // namespace wfstore::fuzz
