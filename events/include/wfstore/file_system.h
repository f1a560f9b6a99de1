// The file seam: every write, fsync, rename and truncate wfstore makes goes
// through a FileSystem, so tests can inject faults (failed or short writes,
// ENOSPC, failed fsync, power cuts) and count fdatasyncs at every layer.
// posix_file_system() is the real one.
//
// Thread-safety: a FileSystem is safe for concurrent use. A ReadableFile is
// used by one thread at a time. A WritableFile is used by one thread at a
// time, except that sync() may run on one other thread while append(),
// write_at() or size() runs (the log writer's background syncer fdatasyncs
// beside the appending leader; the fdatasync covers at least what was
// written before it began). truncate() and close() never overlap another call on the same
// file.

#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace wfstore {

// A file open for appending.
class WritableFile {
 public:
  virtual ~WritableFile() = default;

  // Appends all of `data` at the end. A short write is retried until done or
  // failed. Throws IOError naming the file (ENOSPC included).
  virtual void append(std::string_view data) = 0;
  // Writes all of `data` at `offset` (at most size()), over the bytes there
  // and past the end as needed (size() grows to cover it). A short write is
  // retried until done or failed. Throws IOError naming the file. Only when
  // supports_write_at(); the default throws IOError unless offset == size()
  // (an append).
  virtual void write_at(std::uint64_t offset, std::string_view data);
  // Whether write_at() writes at any offset up to size(). False by default.
  virtual bool supports_write_at() const { return false; }
  // Advice for a file whose writes mostly land on bytes it already has
  // (zeros written ahead) and that is rarely synced: from now on write_at()
  // may copy a small write that lies within the file's first `length` bytes
  // and below size() into a shared writable mapping of the file instead of
  // making a system call, front to back (no byte is seen before the ones in
  // front of it). The bytes reach the same page cache as a write's: sync()
  // covers them, readers see them, a killed process does not lose them. What
  // a write reports at once, a mapped write leaves to the next sync(): a file
  // system that refuses writes (shut down, remounted read-only) fails the
  // sync, not the write. An I/O error while a page of the mapping is read in
  // raises SIGBUS, as it does for the views' LMDB map. 0 stops it. Does
  // nothing by default, nor when no mapping can be made, nor on a file system
  // where an overwrite may need space (posix_file_system() maps only on ext4
  // and tmpfs). Never throws.
  virtual void map_writes(std::uint64_t length) { (void)length; }
  // fdatasync: the data appended so far survives a machine crash. Throws
  // IOError.
  virtual void sync() = 0;
  // Cuts the file to `size` bytes (<= its size); later appends go to the new
  // end. Throws IOError.
  virtual void truncate(std::uint64_t size) = 0;
  // Current size in bytes, appended data included.
  virtual std::uint64_t size() const = 0;
  // Closes the descriptor. Idempotent. Throws IOError.
  virtual void close() = 0;
  virtual const std::filesystem::path& path() const = 0;
};

// A file open for positional reads.
class ReadableFile {
 public:
  virtual ~ReadableFile() = default;

  // Reads up to `n` bytes at `offset` into `dst`; returns the count read (less
  // than `n` only at end of file). Throws IOError.
  virtual std::size_t read(std::uint64_t offset, std::size_t n,
                           char* dst) const = 0;
  // Current size in bytes (it may grow while a writer appends).
  virtual std::uint64_t size() const = 0;
  virtual const std::filesystem::path& path() const = 0;
};

// An exclusive advisory lock (flock) on a file; released when destroyed.
class FileLock {
 public:
  virtual ~FileLock() = default;
};

class FileSystem {
 public:
  virtual ~FileSystem() = default;

  // Opens `path` for appending, creating it if missing (not synced: call
  // sync_dir for that). Throws IOError.
  virtual std::unique_ptr<WritableFile> open_writable(
      const std::filesystem::path& path) = 0;
  // Opens an existing file for reading. Throws IOError (a missing file
  // included).
  virtual std::unique_ptr<ReadableFile> open_readable(
      const std::filesystem::path& path) const = 0;
  // Reads a whole (small) file. Throws IOError.
  virtual std::string read_file(const std::filesystem::path& path) const = 0;

  // Atomically replaces `to` with `from` (rename(2)). Throws IOError.
  virtual void rename(const std::filesystem::path& from,
                      const std::filesystem::path& to) = 0;
  // Removes a file; a missing file is not an error. Throws IOError.
  virtual void remove(const std::filesystem::path& path) = 0;
  // Creates a directory and its missing parents. Throws IOError.
  virtual void create_directories(const std::filesystem::path& path) = 0;
  // fsyncs a directory, making creations, renames and removals in it durable.
  // Throws IOError.
  virtual void sync_dir(const std::filesystem::path& path) = 0;
  // fdatasyncs the file at `path` through a descriptor of its own, opened
  // for reading: makes durable what another process (or handle) wrote to it,
  // as a read-only open does for the log a writer beside it writes. Throws
  // IOError naming the file (a missing one included).
  virtual void sync_file(const std::filesystem::path& path) = 0;

  virtual bool exists(const std::filesystem::path& path) const = 0;
  // Names (not paths) of the entries of `dir`, sorted. Throws IOError.
  virtual std::vector<std::string> list_dir(
      const std::filesystem::path& dir) const = 0;

  // Takes an exclusive, non-blocking lock on `path` (created if missing).
  // Returns nullptr if another holder (this process or another) has it. Throws
  // IOError.
  virtual std::unique_ptr<FileLock> try_lock(
      const std::filesystem::path& path) = 0;
};

// The real file system (POSIX calls, fdatasync). Shared; lives for the process.
// Creates files 0600 and directories 0700 (less the umask).
std::shared_ptr<FileSystem> posix_file_system();

// The real file system creating files with `file_mode` and directories with
// the same bits plus search permission wherever read is granted (0640 gives
// 0750), less the umask. Throws InvalidArgumentError unless 0600 <= file_mode
// <= 0777 with the owner's read and write bits set.
std::shared_ptr<FileSystem> posix_file_system(unsigned file_mode);

}  // namespace wfstore
