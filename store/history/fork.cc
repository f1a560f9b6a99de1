// Fork-and-replay: History::fork copies the log's prefix into a new store
// (log::copy_log_prefix), records its origin in ORIGIN and rebuilds its views;
// store_id() and fork_origin() read a store's identity.
//
//   ORIGIN := magic:u8[8] version:u32 source_store_uuid:u8[16] lsn:u64
//             commit_hash:u8[32] crc:u32
//
//   magic "WFORIGIN"; version 1; lsn the last LSN copied; commit_hash the
//   hash of the commit that ends there; crc the masked crc32c of every byte
//   before it (docs/formats.md#origin).

#include <algorithm>
#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "wfstore/database.h"
#include "wfstore/errors.h"
#include "wfstore/history.h"

#include "store/database_impl.h"
#include "store/history/le_bytes.h"
#include "store/history/new_store.h"
#include "store/history/store_access.h"
#include "wfstore_internal/crc32c.h"
#include "wfstore_internal/log_copy.h"
#include "wfstore_internal/store_core.h"
#include "wfstore_internal/store_dir.h"

namespace wfstore {
namespace {

ForkOrigin decode_origin(std::string_view bytes,
                         const std::filesystem::path& path) {
  const auto corrupt = [&](std::string_view why) {
    return CorruptionError(fmt::format("{}: {}", path.string(), why));
  };
  if (bytes.size() < 12 || bytes.substr(0, 8) != kOriginMagic) {
    throw corrupt("not a fork origin file (bad magic or truncated)");
  }
  const std::size_t crc_at = bytes.size() - 4;
  if (crc32c::unmask(le::get<std::uint32_t>(bytes, crc_at)) !=
      crc32c::value(bytes.data(), crc_at)) {
    throw corrupt("checksum mismatch");
  }
  le::check_version(path, "origin", le::get<std::uint32_t>(bytes, 8),
                    kOriginVersion);
  if (bytes.size() != kOriginSize) {
    throw corrupt(
        fmt::format("size {} bytes, expected {}", bytes.size(), kOriginSize));
  }
  StoreId source;
  std::copy_n(bytes.begin() + 12, source.bytes.size(), source.bytes.begin());
  log::Hash hash;
  std::copy_n(bytes.begin() + 36, hash.size(), hash.begin());
  return ForkOrigin{source.to_string(), le::get<std::uint64_t>(bytes, 28),
                    log::to_hex(hash)};
}

}  // namespace

const StoreDir& history_store_dir(Database& database) {
  StoreCore& core = store_core(database);
  if (!core.usable()) core.read();  // throws the store's IOError
  return database_impl(database).store_dir();
}

ForkReport History::fork(std::uint64_t lsn,
                         const std::filesystem::path& out) const {
  const auto start = std::chrono::steady_clock::now();
  const StoreDir& source = history_store_dir(database_);
  const std::uint64_t current = current_lsn();
  if (lsn == 0 || lsn > current) {
    throw InvalidArgumentError(fmt::format(
        "fork: lsn {} is not in the store's history 1..{}", lsn, current));
  }
  const std::uint64_t end = commit_end(lsn);
  check_apart(source.dir(), out, "fork target");
  const std::shared_ptr<FileSystem>& fs =
      database_impl(database_).file_system();
  NewStoreTarget target(*fs, out, "fork target");
  const log::CopiedLog copied = log::copy_log_prefix(
      fs, source.log_dir(), source.id(), end, target.log_dir(), target.id());
  target.complete(source.id(), end, copied.last_hash,
                  database_.options().logger);
  ForkReport report;
  report.store_id = target.id().to_string();
  report.last_lsn = end;
  report.events = copied.events;
  report.log_bytes = copied.bytes;
  report.seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
          .count();
  return report;
}

std::string store_id(Database& database) {
  return history_store_dir(database).id().to_string();
}

std::optional<ForkOrigin> fork_origin(Database& database) {
  const StoreDir& dir = history_store_dir(database);
  const std::filesystem::path path = dir.dir() / kOriginFileName;
  if (!dir.file_system()->exists(path)) return std::nullopt;
  return decode_origin(dir.file_system()->read_file(path), path);
}

}  // namespace wfstore
