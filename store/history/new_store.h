// What fork-and-replay and salvage share to build a new store beside an
// existing one (docs/formats.md#origin): the target directory, created (or
// emptied) and removed again on failure, its ORIGIN and STORE files and
// views, and the check that the target does not overlap the source.

#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>

#include "wfstore/file_system.h"
#include "wfstore/logger.h"

#include "wfstore_internal/log_format.h"
#include "wfstore_internal/store_dir.h"

namespace wfstore {

// ORIGIN (docs/formats.md#origin):
//
//   ORIGIN := magic:u8[8] version:u32 source_store_uuid:u8[16] lsn:u64
//             commit_hash:u8[32] crc:u32
inline constexpr std::string_view kOriginFileName = "ORIGIN";
inline constexpr std::string_view kOriginTempFileName = "ORIGIN.tmp";
inline constexpr std::string_view kOriginMagic = "WFORIGIN";
inline constexpr std::uint32_t kOriginVersion = 1;
inline constexpr std::size_t kOriginSize = 8 + 4 + 16 + 8 + log::kHashSize + 4;

// SALVAGE (docs/history.md#salvage): in a store salvage_store() built, the
// salvage report as JSON (salvage_report_to_json() without "seconds").
inline constexpr std::string_view kSalvageFileName = "SALVAGE";
inline constexpr std::string_view kSalvageTempFileName = "SALVAGE.tmp";

// The directory a new store is built in: `out` must be missing or an empty
// directory (otherwise InvalidArgumentError naming `what`, e.g. "fork
// target"). Creates it with its missing parents and syncs each directory
// created, then its empty `log/`, and draws the new store's id. Unless
// complete() succeeds, the destructor removes what it created (`out` and its
// missing ancestors), or only the entries of an `out` that existed. Throws
// IOError. `fs` must outlive it.
class NewStoreTarget {
 public:
  NewStoreTarget(FileSystem& fs, const std::filesystem::path& out,
                 std::string_view what);
  NewStoreTarget(const NewStoreTarget&) = delete;
  NewStoreTarget& operator=(const NewStoreTarget&) = delete;
  ~NewStoreTarget();

  // The new store's id, which its segment headers must name.
  const StoreId& id() const { return id_; }
  // `out`/log, where the caller writes the new store's log (fdatasynced).
  std::filesystem::path log_dir() const { return out_ / "log"; }

  // Makes `out` a store once its log is written: ORIGIN (store `source`,
  // last LSN `lsn`, that commit's hash), then STORE (a crash before it
  // leaves no store), then its views rebuilt from the log (`logger` gets the
  // rebuild's warnings), and keeps it. Throws CorruptionError when the views
  // end elsewhere than `lsn`, IOError.
  void complete(const StoreId& source, std::uint64_t lsn, const log::Hash& hash,
                const Logger& logger);

 private:
  // Removes what the constructor created (see above).
  void remove_created() noexcept;

  FileSystem& fs_;
  std::filesystem::path out_;
  std::string what_;
  std::filesystem::path created_;  // topmost directory created (empty: none)
  StoreId id_ = StoreId::random();
  bool kept_ = false;
};

// Throws InvalidArgumentError ("<what> <out> is inside the store it <verb>s")
// when `out` is `source` or lies inside it, or ("... holds the store") when
// `source` lies inside `out`.
void check_apart(const std::filesystem::path& source,
                 const std::filesystem::path& out, std::string_view what);

}  // namespace wfstore
