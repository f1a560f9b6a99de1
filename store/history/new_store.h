// What fork-and-replay and salvage share to build a new store beside an
// existing one (docs/formats.md#origin): the target directory, created (or
// emptied) and removed again on failure, its ORIGIN file, and the check that
// the target does not overlap the source.

#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>

#include "wfstore/file_system.h"

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
// created. Unless keep() is called, the destructor removes what it created
// (`out` and its missing ancestors), or only the entries of an `out` that
// existed. Throws IOError.
class NewStoreTarget {
 public:
  NewStoreTarget(FileSystem& fs, const std::filesystem::path& out,
                 std::string_view what);
  NewStoreTarget(const NewStoreTarget&) = delete;
  NewStoreTarget& operator=(const NewStoreTarget&) = delete;
  ~NewStoreTarget();

  // The new store is complete: keep it.
  void keep() { kept_ = true; }

 private:
  std::filesystem::path out_;
  std::filesystem::path created_;  // topmost directory created (empty: none)
  bool kept_ = false;
};

// Throws InvalidArgumentError ("<what> <out> is inside the store it <verb>s")
// when `out` is `source` or lies inside it, or ("... holds the store") when
// `source` lies inside `out`.
void check_apart(const std::filesystem::path& source,
                 const std::filesystem::path& out, std::string_view what);

// Writes `dir`/ORIGIN (ORIGIN.tmp, fdatasync, rename, directory fsync):
// store `source`, last LSN `lsn`, that commit's hash. Throws IOError.
void write_origin(FileSystem& fs, const std::filesystem::path& dir,
                  const StoreId& source, std::uint64_t lsn,
                  const log::Hash& hash);

}  // namespace wfstore
