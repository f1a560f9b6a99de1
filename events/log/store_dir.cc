// Creating, checking and locking a store directory (STORE grammar in
// store_dir.h).

#include "wfstore_internal/store_dir.h"

#include <algorithm>
#include <random>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "wfstore/errors.h"

#include "wfstore_internal/atomic_file.h"
#include "wfstore_internal/crc32c.h"

namespace wfstore {
namespace {

constexpr std::size_t kMagicSize = kStoreMagic.size();
constexpr std::size_t kVersionOffset = kMagicSize;
constexpr std::size_t kIdOffset = kVersionOffset + 4;
constexpr std::size_t kCrcSize = 4;

static_assert(kMagicSize == 8);
static_assert(kIdOffset + 16 + kCrcSize == kStoreFileSize);

void put_u32(std::string& out, std::uint32_t v) {
  for (int shift = 0; shift < 32; shift += 8) {
    out.push_back(static_cast<char>((v >> shift) & 0xffu));
  }
}

std::uint32_t get_u32(std::string_view in, std::size_t pos) {
  std::uint32_t v = 0;
  for (std::size_t i = 0; i < 4; ++i) {
    v |= static_cast<std::uint32_t>(static_cast<unsigned char>(in[pos + i]))
         << (8 * i);
  }
  return v;
}

struct StoreHeader {
  StoreId id;
  std::uint32_t format_version = 0;
};

InvalidArgumentError not_a_store(const std::filesystem::path& dir,
                                 std::string_view why) {
  return InvalidArgumentError(
      fmt::format("{}: not a wfstore store ({})", dir.string(), why));
}

// Reads and checks dir/STORE. Throws InvalidArgumentError, CorruptionError,
// IOError.
StoreHeader read_store_file(const FileSystem& fs,
                            const std::filesystem::path& dir) {
  const auto path = dir / kStoreFileName;
  const std::string bytes = fs.read_file(path);
  if (bytes.size() < kMagicSize ||
      bytes.compare(0, kMagicSize, kStoreMagic) != 0) {
    throw not_a_store(dir, fmt::format("bad magic in {}", kStoreFileName));
  }
  if (bytes.size() < kIdOffset + kCrcSize) {
    throw CorruptionError(
        fmt::format("{}: truncated at {} bytes", path.string(), bytes.size()));
  }
  const std::size_t crc_offset = bytes.size() - kCrcSize;
  const std::uint32_t stored = crc32c::unmask(get_u32(bytes, crc_offset));
  if (stored != crc32c::value(bytes.data(), crc_offset)) {
    throw CorruptionError(fmt::format("{}: checksum mismatch", path.string()));
  }
  StoreHeader header;
  header.format_version = get_u32(bytes, kVersionOffset);
  if (header.format_version > kStoreFormatVersion) {
    throw InvalidArgumentError(
        fmt::format("{}: store format version {} is newer than supported {}",
                    dir.string(), header.format_version, kStoreFormatVersion));
  }
  if (header.format_version == 0) {
    throw CorruptionError(
        fmt::format("{}: format version 0 is invalid", path.string()));
  }
  if (bytes.size() != kStoreFileSize) {
    throw CorruptionError(fmt::format("{}: size {} bytes, expected {}",
                                      path.string(), bytes.size(),
                                      kStoreFileSize));
  }
  std::copy_n(bytes.begin() + kIdOffset, header.id.bytes.size(),
              header.id.bytes.begin());
  return header;
}

enum class DirState { kMissing, kEmpty, kStore, kForeign };

// Leftovers of a creation that crashed before STORE was renamed into place.
bool is_creation_leftover(const std::string& name) {
  return name == kLockFileName || name == kStoreTempFileName;
}

// The same for a replica's creation, which writes REPLICA before STORE.
bool is_replica_creation_leftover(const std::string& name) {
  return is_creation_leftover(name) || name == kReplicaFileName ||
         name == kReplicaTempFileName;
}

InvalidArgumentError replica_refused(const std::filesystem::path& dir) {
  return InvalidArgumentError(fmt::format(
      "{} is a read replica ({}): it has no log and takes no writes; open it "
      "read-only",
      dir.string(), kReplicaFileName));
}

DirState classify(const FileSystem& fs, const std::filesystem::path& dir) {
  if (!fs.exists(dir)) return DirState::kMissing;
  const std::vector<std::string> names = fs.list_dir(dir);
  if (std::find(names.begin(), names.end(), kStoreFileName) != names.end()) {
    return DirState::kStore;
  }
  return std::all_of(names.begin(), names.end(), is_creation_leftover)
             ? DirState::kEmpty
             : DirState::kForeign;
}

// Creates `dir` and its missing parents, and syncs the parent of each one
// created so the new directories survive a crash.
void create_durable_directories(FileSystem& fs,
                                const std::filesystem::path& dir) {
  std::vector<std::filesystem::path> created;
  for (auto p = std::filesystem::absolute(dir).lexically_normal();
       !p.empty() && p != p.root_path() && !fs.exists(p); p = p.parent_path()) {
    if (!p.has_filename()) continue;
    created.push_back(p);
  }
  fs.create_directories(dir);
  for (const auto& p : created) fs.sync_dir(p.parent_path());
}

// Writes STORE atomically: temp file, fdatasync, rename, fsync of the
// directory.
void write_store_file(FileSystem& fs, const std::filesystem::path& dir,
                      const StoreId& id) {
  write_file_atomically(fs, dir / kStoreFileName, dir / kStoreTempFileName,
                        encode_store_file(id, kStoreFormatVersion));
}

std::unique_ptr<FileLock> take_lock(FileSystem& fs,
                                    const std::filesystem::path& dir) {
  auto lock = fs.try_lock(dir / kLockFileName);
  if (!lock) {
    throw StoreLockedError(
        fmt::format("{}: store is locked by another writer", dir.string()));
  }
  return lock;
}

constexpr std::uint32_t kViewsStateVersion = 1;

// Decodes a VIEWS_STATE file; nullopt if it fails any check.
std::optional<ViewsState> decode_views_state(std::string_view bytes) {
  constexpr std::size_t kFixed = 8 + 4 + 1 + 8 + 1;
  if (bytes.size() < kFixed + kCrcSize ||
      bytes.substr(0, kMagicSize) != kViewsStateMagic) {
    return std::nullopt;
  }
  const std::size_t crc_offset = bytes.size() - kCrcSize;
  if (crc32c::unmask(get_u32(bytes, crc_offset)) !=
      crc32c::value(bytes.data(), crc_offset)) {
    return std::nullopt;
  }
  if (get_u32(bytes, kVersionOffset) != kViewsStateVersion) return std::nullopt;
  const auto boot_length = static_cast<unsigned char>(bytes[kFixed - 1]);
  if (kFixed + boot_length != crc_offset) return std::nullopt;
  const auto clean = static_cast<unsigned char>(bytes[12]);
  if (clean > 1) return std::nullopt;
  ViewsState state;
  state.clean = clean == 1;
  state.durable_lsn = get_u32(bytes, 13) |
                      (static_cast<std::uint64_t>(get_u32(bytes, 17)) << 32);
  state.boot_id = std::string(bytes.substr(kFixed, boot_length));
  return state;
}

}  // namespace

StoreId StoreId::random() {
  std::random_device device;
  StoreId id;
  for (std::size_t i = 0; i < id.bytes.size(); i += 4) {
    const std::uint32_t word = device();
    for (std::size_t j = 0; j < 4; ++j) {
      id.bytes[i + j] = static_cast<std::uint8_t>(word >> (8 * j));
    }
  }
  id.bytes[6] =
      static_cast<std::uint8_t>((id.bytes[6] & 0x0fu) | 0x40u);  // Version 4.
  id.bytes[8] =
      static_cast<std::uint8_t>((id.bytes[8] & 0x3fu) | 0x80u);  // RFC 4122.
  return id;
}

std::string StoreId::to_string() const {
  std::string out;
  out.reserve(36);
  for (std::size_t i = 0; i < bytes.size(); ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) out.push_back('-');
    out += fmt::format("{:02x}", bytes[i]);
  }
  return out;
}

std::string encode_store_file(const StoreId& id, std::uint32_t format_version) {
  std::string out(kStoreMagic);
  put_u32(out, format_version);
  out.append(id.bytes.begin(), id.bytes.end());
  put_u32(out, crc32c::mask(crc32c::value(out.data(), out.size())));
  return out;
}

std::string encode_views_state(const ViewsState& state) {
  if (state.boot_id.size() > 255) {
    throw InvalidArgumentError(
        fmt::format("boot id of {} bytes exceeds 255", state.boot_id.size()));
  }
  std::string out(kViewsStateMagic);
  put_u32(out, kViewsStateVersion);
  out.push_back(state.clean ? '\1' : '\0');
  put_u32(out, static_cast<std::uint32_t>(state.durable_lsn));
  put_u32(out, static_cast<std::uint32_t>(state.durable_lsn >> 32));
  out.push_back(static_cast<char>(state.boot_id.size()));
  out += state.boot_id;
  put_u32(out, crc32c::mask(crc32c::value(out.data(), out.size())));
  return out;
}

StoreDir::StoreDir(std::shared_ptr<FileSystem> fs, std::filesystem::path dir,
                   StoreId id, std::uint32_t format_version,
                   std::unique_ptr<FileLock> lock)
    : fs_(std::move(fs)),
      dir_(std::move(dir)),
      id_(id),
      format_version_(format_version),
      lock_(std::move(lock)),
      replica_(fs_->exists(dir_ / kReplicaFileName)) {}

StoreDir StoreDir::create_or_open(std::shared_ptr<FileSystem> fs,
                                  const std::filesystem::path& dir) {
  // Check first, so that a foreign or unreadable directory gets nothing written
  // to it (not even LOCK).
  if (fs->exists(dir / kReplicaFileName)) throw replica_refused(dir);
  DirState state = classify(*fs, dir);
  if (state == DirState::kForeign) throw not_a_store(dir, "no STORE file");
  if (state == DirState::kStore) read_store_file(*fs, dir);
  if (state == DirState::kMissing) create_durable_directories(*fs, dir);

  std::unique_ptr<FileLock> lock = take_lock(*fs, dir);
  // Another creator may have finished between the check and the lock.
  if (fs->exists(dir / kReplicaFileName)) throw replica_refused(dir);
  state = classify(*fs, dir);
  if (state == DirState::kForeign) throw not_a_store(dir, "no STORE file");
  StoreHeader header;
  if (state == DirState::kStore) {
    header = read_store_file(*fs, dir);
  } else {
    header.id = StoreId::random();
    header.format_version = kStoreFormatVersion;
    write_store_file(*fs, dir, header.id);
  }
  const auto log_dir = dir / "log";
  if (!fs->exists(log_dir)) {
    fs->create_directories(log_dir);
    fs->sync_dir(dir);
  }
  return StoreDir(std::move(fs), dir, header.id, header.format_version,
                  std::move(lock));
}

StoreDir StoreDir::create_replica(std::shared_ptr<FileSystem> fs,
                                  const std::filesystem::path& dir,
                                  const StoreId& source) {
  const auto require_empty = [&] {
    if (!fs->exists(dir)) return;
    const std::vector<std::string> names = fs->list_dir(dir);
    if (!std::all_of(names.begin(), names.end(),
                     is_replica_creation_leftover)) {
      throw InvalidArgumentError(
          fmt::format("{}: a new replica needs a missing or empty directory",
                      dir.string()));
    }
  };
  require_empty();
  if (!fs->exists(dir)) create_durable_directories(*fs, dir);
  std::unique_ptr<FileLock> lock = take_lock(*fs, dir);
  require_empty();  // Another creator may have finished meanwhile.
  write_file_atomically(*fs, dir / kReplicaFileName, dir / kReplicaTempFileName,
                        source.to_string() + "\n");
  write_store_file(*fs, dir, source);
  StoreDir out(std::move(fs), dir, source, kStoreFormatVersion,
               std::move(lock));
  return out;
}

std::optional<StoreId> StoreId::parse(std::string_view text) {
  StoreId id;
  if (text.size() != 36) return std::nullopt;
  std::size_t at = 0;
  for (std::size_t i = 0; i < id.bytes.size(); ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) {
      if (text[at++] != '-') return std::nullopt;
    }
    unsigned value = 0;
    for (int half = 0; half < 2; ++half) {
      const char c = text[at++];
      unsigned digit = 0;
      if (c >= '0' && c <= '9') {
        digit = static_cast<unsigned>(c - '0');
      } else if (c >= 'a' && c <= 'f') {
        digit = static_cast<unsigned>(c - 'a' + 10);
      } else {
        return std::nullopt;
      }
      value = value * 16 + digit;
    }
    id.bytes[i] = static_cast<std::uint8_t>(value);
  }
  return id;
}

std::optional<ViewsState> StoreDir::read_views_state() const {
  const auto path = dir_ / kViewsStateFileName;
  if (!fs_->exists(path)) return std::nullopt;
  std::optional<ViewsState> state = decode_views_state(fs_->read_file(path));
  if (!state) return ViewsState{};
  return state;
}

void StoreDir::write_views_state(const ViewsState& state) const {
  write_file_atomically(*fs_, dir_ / kViewsStateFileName,
                        dir_ / kViewsStateTempFileName,
                        encode_views_state(state));
}

StoreDir StoreDir::open_existing(std::shared_ptr<FileSystem> fs,
                                 const std::filesystem::path& dir, bool lock) {
  if (!fs->exists(dir)) throw not_a_store(dir, "no such directory");
  if (!fs->exists(dir / kStoreFileName))
    throw not_a_store(dir, "no STORE file");
  const StoreHeader header = read_store_file(*fs, dir);
  std::unique_ptr<FileLock> held = lock ? take_lock(*fs, dir) : nullptr;
  return StoreDir(std::move(fs), dir, header.id, header.format_version,
                  std::move(held));
}

}  // namespace wfstore
