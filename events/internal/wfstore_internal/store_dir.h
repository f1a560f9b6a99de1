// The store directory: its STORE identity file, the writer's LOCK, and the
// paths of the log and the views inside it. Its files (integers are
// little-endian; a crc is the masked crc32c of every byte before it):
//
//   STORE       := magic:u8[8] format_version:u32 store_uuid:u8[16] crc:u32
//   VIEWS_STATE := magic:u8[8] version:u32 clean:u8 durable_lsn:u64 boot
//   boot        := boot_id_length:u8 boot_id:u8[boot_id_length] crc:u32
//   LOCK        := (empty; flock'd by the one writer)
//   REPLICA     := the source store id as text, "\n" (a read replica only)
//
//   STORE       magic "WFSTORE\n"; format_version now 1; store_uuid random
//               (RFC 4122 version 4)
//   VIEWS_STATE magic "WFVIEWS\n"; version 1; clean 0 while a writer has the
//               views open, 1 once they are closed cleanly
//
// Every STORE format version keeps the magic first, the version next and the
// crc as the last four bytes, so any version's file can be checked before its
// version is judged. STORE is written once, when the store is created
// (STORE.tmp, fdatasync, rename, fsync of the directory), and never changed.
//
// VIEWS_STATE is the views' unclean-shutdown marker, kept outside LMDB because
// the views run without syncs: a writer writes it (clean 0, its boot id, the
// log's durable LSN) before its first write to the views and again (clean 1)
// after the views are flushed at close. Always replaced whole
// (VIEWS_STATE.tmp, fdatasync, rename, directory fsync), so a crash at any
// point leaves the old or the new state.
//
// A read replica (README "Streaming to Kafka") is a directory with REPLICA,
// STORE (the source store's id) and views/, and no log/. REPLICA is written
// (REPLICA.tmp, fdatasync, rename) before STORE, so a directory holding STORE
// of a replica always holds REPLICA; a writer never opens it.
//
// Thread-safety: a StoreDir is immutable after it is opened; its accessors may
// be called concurrently.

#pragma once

#include <array>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "wfstore/file_system.h"

namespace wfstore {

inline constexpr std::string_view kStoreFileName = "STORE";
inline constexpr std::string_view kStoreTempFileName = "STORE.tmp";
inline constexpr std::string_view kLockFileName = "LOCK";
inline constexpr std::string_view kStoreMagic = "WFSTORE\n";
inline constexpr std::string_view kReplicaFileName = "REPLICA";
inline constexpr std::string_view kReplicaTempFileName = "REPLICA.tmp";
inline constexpr std::string_view kViewsStateFileName = "VIEWS_STATE";
inline constexpr std::string_view kViewsStateTempFileName = "VIEWS_STATE.tmp";
inline constexpr std::string_view kViewsStateMagic = "WFVIEWS\n";
// The STORE format this code writes and the newest it reads.
inline constexpr std::uint32_t kStoreFormatVersion = 1;
// Size of a version-1 STORE file: magic, version, uuid, crc.
inline constexpr std::size_t kStoreFileSize = 8 + 4 + 16 + 4;

// The identity of a store, written in its STORE file and in every segment
// header.
struct StoreId {
  std::array<std::uint8_t, 16> bytes{};

  // A fresh random (version 4) id from std::random_device.
  static StoreId random();
  // Lowercase 8-4-4-4-12 hex, e.g. "0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f0".
  std::string to_string() const;
  // The id whose to_string() is `text`, or nullopt for any other text.
  static std::optional<StoreId> parse(std::string_view text);

  friend bool operator==(const StoreId& a, const StoreId& b) {
    return a.bytes == b.bytes;
  }
  friend bool operator!=(const StoreId& a, const StoreId& b) {
    return !(a == b);
  }
};

// The views' state as recorded in VIEWS_STATE (grammar above).
struct ViewsState {
  // False while a writer has the views open (or after it crashed).
  bool clean = false;
  // The boot id (/proc/sys/kernel/random/boot_id) of the writer's machine
  // session; at most 255 bytes.
  std::string boot_id;
  // An LSN the log was durable up to when the state was written: an open
  // whose log ends below it has lost acknowledged commits.
  std::uint64_t durable_lsn = 0;

  friend bool operator==(const ViewsState& a, const ViewsState& b) {
    return a.clean == b.clean && a.boot_id == b.boot_id &&
           a.durable_lsn == b.durable_lsn;
  }
};

// The bytes of a VIEWS_STATE file. Throws InvalidArgumentError for a boot id
// over 255 bytes.
std::string encode_views_state(const ViewsState& state);

// Returns the bytes of a STORE file (grammar above). Any version may be
// encoded, for tests of version checks; only kStoreFormatVersion is ever
// written to a store.
std::string encode_store_file(const StoreId& id, std::uint32_t format_version);

// An open store directory; holds the LOCK when opened as the writer.
// Move-only; destroying it releases the LOCK.
class StoreDir {
 public:
  // Opens the store in `dir` as its one writer, creating it if `dir` is missing
  // or empty: takes dir/LOCK, writes STORE (temp file, sync, rename, directory
  // sync) and creates dir/log. A directory holding only the leftovers of an
  // interrupted creation (LOCK, STORE.tmp) counts as empty. Throws
  // InvalidArgumentError if `dir` is a read replica (REPLICA), if it is not
  // empty and has no STORE, if STORE's
  // magic is wrong, or if its format version is newer than kStoreFormatVersion;
  // CorruptionError if STORE fails its checksum or has the wrong size;
  // StoreLockedError if another writer (this process or another) holds the
  // LOCK; IOError. Nothing is written before STORE checks pass and the LOCK is
  // held.
  static StoreDir create_or_open(std::shared_ptr<FileSystem> fs,
                                 const std::filesystem::path& dir);

  // Creates the read replica of store `source` in `dir` (missing or empty;
  // leftovers of an interrupted creation, REPLICA included, count as empty)
  // and holds its LOCK: REPLICA, then STORE with the source's id, each
  // written atomically; no log/. Throws InvalidArgumentError if `dir` is not
  // empty, StoreLockedError, IOError.
  static StoreDir create_replica(std::shared_ptr<FileSystem> fs,
                                 const std::filesystem::path& dir,
                                 const StoreId& source);

  // Opens an existing store without creating anything. With `lock` false
  // (read-only opens, replicas) it never writes and takes no lock. With `lock`
  // true it takes the writer's LOCK (creating dir/LOCK if missing, its only
  // write), for offline tools that change an existing store. Throws as
  // create_or_open(), and InvalidArgumentError if `dir` is missing or has no
  // STORE.
  static StoreDir open_existing(std::shared_ptr<FileSystem> fs,
                                const std::filesystem::path& dir, bool lock);

  StoreDir(StoreDir&&) noexcept = default;
  StoreDir& operator=(StoreDir&&) noexcept = default;
  StoreDir(const StoreDir&) = delete;
  StoreDir& operator=(const StoreDir&) = delete;
  ~StoreDir() = default;

  const StoreId& id() const { return id_; }
  std::uint32_t format_version() const { return format_version_; }
  // True for a read replica (REPLICA exists): views only, no log.
  bool is_replica() const { return replica_; }
  // True if this holds the writer's LOCK.
  bool holds_lock() const { return lock_ != nullptr; }
  const std::filesystem::path& dir() const { return dir_; }
  std::filesystem::path log_dir() const { return dir_ / "log"; }
  std::filesystem::path views_dir() const { return dir_ / "views"; }
  // Where a rebuild builds fresh views before they replace views_dir().
  std::filesystem::path views_rebuild_dir() const {
    return dir_ / "views.rebuild";
  }
  const std::shared_ptr<FileSystem>& file_system() const { return fs_; }

  // The views' state from VIEWS_STATE: nullopt if the file is missing (a store
  // whose views no writer of this format opened yet). A file that fails its
  // checks reads as an unclean state with an empty boot id and durable LSN 0,
  // so the views are not trusted. Throws IOError.
  std::optional<ViewsState> read_views_state() const;
  // Replaces VIEWS_STATE with `state` (VIEWS_STATE.tmp, fdatasync, rename,
  // directory fsync). REQUIRES: holds_lock(). Throws IOError,
  // InvalidArgumentError (boot id over 255 bytes).
  void write_views_state(const ViewsState& state) const;

 private:
  StoreDir(std::shared_ptr<FileSystem> fs, std::filesystem::path dir,
           StoreId id, std::uint32_t format_version,
           std::unique_ptr<FileLock> lock);

  std::shared_ptr<FileSystem> fs_;
  std::filesystem::path dir_;
  StoreId id_;
  std::uint32_t format_version_ = 0;
  std::unique_ptr<FileLock> lock_;
  bool replica_ = false;
};

}  // namespace wfstore
