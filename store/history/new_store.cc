// NewStoreTarget and check_apart (new_store.h).

#include "store/history/new_store.h"

#include <algorithm>
#include <system_error>

#include <fmt/format.h>

#include "wfstore/errors.h"
#include "wfstore/maintenance.h"

#include "store/history/le_bytes.h"
#include "wfstore_internal/atomic_file.h"
#include "wfstore_internal/crc32c.h"

namespace wfstore {
namespace {

bool starts_with(const std::filesystem::path& path,
                 const std::filesystem::path& prefix) {
  return std::mismatch(prefix.begin(), prefix.end(), path.begin(), path.end())
             .first == prefix.end();
}

}  // namespace

NewStoreTarget::NewStoreTarget(FileSystem& fs, const std::filesystem::path& out,
                               std::string_view what)
    : fs_(fs), out_(out), what_(what) {
  std::error_code ec;
  if (std::filesystem::exists(out, ec)) {
    if (!std::filesystem::is_directory(out, ec) ||
        !std::filesystem::is_empty(out, ec) || ec) {
      throw InvalidArgumentError(fmt::format(
          "{} {} exists and is not an empty directory", what, out.string()));
    }
  } else {
    if (ec) throw IOError(fmt::format("{}: {}", out.string(), ec.message()));
    const std::filesystem::path absolute =
        std::filesystem::absolute(out).lexically_normal();
    created_ = absolute;
    for (std::filesystem::path p = absolute.parent_path();
         !p.empty() && p != p.root_path() && !std::filesystem::exists(p, ec);
         p = p.parent_path()) {
      created_ = p;
    }
  }
  try {
    fs.create_directories(log_dir());
    // Each directory created survives a crash once its parent is synced.
    fs.sync_dir(out);
    if (!created_.empty()) {
      for (std::filesystem::path p =
               std::filesystem::absolute(out).lexically_normal();
           ; p = p.parent_path()) {
        fs.sync_dir(p.parent_path());
        if (p == created_) break;
      }
    }
  } catch (...) {
    remove_created();
    throw;
  }
}

NewStoreTarget::~NewStoreTarget() {
  if (!kept_) remove_created();
}

void NewStoreTarget::remove_created() noexcept {
  std::error_code ec;
  if (!created_.empty()) {
    std::filesystem::remove_all(created_, ec);
    return;
  }
  for (const auto& entry : std::filesystem::directory_iterator(out_, ec)) {
    std::filesystem::remove_all(entry.path(), ec);
  }
}

void NewStoreTarget::complete(const StoreId& source, std::uint64_t lsn,
                              const log::Hash& hash, const Logger& logger) {
  std::string origin(kOriginMagic);
  le::put<std::uint32_t>(origin, kOriginVersion);
  origin.append(source.bytes.begin(), source.bytes.end());
  le::put<std::uint64_t>(origin, lsn);
  origin.append(hash.begin(), hash.end());
  le::put<std::uint32_t>(
      origin, crc32c::mask(crc32c::value(origin.data(), origin.size())));
  write_file_atomically(fs_, out_ / kOriginFileName, out_ / kOriginTempFileName,
                        origin);
  // STORE last: a new store cut short before it is no store.
  write_file_atomically(fs_, out_ / kStoreFileName, out_ / kStoreTempFileName,
                        encode_store_file(id_, kStoreFormatVersion));
  const RebuildReport rebuilt = rebuild_store_views(out_, logger);
  if (rebuilt.applied_lsn != lsn) {
    throw CorruptionError(fmt::format(
        "{} {}: its views were rebuilt to lsn {}, its log was copied to {}",
        what_, out_.string(), rebuilt.applied_lsn, lsn));
  }
  kept_ = true;
}

void check_apart(const std::filesystem::path& source,
                 const std::filesystem::path& out, std::string_view what) {
  const std::filesystem::path source_dir =
      std::filesystem::weakly_canonical(source);
  const std::filesystem::path target_dir =
      std::filesystem::weakly_canonical(out);
  if (starts_with(target_dir, source_dir)) {
    throw InvalidArgumentError(
        fmt::format("{} {} is the store it reads or inside the store ({})",
                    what, out.string(), source.string()));
  }
  if (starts_with(source_dir, target_dir)) {
    throw InvalidArgumentError(
        fmt::format("{} {} holds the store it reads ({})", what, out.string(),
                    source.string()));
  }
}

}  // namespace wfstore
