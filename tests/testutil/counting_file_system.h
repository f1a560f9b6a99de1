// FileSystems that count: the bytes read from log segment files (*.log),
// and the calls of sync_file (a read-only open's syncs of the log).

#pragma once

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <utility>

#include "tests/testutil/forwarding_file_system.h"

namespace wfstore::testutil {

// Counts the bytes read from the log's segment files.
class CountingFileSystem final : public ForwardingFileSystem {
 public:
  std::unique_ptr<ReadableFile> open_readable(
      const std::filesystem::path& path) const override {
    auto inner = real().open_readable(path);
    if (path.extension() != ".log") return inner;
    return std::make_unique<File>(std::move(inner), bytes_);
  }
  std::uint64_t bytes_read() const { return bytes_->load(); }
  void reset() { bytes_->store(0); }

 private:
  class File final : public ReadableFile {
   public:
    File(std::unique_ptr<ReadableFile> inner,
         std::shared_ptr<std::atomic<std::uint64_t>> bytes)
        : inner_(std::move(inner)), bytes_(std::move(bytes)) {}
    std::size_t read(std::uint64_t offset, std::size_t n,
                     char* dst) const override {
      const std::size_t got = inner_->read(offset, n, dst);
      bytes_->fetch_add(got);
      return got;
    }
    std::uint64_t size() const override { return inner_->size(); }
    const std::filesystem::path& path() const override {
      return inner_->path();
    }

   private:
    std::unique_ptr<ReadableFile> inner_;
    std::shared_ptr<std::atomic<std::uint64_t>> bytes_;
  };
  std::shared_ptr<std::atomic<std::uint64_t>> bytes_ =
      std::make_shared<std::atomic<std::uint64_t>>(0);
};

// Counts FileSystem::sync_file calls (a read-only open's syncs of the log).
class SyncFileCounter final : public ForwardingFileSystem {
 public:
  using ForwardingFileSystem::ForwardingFileSystem;
  void sync_file(const std::filesystem::path& path) override {
    ++syncs_;
    real().sync_file(path);
  }
  int syncs() const { return syncs_.load(); }

 private:
  std::atomic<int> syncs_{0};
};

}  // namespace wfstore::testutil
