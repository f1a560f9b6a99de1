// Bundles: one workflow's whole history as a self-contained, checksummed file
// (docs/formats.md#bundles). Integers are little-endian.
//
//   bundle  := magic:u8[8] version:u32 header frame*event_count trailer
//   header  := source_store_uuid:u8[16] event_count:u64 first_lsn:u64
//              last_lsn:u64 workflow_id_length:u32
//              workflow_id:u8[workflow_id_length]
//   frame   := length:u32 lsn:u64 commit_id:u64 timestamp_ms:i64
//              commit_hash:u8[32] body:u8[length - 56]
//   body    := a commit body holding this one event (event_codec.h): the
//              commit's audit fields, then the event's type, schema
//              version, workflow id and payload
//   trailer := sha256:u8[32], the SHA-256 of every byte before it
//
//   magic "WFBUNDLE"; version 1. Every version keeps the magic first, the
//   version next and the trailer last, so any version's file is checked
//   before its version is judged.

#include <algorithm>
#include <cstdint>
#include <functional>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "wfstore/audit_scope.h"
#include "wfstore/database.h"
#include "wfstore/errors.h"
#include "wfstore/history.h"
#include "wfstore/limits.h"

#include "store/database_impl.h"
#include "store/history/le_bytes.h"
#include "store/history/store_access.h"
#include "wfstore_internal/atomic_file.h"
#include "wfstore_internal/commands.h"
#include "wfstore_internal/event_codec.h"
#include "wfstore_internal/log_reader.h"
#include "wfstore_internal/sha256.h"
#include "wfstore_internal/store_core.h"

namespace wfstore {
namespace {

constexpr std::string_view kBundleMagic = "WFBUNDLE";
constexpr std::uint32_t kBundleVersion = 1;
constexpr std::size_t kPrefixSize = 8 + 4;  // magic, version
constexpr std::size_t kTrailerSize = 32;
constexpr std::size_t kHeaderFixedSize = 16 + 8 + 8 + 8 + 4;
constexpr std::size_t kFrameFixedSize = 8 + 8 + 8 + log::kHashSize;
constexpr std::size_t kReadChunkBytes = std::size_t{1} << 20;

std::string hex(const Sha256Digest& digest) { return log::to_hex(digest); }

// Appends bytes to a file while hashing them.
class HashingWriter {
 public:
  explicit HashingWriter(WritableFile& file) : file_(file) {}
  void append(std::string_view bytes) {
    file_.append(bytes);
    hash_.update(bytes);
    size_ += bytes.size();
  }
  Sha256Digest finish() { return hash_.finish(); }
  std::uint64_t size() const { return size_; }

 private:
  WritableFile& file_;
  Sha256 hash_;
  std::uint64_t size_ = 0;
};

// One event's frame (grammar above).
std::string encode_frame(const Event& event, const log::Hash& commit_hash) {
  const std::string body = encode_commit_body(event.audit, {event.payload});
  std::string frame;
  le::put<std::uint32_t>(
      frame, static_cast<std::uint32_t>(kFrameFixedSize + body.size()));
  le::put<std::uint64_t>(frame, event.lsn);
  le::put<std::uint64_t>(frame, event.commit_id);
  le::put<std::uint64_t>(frame, static_cast<std::uint64_t>(event.timestamp_ms));
  frame.append(commit_hash.begin(), commit_hash.end());
  frame += body;
  return frame;
}

// The hashes of the commits `events` belong to, by commit id, read through
// the log Reader from the first event's commit to the last's.
std::map<std::uint64_t, log::Hash> commit_hashes(
    const StoreDir& store, const std::vector<Event>& events) {
  std::map<std::uint64_t, log::Hash> hashes;
  for (const Event& event : events)
    hashes.emplace(event.commit_id, log::Hash{});
  std::optional<log::Damage> damage;
  log::Reader reader(store.file_system(), store.log_dir(), store.id(),
                     events.front().commit_id, [&damage](const log::Damage& d) {
                       if (!damage) damage = d;
                     });
  const std::uint64_t last = events.back().commit_id;
  std::size_t found = 0;
  log::Commit commit;
  while (found < hashes.size() && reader.next(&commit) && !damage &&
         commit.first_lsn <= last) {
    if (auto it = hashes.find(commit.first_lsn); it != hashes.end()) {
      it->second = commit.hash;
      ++found;
    }
  }
  if (damage) {
    throw CorruptionError(fmt::format("log segment {} offset {}: {}",
                                      damage->segment, damage->offset,
                                      damage->reason));
  }
  if (found != hashes.size()) {
    throw CorruptionError(fmt::format(
        "{}: the log lacks commits of the workflow's events (found {} of {})",
        store.log_dir().string(), found, hashes.size()));
  }
  return hashes;
}

// Sequential reads of a bundle's bytes in [0, end).
class BundleCursor {
 public:
  BundleCursor(const ReadableFile& file, std::uint64_t end)
      : file_(file), end_(end) {}

  // The next `n` bytes of `what`. Throws CorruptionError when fewer remain.
  std::string take(std::uint64_t n, std::string_view what) {
    if (n > end_ - pos_) {
      throw CorruptionError(fmt::format(
          "{}: truncated: {} at offset {} needs {} bytes, {} remain",
          file_.path().string(), what, pos_, n, end_ - pos_));
    }
    std::string out(static_cast<std::size_t>(n), '\0');
    if (file_.read(pos_, out.size(), out.data()) != out.size()) {
      throw CorruptionError(fmt::format("{}: truncated while reading {}",
                                        file_.path().string(), what));
    }
    pos_ += n;
    return out;
  }
  std::uint64_t remaining() const { return end_ - pos_; }
  std::uint64_t position() const { return pos_; }

 private:
  const ReadableFile& file_;
  std::uint64_t end_;
  std::uint64_t pos_ = 0;
};

// Checks the trailer against the SHA-256 of everything before it; returns the
// SHA-256 of the whole file. Throws CorruptionError on a mismatch.
Sha256Digest check_checksum(const ReadableFile& file, std::uint64_t size) {
  Sha256 content;
  Sha256 whole;
  std::string buffer(kReadChunkBytes, '\0');
  const std::uint64_t content_end = size - kTrailerSize;
  for (std::uint64_t at = 0; at < size;) {
    const auto want = static_cast<std::size_t>(
        std::min<std::uint64_t>(buffer.size(), size - at));
    if (file.read(at, want, buffer.data()) != want) {
      throw CorruptionError(
          fmt::format("{}: truncated while reading it", file.path().string()));
    }
    const std::string_view chunk(buffer.data(), want);
    if (at < content_end) {
      content.update(
          chunk.substr(0, static_cast<std::size_t>(std::min<std::uint64_t>(
                              want, content_end - at))));
    }
    whole.update(chunk);
    at += want;
  }
  std::string trailer(kTrailerSize, '\0');
  file.read(content_end, kTrailerSize, trailer.data());
  const Sha256Digest digest = content.finish();
  if (std::string_view(reinterpret_cast<const char*>(digest.data()),
                       digest.size()) != trailer) {
    throw CorruptionError(fmt::format(
        "{}: checksum mismatch: the bundle is damaged or was changed",
        file.path().string()));
  }
  return whole.finish();
}

// Reads and checks the bundle in `path`, calling `visit` with every event in
// order (each with its commit hash). Throws as read_bundle_info().
BundleInfo scan_bundle(
    FileSystem& fs, const std::filesystem::path& path,
    const std::function<void(Event&&, const log::Hash&)>& visit) {
  if (!fs.exists(path)) {
    throw InvalidArgumentError(
        fmt::format("{}: no such bundle file", path.string()));
  }
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) {
    throw InvalidArgumentError(
        fmt::format("{}: not a wfstore bundle (a directory)", path.string()));
  }
  const std::unique_ptr<ReadableFile> file = fs.open_readable(path);
  const std::uint64_t size = file->size();
  std::string prefix(
      static_cast<std::size_t>(std::min<std::uint64_t>(size, kPrefixSize)),
      '\0');
  prefix.resize(file->read(0, prefix.size(), prefix.data()));
  const std::string_view magic_seen =
      std::string_view(prefix).substr(0, kBundleMagic.size());
  if (magic_seen != kBundleMagic.substr(0, magic_seen.size()) ||
      prefix.empty()) {
    throw InvalidArgumentError(
        fmt::format("{}: not a wfstore bundle (bad magic)", path.string()));
  }
  if (size < kPrefixSize + kTrailerSize) {
    throw CorruptionError(
        fmt::format("{}: truncated: {} bytes is shorter than any bundle",
                    path.string(), size));
  }
  const Sha256Digest whole = check_checksum(*file, size);
  le::check_version(path, "bundle", le::get<std::uint32_t>(prefix, 8),
                    kBundleVersion);
  const auto corrupt = [&](const std::string& why) {
    return CorruptionError(fmt::format("{}: {}", path.string(), why));
  };
  BundleCursor cursor(*file, size - kTrailerSize);
  cursor.take(kPrefixSize, "magic and version");
  const std::string header = cursor.take(kHeaderFixedSize, "header");
  StoreId source;
  std::copy_n(header.begin(), source.bytes.size(), source.bytes.begin());
  BundleInfo info;
  info.source_store_id = source.to_string();
  info.events = le::get<std::uint64_t>(header, 16);
  info.first_lsn = le::get<std::uint64_t>(header, 24);
  info.last_lsn = le::get<std::uint64_t>(header, 32);
  const auto id_length = le::get<std::uint32_t>(header, 40);
  if (id_length == 0 || id_length > kMaxStringBytes) {
    throw corrupt(fmt::format("bad workflow id length {}", id_length));
  }
  info.workflow_id = cursor.take(id_length, "workflow id");
  if (info.events == 0) throw corrupt("the header counts no events");
  std::uint64_t previous_lsn = 0;
  for (std::uint64_t i = 0; i < info.events; ++i) {
    const std::string what = fmt::format("event {} of {}", i + 1, info.events);
    const auto length =
        le::get<std::uint32_t>(cursor.take(4, what + " length"), 0);
    if (length < kFrameFixedSize || length > cursor.remaining()) {
      throw corrupt(fmt::format("{}: bad frame length {}", what, length));
    }
    const std::string frame = cursor.take(length, what);
    const auto lsn = le::get<std::uint64_t>(frame, 0);
    const auto commit_id = le::get<std::uint64_t>(frame, 8);
    const auto timestamp =
        static_cast<std::int64_t>(le::get<std::uint64_t>(frame, 16));
    log::Hash hash;
    std::copy_n(frame.begin() + 24, hash.size(), hash.begin());
    if (lsn <= previous_lsn || commit_id == 0 || commit_id > lsn) {
      throw corrupt(fmt::format("{}: lsn {} (commit {}) does not follow lsn {}",
                                what, lsn, commit_id, previous_lsn));
    }
    previous_lsn = lsn;
    DecodedCommit decoded;
    try {
      decoded = decode_commit_body(
          lsn, timestamp, 1, std::string_view(frame).substr(kFrameFixedSize));
    } catch (const CorruptionError& e) {
      throw corrupt(fmt::format("{}: {}", what, e.what()));
    }
    Event& event = decoded.events.front();
    if (event.workflow_id != info.workflow_id) {
      throw corrupt(fmt::format("{} names workflow '{}', not '{}'", what,
                                event.workflow_id, info.workflow_id));
    }
    event.commit_id = commit_id;
    if (i == 0 && lsn != info.first_lsn) {
      throw corrupt(
          fmt::format("the first event's lsn {} is not the "
                      "header's first lsn {}",
                      lsn, info.first_lsn));
    }
    if (visit) visit(std::move(event), hash);
  }
  if (previous_lsn != info.last_lsn) {
    throw corrupt(
        fmt::format("the last event's lsn {} is not the header's last lsn {}",
                    previous_lsn, info.last_lsn));
  }
  if (cursor.remaining() != 0) {
    throw corrupt(
        fmt::format("{} bytes follow the last event", cursor.remaining()));
  }
  info.bytes = size;
  info.sha256 = hex(whole);
  return info;
}

// A temporary name beside `file` that no other export uses.
std::filesystem::path temp_name(const std::filesystem::path& file) {
  std::random_device device;
  std::filesystem::path temp = file;
  temp += fmt::format(".tmp-{:08x}", device());
  return temp;
}

}  // namespace

BundleInfo History::export_workflow(std::string_view workflow_id,
                                    const std::filesystem::path& file) const {
  validate_key(workflow_id, "workflow_id");
  const StoreDir& store = history_store_dir(database_);
  FileSystem& fs = *database_impl(database_).file_system();
  if (fs.exists(file)) {
    throw InvalidArgumentError(
        fmt::format("export: {} exists already", file.string()));
  }
  EventQuery query;
  query.workflow_id = std::string(workflow_id);
  query.limit = std::numeric_limits<std::size_t>::max();
  const std::vector<Event> events = this->events(query);
  if (events.empty()) {
    throw InvalidArgumentError(fmt::format(
        "export: workflow {} has no events in this store", workflow_id));
  }
  const std::map<std::uint64_t, log::Hash> hashes =
      commit_hashes(store, events);
  BundleInfo info;
  info.workflow_id = std::string(workflow_id);
  info.source_store_id = store.id().to_string();
  info.events = events.size();
  info.first_lsn = events.front().lsn;
  info.last_lsn = events.back().lsn;
  Sha256Digest whole{};
  write_file_atomically(fs, file, temp_name(file), [&](WritableFile& out) {
    HashingWriter writer(out);
    Sha256 whole_hash;
    const auto append = [&](std::string_view bytes) {
      writer.append(bytes);
      whole_hash.update(bytes);
    };
    std::string head(kBundleMagic);
    le::put<std::uint32_t>(head, kBundleVersion);
    head.append(store.id().bytes.begin(), store.id().bytes.end());
    le::put<std::uint64_t>(head, info.events);
    le::put<std::uint64_t>(head, info.first_lsn);
    le::put<std::uint64_t>(head, info.last_lsn);
    le::put<std::uint32_t>(head,
                           static_cast<std::uint32_t>(workflow_id.size()));
    head.append(workflow_id);
    append(head);
    for (const Event& event : events) {
      append(encode_frame(event, hashes.at(event.commit_id)));
    }
    const Sha256Digest trailer = writer.finish();
    const std::string_view trailer_bytes(
        reinterpret_cast<const char*>(trailer.data()), trailer.size());
    out.append(trailer_bytes);
    whole_hash.update(trailer_bytes);
    info.bytes = writer.size() + trailer.size();
    whole = whole_hash.finish();
  });
  info.sha256 = hex(whole);
  return info;
}

BundleInfo read_bundle_info(const std::filesystem::path& file) {
  return scan_bundle(*posix_file_system(), file, {});
}

BundleInfo import_bundle(Database& database,
                         const std::filesystem::path& file) {
  StoreCore& core = store_core(database);
  core.check_writer("import_bundle");
  history_store_dir(database);
  std::vector<EventPayload> events;
  BundleInfo info = scan_bundle(*database_impl(database).file_system(), file,
                                [&](Event&& event, const log::Hash&) {
                                  if (is_workflow_state_event(event.payload)) {
                                    events.push_back(std::move(event.payload));
                                  }
                                });
  const auto too_large = [&](const std::string& why) {
    return InvalidArgumentError(
        fmt::format("{}: workflow {} is too large to import atomically: {}",
                    file.string(), info.workflow_id, why));
  };
  if (events.size() > kMaxCommitEvents) {
    throw too_large(fmt::format("{} events, a commit holds at most {}",
                                events.size(), kMaxCommitEvents));
  }
  if (!events.empty()) {
    const AuditFields& fields = AuditScope::current();
    try {
      encode_commit_body(AuditMetadata{fields.actor, fields.correlation_id,
                                       fields.causation_id, fields.source},
                         events);
    } catch (const InvalidArgumentError& e) {
      throw too_large(e.what());
    }
  }
  core.commit_one(ImportWorkflowHistory{info.workflow_id, std::move(events)});
  return info;
}

}  // namespace wfstore
