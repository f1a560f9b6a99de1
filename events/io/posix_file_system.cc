// The real FileSystem: POSIX calls on file descriptors, fdatasync for file
// syncs, fsync of a directory descriptor for directory syncs, and flock for the
// writer's LOCK.

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <limits>
#include <string>
#include <system_error>
#include <utility>

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include "wfstore/errors.h"
#include "wfstore/file_system.h"

#include "wfstore_internal/posix_error.h"

namespace wfstore {

void throw_errno(const std::filesystem::path& path, std::string_view op,
                 int err) {
  throw IOError(fmt::format("{} {}: {}", op, path.string(),
                            std::generic_category().message(err)));
}

void throw_errno(const std::filesystem::path& path, std::string_view op) {
  throw_errno(path, op, errno);
}

namespace {

// Store files are private by default: 0600, directories 0700 (less the
// umask). posix_file_system(file_mode) widens them.
constexpr unsigned kDefaultFileMode = 0600;

mode_t directory_mode(unsigned file_mode) {
  return static_cast<mode_t>(file_mode | ((file_mode & 0444u) >> 2));
}

// An owned file descriptor, closed when destroyed.
class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) : fd_(fd) {}
  ~UniqueFd() {
    if (fd_ >= 0) ::close(fd_);
  }
  UniqueFd(UniqueFd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  UniqueFd& operator=(UniqueFd&& other) noexcept {
    if (this != &other) {
      if (fd_ >= 0) ::close(fd_);
      fd_ = std::exchange(other.fd_, -1);
    }
    return *this;
  }
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;

  int get() const { return fd_; }
  bool valid() const { return fd_ >= 0; }
  // Gives up ownership; returns the descriptor.
  int release() { return std::exchange(fd_, -1); }

 private:
  int fd_ = -1;
};

// open(2) with O_CLOEXEC, retried on EINTR; an invalid UniqueFd and errno set
// when it fails.
UniqueFd try_open_fd(const std::filesystem::path& path, int flags,
                     mode_t mode = 0) {
  int fd;
  do {
    fd = ::open(path.c_str(), flags | O_CLOEXEC, mode);
  } while (fd < 0 && errno == EINTR);
  return UniqueFd(fd);
}

UniqueFd open_fd(const std::filesystem::path& path, int flags,
                 mode_t mode = 0) {
  UniqueFd fd = try_open_fd(path, flags, mode);
  if (!fd.valid()) throw_errno(path, "open");
  return fd;
}

std::uint64_t fd_size(int fd, const std::filesystem::path& path) {
  struct stat st {};
  if (::fstat(fd, &st) != 0) throw_errno(path, "fstat");
  return static_cast<std::uint64_t>(st.st_size);
}

// fdatasync (`data_only`) or fsync of `fd`, retried on EINTR. Throws IOError
// naming `path`.
void sync_fd(int fd, const std::filesystem::path& path, bool data_only) {
  int rc;
  do {
    rc = data_only ? ::fdatasync(fd) : ::fsync(fd);
  } while (rc != 0 && errno == EINTR);
  if (rc != 0) throw_errno(path, data_only ? "fdatasync" : "fsync");
}

// Closes `fd`, throwing on failure. EINTR is not retried: Linux has released
// the descriptor already, and a retry could close a descriptor another thread
// just opened.
void close_fd(UniqueFd& fd, const std::filesystem::path& path) {
  const int raw = fd.release();
  if (::close(raw) != 0 && errno != EINTR) throw_errno(path, "close");
}

// The largest write map_writes() copies into the mapping. A first write to a
// page of the mapping faults (4.6-10 us on this project's virtual machine,
// well under 1 us on a bare one) and each background sync write-protects the
// pages written since the last one again, where a pwrite() costs a system
// call (2-3 us here). Measured here (README "Performance"): records of 134
// and about 200 bytes (a processed message, a lease or ack) gain 15-20%, a
// 274-byte stage update nothing, a 550-byte transaction loses 6%.
constexpr std::size_t kMaxMappedWrite = 256;

// Copies `data` to `dst` so that no byte becomes visible to another thread or
// process before the bytes in front of it: the log's readers take a record
// whose header is still zero, followed only by zeros, for one being written,
// and a zero header before written bytes for damage (docs/formats.md, "Zeros
// written ahead"). memcpy() gives no order (glibc stores a copy of more than
// 512 bytes with its first 64 bytes last), and the first store to a page of
// the mapping may fault and wait. Eight bytes at a time, each store released
// after the one before (on x86 only the compiler is held to the order).
void copy_ascending(char* dst, std::string_view data) {
  std::size_t i = 0;
  for (; i + 8 <= data.size(); i += 8) {
    std::memcpy(dst + i, data.data() + i, 8);
    std::atomic_thread_fence(std::memory_order_release);
  }
  for (; i < data.size(); ++i) {
    dst[i] = data[i];
    std::atomic_thread_fence(std::memory_order_release);
  }
}

// Whether an overwrite of bytes already written to a file on the file system
// of `fd` allocates nothing: then a write through a mapping cannot fail for
// space. On copy-on-write file systems (btrfs, XFS with shared extents) a
// page fault that cannot allocate raises SIGBUS where a write() returns
// ENOSPC, so files there are not mapped.
bool overwrites_allocate_nothing(int fd) {
  constexpr long kExt4Magic = 0xEF53;  // ext2, ext3 and ext4
  constexpr long kTmpfsMagic = 0x01021994;
  struct statfs st {};
  if (::fstatfs(fd, &st) != 0) return false;
  return st.f_type == kExt4Magic || st.f_type == kTmpfsMagic;
}

class PosixWritableFile final : public WritableFile {
 public:
  PosixWritableFile(std::filesystem::path path, UniqueFd fd)
      : path_(std::move(path)),
        fd_(std::move(fd)),
        size_(fd_size(fd_.get(), path_)) {}
  ~PosixWritableFile() override { unmap(); }
  PosixWritableFile(const PosixWritableFile&) = delete;
  PosixWritableFile& operator=(const PosixWritableFile&) = delete;

  void append(std::string_view data) override { write_at(size_, data); }

  void write_at(std::uint64_t offset, std::string_view data) override {
    check_open("write");
    if (offset > size_) {
      throw IOError(fmt::format("write {}: offset {} is past the end ({})",
                                path_.string(), offset, size_));
    }
    if (map_ != nullptr && data.size() <= kMaxMappedWrite &&
        offset + data.size() <= std::min(size_, map_length_)) {
      copy_ascending(map_ + offset, data);
      // The bytes are stored before whatever tells another thread or
      // process that they are there (a pwrite() was a full barrier).
      std::atomic_thread_fence(std::memory_order_seq_cst);
      return;
    }
    const char* p = data.data();
    std::size_t left = data.size();
    while (left > 0) {
      const ssize_t n =
          ::pwrite(fd_.get(), p, left, static_cast<off_t>(offset));
      if (n < 0) {
        if (errno == EINTR) continue;
        throw_errno(path_, "write");
      }
      if (n == 0) throw_errno(path_, "write", EIO);
      const auto written = static_cast<std::size_t>(n);
      p += written;
      left -= written;
      offset += written;
      size_ = std::max(size_, offset);
    }
  }

  bool supports_write_at() const override { return true; }

  void map_writes(std::uint64_t length) override {
    unmap();
    if (length == 0 || length > std::numeric_limits<std::size_t>::max() ||
        !fd_.valid() || !overwrites_allocate_nothing(fd_.get())) {
      return;
    }
    // Past the file's end the mapping is never touched (write_at() copies
    // only below size()); a file that grows is covered without a remap.
    void* at = ::mmap(nullptr, length, PROT_READ | PROT_WRITE, MAP_SHARED,
                      fd_.get(), 0);
    if (at == MAP_FAILED) return;  // Writes go on as system calls.
    map_ = static_cast<char*>(at);
    map_length_ = length;
  }

  void sync() override {
    check_open("fdatasync");
    sync_fd(fd_.get(), path_, /*data_only=*/true);
  }

  void truncate(std::uint64_t size) override {
    check_open("ftruncate");
    if (size > size_) {
      throw IOError(fmt::format("ftruncate {}: size {} is past the end ({})",
                                path_.string(), size, size_));
    }
    int rc;
    do {
      rc = ::ftruncate(fd_.get(), static_cast<off_t>(size));
    } while (rc != 0 && errno == EINTR);
    if (rc != 0) throw_errno(path_, "ftruncate");
    size_ = size;
  }

  std::uint64_t size() const override { return size_; }

  void close() override {
    unmap();
    if (fd_.valid()) close_fd(fd_, path_);
  }

  const std::filesystem::path& path() const override { return path_; }

 private:
  void check_open(std::string_view op) const {
    if (!fd_.valid()) throw_errno(path_, op, EBADF);
  }

  void unmap() noexcept {
    if (map_ == nullptr) return;
    ::munmap(map_, map_length_);
    map_ = nullptr;
    map_length_ = 0;
  }

  std::filesystem::path path_;
  UniqueFd fd_;
  std::uint64_t size_;
  // The mapping map_writes() made, or nullptr.
  char* map_ = nullptr;
  std::uint64_t map_length_ = 0;
};

class PosixReadableFile final : public ReadableFile {
 public:
  PosixReadableFile(std::filesystem::path path, UniqueFd fd)
      : path_(std::move(path)), fd_(std::move(fd)) {}

  std::size_t read(std::uint64_t offset, std::size_t n,
                   char* dst) const override {
    std::size_t done = 0;
    while (done < n) {
      const ssize_t got = ::pread(fd_.get(), dst + done, n - done,
                                  static_cast<off_t>(offset + done));
      if (got < 0) {
        if (errno == EINTR) continue;
        throw_errno(path_, "pread");
      }
      if (got == 0) break;
      done += static_cast<std::size_t>(got);
    }
    return done;
  }

  std::uint64_t size() const override { return fd_size(fd_.get(), path_); }

  const std::filesystem::path& path() const override { return path_; }

 private:
  std::filesystem::path path_;
  UniqueFd fd_;
};

// flock is per open file description: closing the descriptor releases the lock.
class PosixFileLock final : public FileLock {
 public:
  explicit PosixFileLock(UniqueFd fd) : fd_(std::move(fd)) {}

 private:
  UniqueFd fd_;
};

class PosixFileSystem final : public FileSystem {
 public:
  explicit PosixFileSystem(unsigned file_mode)
      : file_mode_(static_cast<mode_t>(file_mode)),
        dir_mode_(directory_mode(file_mode)) {}

  std::unique_ptr<WritableFile> open_writable(
      const std::filesystem::path& path) override {
    // Readable as well, for map_writes(): a shared writable mapping needs
    // both. A file this process may only write is opened for writing.
    UniqueFd fd = try_open_fd(path, O_RDWR | O_CREAT, file_mode_);
    if (!fd.valid() && errno == EACCES) {
      fd = open_fd(path, O_WRONLY | O_CREAT, file_mode_);
    }
    if (!fd.valid()) throw_errno(path, "open");
    return std::make_unique<PosixWritableFile>(path, std::move(fd));
  }

  std::unique_ptr<ReadableFile> open_readable(
      const std::filesystem::path& path) const override {
    return std::make_unique<PosixReadableFile>(path, open_fd(path, O_RDONLY));
  }

  std::string read_file(const std::filesystem::path& path) const override {
    UniqueFd fd = open_fd(path, O_RDONLY);
    std::string out;
    char buf[16384];
    for (;;) {
      const ssize_t n = ::read(fd.get(), buf, sizeof buf);
      if (n < 0) {
        if (errno == EINTR) continue;
        throw_errno(path, "read");
      }
      if (n == 0) break;
      out.append(buf, static_cast<std::size_t>(n));
    }
    return out;
  }

  void rename(const std::filesystem::path& from,
              const std::filesystem::path& to) override {
    if (::rename(from.c_str(), to.c_str()) != 0) {
      throw_errno(to, fmt::format("rename {} to", from.string()));
    }
  }

  void remove(const std::filesystem::path& path) override {
    if (::unlink(path.c_str()) != 0 && errno != ENOENT)
      throw_errno(path, "unlink");
  }

  void create_directories(const std::filesystem::path& path) override {
    std::filesystem::path partial;
    for (const auto& part : path) {
      partial /= part;
      if (part.empty() || part == partial.root_path()) continue;
      if (::mkdir(partial.c_str(), dir_mode_) == 0) continue;
      const int err = errno;
      struct stat st {};
      if (err == EEXIST && ::stat(partial.c_str(), &st) == 0 &&
          S_ISDIR(st.st_mode))
        continue;
      throw_errno(partial, "mkdir", err);
    }
  }

  void sync_dir(const std::filesystem::path& path) override {
    UniqueFd fd = open_fd(path, O_RDONLY | O_DIRECTORY);
    sync_fd(fd.get(), path, /*data_only=*/false);
    close_fd(fd, path);
  }

  void sync_file(const std::filesystem::path& path) override {
    UniqueFd fd = open_fd(path, O_RDONLY);
    sync_fd(fd.get(), path, /*data_only=*/true);
    close_fd(fd, path);
  }

  bool exists(const std::filesystem::path& path) const override {
    struct stat st {};
    if (::stat(path.c_str(), &st) == 0) return true;
    if (errno == ENOENT || errno == ENOTDIR) return false;
    throw_errno(path, "stat");
  }

  std::vector<std::string> list_dir(
      const std::filesystem::path& dir) const override {
    std::error_code ec;
    std::filesystem::directory_iterator it(dir, ec);
    if (ec) throw_errno(dir, "opendir", ec.value());
    std::vector<std::string> names;
    for (; it != std::filesystem::directory_iterator(); it.increment(ec)) {
      names.push_back(it->path().filename().string());
    }
    if (ec) throw_errno(dir, "readdir", ec.value());
    std::sort(names.begin(), names.end());
    return names;
  }

  std::unique_ptr<FileLock> try_lock(
      const std::filesystem::path& path) override {
    UniqueFd fd = open_fd(path, O_RDWR | O_CREAT, file_mode_);
    int rc;
    do {
      rc = ::flock(fd.get(), LOCK_EX | LOCK_NB);
    } while (rc != 0 && errno == EINTR);
    if (rc != 0) {
      if (errno == EWOULDBLOCK) return nullptr;
      throw_errno(path, "flock");
    }
    return std::make_unique<PosixFileLock>(std::move(fd));
  }

 private:
  const mode_t file_mode_;
  const mode_t dir_mode_;
};

}  // namespace

void WritableFile::write_at(std::uint64_t offset, std::string_view data) {
  if (offset != size()) {
    throw IOError(fmt::format(
        "write {}: offset {} is not the end ({}) and this file only appends",
        path().string(), offset, size()));
  }
  append(data);
}

std::shared_ptr<FileSystem> posix_file_system() {
  static const std::shared_ptr<FileSystem> kInstance =
      std::make_shared<PosixFileSystem>(kDefaultFileMode);
  return kInstance;
}

std::shared_ptr<FileSystem> posix_file_system(unsigned file_mode) {
  if ((file_mode & ~0777u) != 0 || (file_mode & 0600u) != 0600u) {
    throw InvalidArgumentError(fmt::format(
        "file_mode {:o} must grant the owner read and write and hold only "
        "permission bits (0600..0777)",
        file_mode));
  }
  if (file_mode == kDefaultFileMode) return posix_file_system();
  return std::make_shared<PosixFileSystem>(file_mode);
}

}  // namespace wfstore
