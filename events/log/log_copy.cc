// copy_log_prefix: the Reader walks the source's commits up to the end LSN;
// each segment is copied once the walk has passed its last commit to copy.

#include "wfstore_internal/log_copy.h"

#include <algorithm>
#include <optional>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "wfstore/errors.h"

#include "wfstore_internal/log_reader.h"

namespace wfstore::log {
namespace {

// Large enough that a copy costs a few system calls per segment.
constexpr std::size_t kCopyChunkBytes = std::size_t{4} << 20;
// The framed segment header: the first bytes of every segment.
constexpr std::size_t kFramedHeaderSize = kHeaderSize + kSegmentHeaderSize;

// Copies segment `name` of `from_dir` into `to_dir` up to `end_offset` with
// its header re-framed for `to_id`; returns the bytes written.
std::uint64_t copy_segment(FileSystem& fs,
                           const std::filesystem::path& from_dir,
                           const std::filesystem::path& to_dir,
                           const std::string& name, std::uint64_t end_offset,
                           const StoreId& to_id) {
  const std::unique_ptr<ReadableFile> in = fs.open_readable(from_dir / name);
  std::string buffer(std::min<std::uint64_t>(kCopyChunkBytes, end_offset),
                     '\0');
  if (end_offset < kFramedHeaderSize ||
      in->read(0, kFramedHeaderSize, buffer.data()) != kFramedHeaderSize ||
      buffer[kHeaderSize - 1] !=
          static_cast<char>(RecordType::kSegmentHeader)) {
    throw CorruptionError(
        fmt::format("log segment {}: offset 0: no segment header to copy",
                    (from_dir / name).string()));
  }
  std::string error;
  std::optional<SegmentHeader> header = decode_segment_header(
      std::string_view(buffer).substr(kHeaderSize, kSegmentHeaderSize), &error);
  if (!header) {
    throw CorruptionError(fmt::format("log segment {}: offset 0: {}",
                                      (from_dir / name).string(), error));
  }
  header->store_uuid = to_id.bytes;
  std::string framed;
  std::size_t block_offset = 0;
  frame_physical(static_cast<std::uint8_t>(RecordType::kSegmentHeader),
                 encode_segment_header(*header), &block_offset, &framed);

  const std::filesystem::path to_path = to_dir / name;
  const std::unique_ptr<WritableFile> out = fs.open_writable(to_path);
  if (out->size() != 0) {
    throw IOError(fmt::format("{}: exists already", to_path.string()));
  }
  out->append(framed);
  for (std::uint64_t at = kFramedHeaderSize; at < end_offset;) {
    const auto want = static_cast<std::size_t>(
        std::min<std::uint64_t>(buffer.size(), end_offset - at));
    const std::size_t got = in->read(at, want, buffer.data());
    if (got != want) {
      throw CorruptionError(fmt::format(
          "log segment {}: offset {}: the segment ended while copying it",
          (from_dir / name).string(), at + got));
    }
    out->append(std::string_view(buffer.data(), got));
    at += got;
  }
  out->sync();
  out->close();
  return end_offset;
}

}  // namespace

CopiedLog copy_log_prefix(const std::shared_ptr<FileSystem>& fs,
                          const std::filesystem::path& from_dir,
                          const StoreId& from_id, std::uint64_t end_lsn,
                          const std::filesystem::path& to_dir,
                          const StoreId& to_id) {
  if (end_lsn == 0) {
    throw InvalidArgumentError("copy_log_prefix: end lsn 0 ends no commit");
  }
  std::optional<Damage> damage;
  Reader reader(fs, from_dir, from_id, 1, [&damage](const Damage& d) {
    if (!damage) damage = d;
  });
  const auto check = [&] {
    if (damage) {
      throw CorruptionError(fmt::format("log segment {}: offset {}: {}",
                                        (from_dir / damage->segment).string(),
                                        damage->offset, damage->reason));
    }
  };
  CopiedLog copied;
  std::string segment;            // the segment being walked
  std::uint64_t segment_end = 0;  // just past its last commit walked
  const auto finish_segment = [&] {
    if (segment.empty()) return;
    copied.bytes +=
        copy_segment(*fs, from_dir, to_dir, segment, segment_end, to_id);
    ++copied.segments;
  };
  Commit commit;
  while (copied.last_lsn < end_lsn) {
    if (!reader.next(&commit)) {
      check();
      throw CorruptionError(fmt::format("log {}: ends at lsn {} before lsn {}",
                                        from_dir.string(), copied.last_lsn,
                                        end_lsn));
    }
    check();
    if (commit.last_lsn() > end_lsn) {
      throw InvalidArgumentError(
          fmt::format("lsn {} is inside commit {}..{}, not at its end", end_lsn,
                      commit.first_lsn, commit.last_lsn()));
    }
    if (commit.segment != segment) {
      finish_segment();
      segment = commit.segment;
    }
    segment_end =
        commit.offset +
        framed_size(kCommitFixedSize + commit.body.size(),
                    static_cast<std::size_t>(commit.offset % kBlockSize));
    ++copied.commits;
    copied.events += commit.event_count;
    copied.last_lsn = commit.last_lsn();
    copied.last_hash = commit.hash;
  }
  finish_segment();
  fs->sync_dir(to_dir);
  return copied;
}

}  // namespace wfstore::log
