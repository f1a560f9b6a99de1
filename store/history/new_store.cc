// NewStoreTarget, check_apart and write_origin (new_store.h).

#include "store/history/new_store.h"

#include <algorithm>
#include <system_error>

#include <fmt/format.h>

#include "wfstore/errors.h"

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
    : out_(out) {
  std::error_code ec;
  if (std::filesystem::exists(out, ec)) {
    if (!std::filesystem::is_directory(out, ec) ||
        !std::filesystem::is_empty(out, ec) || ec) {
      throw InvalidArgumentError(fmt::format(
          "{} {} exists and is not an empty directory", what, out.string()));
    }
    return;
  }
  if (ec) throw IOError(fmt::format("{}: {}", out.string(), ec.message()));
  const std::filesystem::path absolute =
      std::filesystem::absolute(out).lexically_normal();
  created_ = absolute;
  for (std::filesystem::path p = absolute.parent_path();
       !p.empty() && p != p.root_path() && !std::filesystem::exists(p, ec);
       p = p.parent_path()) {
    created_ = p;
  }
  fs.create_directories(out);
  // Each directory created survives a crash once its parent is synced.
  for (std::filesystem::path p = absolute;; p = p.parent_path()) {
    fs.sync_dir(p.parent_path());
    if (p == created_) break;
  }
}

NewStoreTarget::~NewStoreTarget() {
  if (kept_) return;
  std::error_code ec;
  if (!created_.empty()) {
    std::filesystem::remove_all(created_, ec);
    return;
  }
  for (const auto& entry : std::filesystem::directory_iterator(out_, ec)) {
    std::filesystem::remove_all(entry.path(), ec);
  }
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

void write_origin(FileSystem& fs, const std::filesystem::path& dir,
                  const StoreId& source, std::uint64_t lsn,
                  const log::Hash& hash) {
  std::string bytes(kOriginMagic);
  le::put<std::uint32_t>(bytes, kOriginVersion);
  bytes.append(source.bytes.begin(), source.bytes.end());
  le::put<std::uint64_t>(bytes, lsn);
  bytes.append(hash.begin(), hash.end());
  le::put<std::uint32_t>(
      bytes, crc32c::mask(crc32c::value(bytes.data(), bytes.size())));
  write_file_atomically(fs, dir / kOriginFileName, dir / kOriginTempFileName,
                        bytes);
}

}  // namespace wfstore
