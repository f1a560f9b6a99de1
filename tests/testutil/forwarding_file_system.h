// A FileSystem that forwards every call to another one: a base for test file
// systems that intercept a few operations and pass the rest through.

#pragma once

#include <filesystem>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "wfstore/file_system.h"

namespace wfstore::testutil {

class ForwardingFileSystem : public FileSystem {
 public:
  // `real` receives every call this file system does not override; the POSIX
  // file system when null.
  explicit ForwardingFileSystem(std::shared_ptr<FileSystem> real = nullptr)
      : real_(real ? std::move(real) : posix_file_system()) {}

  std::unique_ptr<WritableFile> open_writable(
      const std::filesystem::path& path) override {
    return real_->open_writable(path);
  }
  std::unique_ptr<ReadableFile> open_readable(
      const std::filesystem::path& path) const override {
    return real_->open_readable(path);
  }
  std::string read_file(const std::filesystem::path& path) const override {
    return real_->read_file(path);
  }
  void rename(const std::filesystem::path& from,
              const std::filesystem::path& to) override {
    real_->rename(from, to);
  }
  void remove(const std::filesystem::path& path) override {
    real_->remove(path);
  }
  void create_directories(const std::filesystem::path& path) override {
    real_->create_directories(path);
  }
  void sync_file(const std::filesystem::path& path) override {
    real_->sync_file(path);
  }
  void sync_dir(const std::filesystem::path& path) override {
    real_->sync_dir(path);
  }
  bool exists(const std::filesystem::path& path) const override {
    return real_->exists(path);
  }
  std::vector<std::string> list_dir(
      const std::filesystem::path& dir) const override {
    return real_->list_dir(dir);
  }
  std::unique_ptr<FileLock> try_lock(
      const std::filesystem::path& path) override {
    return real_->try_lock(path);
  }

 protected:
  FileSystem& real() const { return *real_; }

 private:
  std::shared_ptr<FileSystem> real_;
};

}  // namespace wfstore::testutil
