// SegmentReader (block framing of one segment) and Reader (commits across
// segments).

#include "wfstore_internal/log_reader.h"

#include <algorithm>
#include <optional>
#include <utility>

#include <fmt/format.h>

#include "wfstore/errors.h"

#include "wfstore_internal/crc32c.h"

namespace wfstore::log {
namespace {

std::uint32_t load_u32(const char* p) {
  std::uint32_t v = 0;
  for (int i = 3; i >= 0; --i) v = (v << 8) | static_cast<std::uint8_t>(p[i]);
  return v;
}

std::uint64_t load_u64(const char* p) {
  std::uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | static_cast<std::uint8_t>(p[i]);
  return v;
}

[[noreturn]] void throw_damage(const std::string& segment, std::uint64_t offset,
                               std::string_view reason) {
  throw CorruptionError(
      fmt::format("log segment {} offset {}: {}", segment, offset, reason));
}

}  // namespace

std::vector<std::uint64_t> list_segments(const FileSystem& fs,
                                         const std::filesystem::path& log_dir) {
  std::vector<std::uint64_t> out;
  if (!fs.exists(log_dir)) return out;
  for (const std::string& name : fs.list_dir(log_dir)) {
    if (auto lsn = parse_segment_file_name(name)) out.push_back(*lsn);
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::uint64_t nonzero_end(const ReadableFile& file, std::uint64_t from) {
  constexpr std::uint64_t kChunk = std::uint64_t{64} * 1024;
  std::string chunk;
  for (std::uint64_t end = file.size(); end > from;) {
    const std::uint64_t start = end - std::min(kChunk, end - from);
    chunk.resize(static_cast<std::size_t>(end - start));
    chunk.resize(file.read(start, chunk.size(), chunk.data()));
    for (std::size_t i = chunk.size(); i > 0; --i) {
      if (chunk[i - 1] != '\0') return start + i;
    }
    end = start;
  }
  return from;
}

SegmentReader::SegmentReader(const ReadableFile& file, std::string segment,
                             Reporter reporter)
    : file_(file),
      segment_(std::move(segment)),
      reporter_(std::move(reporter)) {}

void SegmentReader::report(std::uint64_t offset, std::uint64_t bytes,
                           std::string reason) const {
  if (reporter_) reporter_(Damage{segment_, offset, bytes, std::move(reason)});
}

void SegmentReader::fill_block(std::size_t needed) {
  const std::uint64_t start = pos_ - pos_ % kBlockSize;
  const auto in_block = static_cast<std::size_t>(pos_ - start);
  if (start == block_start_ &&
      (block_.size() >= in_block + needed || block_.size() == kBlockSize))
    return;
  block_.resize(kBlockSize);
  const std::size_t n = file_.read(start, kBlockSize, block_.data());
  block_.resize(n);
  block_start_ = start;
}

bool SegmentReader::zeros_to_end(std::uint64_t from) {
  const std::uint64_t size = file_.size();
  if (size <= from) return false;
  if (from >= zeros_from_ && size == zeros_size_ && from >= block_start_ &&
      from - block_start_ <= block_.size()) {
    // All zeros from zeros_from_ before, at this size, and the writer writes
    // only at its end, from there on. The writer's next physical record
    // after `from` starts in the rest of this block (just read again) or at
    // the next block's start: while both are still zero, nothing after
    // `from` changed but, at most, a record being written at it.
    const auto zero = [](char c) { return c == '\0'; };
    bool still = std::all_of(
        block_.begin() + static_cast<std::ptrdiff_t>(from - block_start_),
        block_.end(), zero);
    if (still && block_.size() == kBlockSize) {
      char h[kHeaderSize];
      const std::size_t n =
          file_.read(block_start_ + kBlockSize, kHeaderSize, h);
      still = std::all_of(h, h + n, zero);
    }
    if (still) return true;
  }
  if (nonzero_end(file_, from) != from) return false;
  zeros_from_ = from;
  zeros_size_ = size;
  return true;
}

bool SegmentReader::block_changed() {
  const std::string before = block_;
  block_.clear();  // read the block again
  fill_block(kBlockSize);
  const auto in_block = static_cast<std::size_t>(pos_ % kBlockSize);
  if (block_.size() != before.size()) return true;
  return block_.size() > in_block &&
         block_.compare(in_block, std::string::npos, before, in_block,
                        std::string::npos) != 0;
}

SegmentReader::Triage SegmentReader::triage_damage(std::uint64_t after) {
  // The block is read again before each decision, since the one held may be
  // older than the bytes scanned after it.
  if (block_changed()) return Triage::kReread;
  if (zeros_to_end(after)) return Triage::kEnd;
  return block_changed() ? Triage::kReread : Triage::kDamage;
}

SegmentReader::Physical SegmentReader::skip_damage(std::size_t avail,
                                                   std::size_t left_in_block,
                                                   std::string reason,
                                                   std::size_t claimed_end) {
  if (resync_) {
    fill_block(left_in_block);
    const auto in_block = static_cast<std::size_t>(pos_ % kBlockSize);
    const std::size_t end = std::min(block_.size(), kBlockSize);
    // Whether a known record that passes its checksum starts at `at`.
    const auto record_at = [&](std::size_t at) {
      if (at + kHeaderSize > end) return false;
      const char* h = block_.data() + at;
      const auto t = static_cast<std::uint8_t>(h[6]);
      if (t < static_cast<std::uint8_t>(RecordType::kFull) ||
          t > static_cast<std::uint8_t>(RecordType::kSegmentHeader)) {
        return false;
      }
      const std::size_t len =
          static_cast<std::size_t>(static_cast<std::uint8_t>(h[4])) |
          (static_cast<std::size_t>(static_cast<std::uint8_t>(h[5])) << 8);
      return at + kHeaderSize + len <= end &&
             crc32c::unmask(load_u32(h)) == crc32c::extend(0, h + 6, 1 + len);
    };
    // Where the damaged record says it ends first (its payload is not
    // searched then), else the next offset of the block.
    std::optional<std::size_t> found;
    if (claimed_end > in_block && record_at(claimed_end)) found = claimed_end;
    for (std::size_t at = in_block + 1; !found && at + kHeaderSize <= end;
         ++at) {
      if (record_at(at)) found = at;
    }
    if (found) {
      report(pos_, *found - in_block, std::move(reason));
      pos_ += *found - in_block;
      return Physical::kBad;
    }
  }
  report(pos_, std::min(avail, left_in_block), std::move(reason));
  pos_ += left_in_block;
  return Physical::kBad;
}

SegmentReader::Physical SegmentReader::read_physical(std::uint8_t* type,
                                                     std::string_view* payload,
                                                     std::uint64_t* offset) {
  for (;;) {
    const auto in_block = static_cast<std::size_t>(pos_ % kBlockSize);
    const std::size_t left_in_block = kBlockSize - in_block;
    *offset = pos_;
    if (left_in_block < kHeaderSize) {
      // The trailer: the next record starts at the next block, once there is
      // one.
      if (file_.size() <= pos_ + left_in_block) return Physical::kEnd;
      pos_ += left_in_block;
      continue;
    }
    fill_block(kHeaderSize);
    const std::size_t avail =
        block_.size() > in_block ? block_.size() - in_block : 0;
    if (avail < kHeaderSize) return Physical::kEnd;
    const char* h = block_.data() + in_block;
    const std::uint32_t stored_crc = load_u32(h);
    const std::size_t len =
        static_cast<std::size_t>(static_cast<std::uint8_t>(h[4])) |
        (static_cast<std::size_t>(static_cast<std::uint8_t>(h[5])) << 8);
    const auto t = static_cast<std::uint8_t>(h[6]);
    if (t == 0 && len == 0 && stored_crc == 0) {
      const Triage triage = triage_damage(pos_);
      if (triage == Triage::kReread) continue;
      if (triage == Triage::kEnd) return Physical::kEnd;
      return skip_damage(avail, left_in_block, "zero-filled block");
    }
    if (kHeaderSize + len > left_in_block) {
      const Triage triage = triage_damage(pos_ + kHeaderSize);
      if (triage == Triage::kReread) continue;
      if (triage == Triage::kEnd) return Physical::kEnd;
      return skip_damage(
          avail, left_in_block,
          fmt::format("bad record length {} (crosses the block end)", len));
    }
    fill_block(kHeaderSize + len);
    const std::size_t avail2 = block_.size() - in_block;
    if (kHeaderSize + len > avail2) return Physical::kEnd;
    const char* rec = block_.data() + in_block;
    const std::uint32_t actual = crc32c::extend(0, rec + 6, 1 + len);
    if (crc32c::unmask(stored_crc) != actual) {
      const Triage triage = triage_damage(pos_ + kHeaderSize + len);
      if (triage == Triage::kReread) continue;
      if (triage == Triage::kEnd) return Physical::kEnd;
      return skip_damage(avail2, left_in_block, "checksum mismatch",
                         in_block + kHeaderSize + len);
    }
    *type = t;
    *payload = std::string_view(rec + kHeaderSize, len);
    pos_ += kHeaderSize + len;
    return Physical::kOk;
  }
}

bool SegmentReader::read(std::string* payload, RecordType* type,
                         std::uint64_t* offset) {
  std::string scratch;
  bool in_fragment = false;
  std::uint64_t fragment_start = 0;
  const auto drop_partial = [&](std::uint64_t upto, const char* why) {
    if (in_fragment) report(fragment_start, upto - fragment_start, why);
    in_fragment = false;
    scratch.clear();
  };
  for (;;) {
    std::uint8_t t = 0;
    std::string_view fragment;
    std::uint64_t at = 0;
    switch (read_physical(&t, &fragment, &at)) {
      case Physical::kEnd:
        if (in_fragment)
          pos_ = fragment_start;  // Not whole yet: read it again later.
        return false;
      case Physical::kBad:
        drop_partial(at, "fragmented record cut by damage");
        continue;
      case Physical::kOk:
        break;
    }
    const std::uint64_t bytes = kHeaderSize + fragment.size();
    switch (t) {
      case static_cast<std::uint8_t>(RecordType::kFull):
      case static_cast<std::uint8_t>(RecordType::kSegmentHeader):
        drop_partial(at, "FIRST fragment without LAST");
        payload->assign(fragment.data(), fragment.size());
        *type = static_cast<RecordType>(t);
        *offset = at;
        return true;
      case static_cast<std::uint8_t>(RecordType::kFirst):
        drop_partial(at, "FIRST fragment without LAST");
        scratch.assign(fragment.data(), fragment.size());
        in_fragment = true;
        fragment_start = at;
        continue;
      case static_cast<std::uint8_t>(RecordType::kMiddle):
        if (!in_fragment) {
          report(at, bytes, "MIDDLE fragment without FIRST");
        } else {
          scratch.append(fragment);
        }
        continue;
      case static_cast<std::uint8_t>(RecordType::kLast):
        if (!in_fragment) {
          report(at, bytes, "LAST fragment without FIRST");
          continue;
        }
        scratch.append(fragment);
        *payload = std::move(scratch);
        *type = RecordType::kFull;
        *offset = fragment_start;
        return true;
      default:
        if ((t & kIgnorableBit) != 0) continue;
        drop_partial(at, "fragmented record cut by an unknown record");
        report(at, bytes, fmt::format("unknown record type {}", t));
        continue;
    }
  }
}

SegmentReader commit_segment_reader(const ReadableFile& file,
                                    std::uint64_t segment_first_lsn) {
  std::string name = segment_file_name(segment_first_lsn);
  return SegmentReader(file, name, [name](const Damage& d) {
    throw_damage(name, d.offset, d.reason);
  });
}

std::optional<CommitRead> read_commit_at(const ReadableFile& file,
                                         const StoreId& store_id,
                                         std::uint64_t segment_first_lsn,
                                         std::uint64_t offset,
                                         std::uint64_t lsn) {
  SegmentReader reader = commit_segment_reader(file, segment_first_lsn);
  return read_commit_at(reader, store_id, segment_first_lsn, offset, lsn);
}

std::optional<CommitRead> read_commit_at(SegmentReader& reader,
                                         const StoreId& store_id,
                                         std::uint64_t segment_first_lsn,
                                         std::uint64_t offset,
                                         std::uint64_t lsn) {
  // The segment's name, made only for a report or the commit found.
  const auto name = [segment_first_lsn] {
    return segment_file_name(segment_first_lsn);
  };
  reader.seek(offset);
  std::string payload;
  RecordType type = RecordType::kZero;
  std::uint64_t at = 0;
  // The first LSN the next commit must have (0: not known yet).
  std::uint64_t expected = 0;
  while (reader.read(&payload, &type, &at)) {
    if (type == RecordType::kSegmentHeader) {
      if (at != 0) throw_damage(name(), at, "segment header in the middle");
      std::string error;
      const std::optional<SegmentHeader> header =
          decode_segment_header(payload, &error);
      if (!header) throw_damage(name(), at, error);
      if (header->store_uuid != store_id.bytes) {
        throw_damage(name(), at,
                     "segment belongs to a foreign store (store uuid differs)");
      }
      if (header->first_lsn != segment_first_lsn) {
        throw_damage(name(), at,
                     fmt::format("segment header first_lsn {} does not match "
                                 "the file name",
                                 header->first_lsn));
      }
      expected = segment_first_lsn;
      continue;
    }
    if (at == 0)
      throw_damage(name(), at, "segment does not start with a header");
    if (payload.size() < kCommitFixedSize) {
      throw_damage(name(), at,
                   fmt::format("commit record of {} bytes", payload.size()));
    }
    const std::uint64_t first = load_u64(payload.data());
    const std::uint32_t count = load_u32(payload.data() + 8);
    if (expected != 0 && first != expected) {
      throw_damage(name(), at,
                   fmt::format("lsn gap: expected commit at lsn {}, found {}",
                               expected, first));
    }
    if (first > lsn) {
      throw_damage(name(), at,
                   fmt::format("commit at lsn {} starts after lsn {}: the "
                               "read began past the commit that holds it",
                               first, lsn));
    }
    if (count == 0 || first > UINT64_MAX - count) {
      throw_damage(name(), at, fmt::format("commit of {} events", count));
    }
    expected = first + count;
    if (expected - 1 < lsn) continue;
    CommitRead out;
    std::string error;
    if (!decode_commit(payload, &out.commit, &error))
      throw_damage(name(), at, error);
    out.commit.segment = name();
    out.commit.offset = at;
    out.next_offset = reader.position();
    return out;
  }
  return std::nullopt;
}

std::optional<CommitRead> read_commit_at(const FileSystem& fs,
                                         const std::filesystem::path& log_dir,
                                         const StoreId& store_id,
                                         std::uint64_t segment_first_lsn,
                                         std::uint64_t offset,
                                         std::uint64_t lsn) {
  const std::unique_ptr<ReadableFile> file =
      fs.open_readable(log_dir / segment_file_name(segment_first_lsn));
  return read_commit_at(*file, store_id, segment_first_lsn, offset, lsn);
}

Reader::Reader(std::shared_ptr<FileSystem> fs, std::filesystem::path log_dir,
               const StoreId& store_id, std::uint64_t from_lsn,
               Reporter reporter)
    : fs_(std::move(fs)),
      log_dir_(std::move(log_dir)),
      store_uuid_(store_id.bytes),
      from_lsn_(from_lsn),
      reporter_(std::move(reporter)) {}

Reader::~Reader() = default;

void Reader::report(std::uint64_t offset, std::uint64_t bytes,
                    std::string reason) const {
  if (!reporter_) return;
  reporter_(Damage{
      index_ < segments_.size() ? segment_file_name(segments_[index_]) : "",
      offset, bytes, std::move(reason)});
}

bool Reader::open_next_segment() {
  if (index_ >= segments_.size()) return false;
  segment_reader_.reset();
  file_ = fs_->open_readable(log_dir_ / segment_file_name(segments_[index_]));
  segment_reader_ = std::make_unique<SegmentReader>(
      *file_, segment_file_name(segments_[index_]), reporter_);
  header_read_ = false;
  sealed_ = false;
  ++segments_read_;
  return true;
}

bool Reader::refresh_segments() {
  const std::uint64_t current =
      index_ < segments_.size() ? segments_[index_] : 0;
  segments_ = list_segments(*fs_, log_dir_);
  if (segments_.empty()) return false;
  if (!started_) {
    started_ = true;
    auto it = std::upper_bound(segments_.begin(), segments_.end(), from_lsn_);
    index_ = it == segments_.begin()
                 ? 0
                 : static_cast<std::size_t>(it - segments_.begin()) - 1;
    return open_next_segment();
  }
  auto it = std::lower_bound(segments_.begin(), segments_.end(), current);
  index_ = static_cast<std::size_t>(it - segments_.begin());
  return true;
}

bool Reader::next(Commit* commit) {
  if (!segment_reader_ && !refresh_segments()) return false;
  for (;;) {
    if (next_in_segment(commit)) {
      if (commit->last_lsn() < from_lsn_) continue;
      return true;
    }
    if (!sealed_) {
      if (index_ + 1 >= segments_.size()) refresh_segments();
      if (index_ + 1 >= segments_.size()) return false;
      // A later segment exists, so this one was sealed before it was created:
      // read whatever the writer appended before sealing, then move on.
      sealed_ = true;
      continue;
    }
    const std::uint64_t size = file_->size();
    if (!header_read_) {
      report(0, size, "sealed segment has no segment header");
    } else if (segment_reader_->position() < size) {
      report(segment_reader_->position(), size - segment_reader_->position(),
             "incomplete record at the end of a sealed segment");
    }
    read_before_ = segments_[index_];
    ++index_;
    open_next_segment();
  }
}

bool Reader::next_in_segment(Commit* commit) {
  std::string payload;
  RecordType type = RecordType::kZero;
  std::uint64_t offset = 0;
  while (segment_reader_->read(&payload, &type, &offset)) {
    if (!header_read_) {
      header_read_ = true;
      if (type != RecordType::kSegmentHeader || offset != 0) {
        report(offset, payload.size(),
               "segment does not start with a segment header");
      } else {
        check_header(payload);  // may move back to a segment listed late
        continue;
      }
    }
    if (type == RecordType::kSegmentHeader) {
      report(offset, payload.size(),
             "segment header in the middle of a segment");
      continue;
    }
    std::string error;
    if (!decode_commit(payload, commit, &error)) {
      report(offset, payload.size(), error);
      continue;
    }
    const bool chained = have_last_;
    const std::uint64_t expected = last_lsn_ + 1;
    const Hash expected_hash = last_hash_;
    have_last_ = true;
    last_lsn_ = commit->last_lsn();
    last_hash_ = commit->hash;
    if (chained && commit->first_lsn != expected) {
      report(offset, payload.size(),
             fmt::format("lsn gap: expected commit at lsn {}, found {}",
                         expected, commit->first_lsn));
      continue;
    }
    if (chained && commit->prev_hash != expected_hash) {
      report(offset, payload.size(),
             fmt::format("hash chain broken at commit {}", commit->first_lsn));
      continue;
    }
    commit->segment = segment_file_name(segments_[index_]);
    commit->offset = offset;
    return true;
  }
  return false;
}

void Reader::check_header(std::string_view payload) {
  std::string error;
  const std::optional<SegmentHeader> h = decode_segment_header(payload, &error);
  if (!h) {
    report(0, payload.size(), error);
    return;
  }
  const std::uint64_t name_lsn = segments_[index_];
  if (h->store_uuid != store_uuid_) {
    report(0, payload.size(),
           "segment belongs to a foreign store (store uuid differs)");
  }
  if (h->first_lsn != name_lsn) {
    report(
        0, payload.size(),
        fmt::format("segment header first_lsn {} does not match the file name",
                    h->first_lsn));
  }
  // The segment read before this one; when this is the first read, the one
  // listed before it.
  const std::uint64_t previous_file = read_before_ != 0 ? read_before_
                                      : index_ == 0     ? 0
                                                        : segments_[index_ - 1];
  if (previous_file != 0 && h->prev_first_lsn > previous_file &&
      h->prev_first_lsn < name_lsn) {
    // A listing made while the writer rolled can miss a segment created
    // during it and show a later one: list again, and read a segment found
    // between first.
    std::vector<std::uint64_t> fresh = list_segments(*fs_, log_dir_);
    const auto it = std::upper_bound(fresh.begin(), fresh.end(), previous_file);
    if (it != fresh.end() && *it < name_lsn) {
      index_ = static_cast<std::size_t>(it - fresh.begin());
      segments_ = std::move(fresh);
      --segments_read_;  // the later one is read again after it
      open_next_segment();
      return;
    }
  }
  if (h->prev_first_lsn != previous_file) {
    report(0, payload.size(),
           previous_file == 0
               ? fmt::format("segment follows segment {} which is missing",
                             h->prev_first_lsn)
               : fmt::format(
                     "segment follows segment {} but the previous file is {} "
                     "(missing or reordered segment)",
                     segment_file_name(h->prev_first_lsn),
                     segment_file_name(previous_file)));
  }
  if (have_last_ && h->prev_last_lsn != last_lsn_) {
    report(
        0, payload.size(),
        fmt::format(
            "lsn gap: previous segment ends at lsn {}, this one starts at {}",
            last_lsn_, h->first_lsn));
  } else if (have_last_ && h->prev_last_hash != last_hash_) {
    report(0, payload.size(),
           "hash chain broken: header's prev_last_hash differs from the "
           "previous segment's last commit");
  }
  have_last_ = true;
  last_lsn_ = h->prev_last_lsn;
  last_hash_ = h->prev_last_hash;
}

}  // namespace wfstore::log
