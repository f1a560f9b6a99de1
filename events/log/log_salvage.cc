// salvage_log: scan every segment and side file for whole commits, chain
// them from LSN 1, copy the chain into fresh segments.

#include "wfstore_internal/log_salvage.h"

#include <algorithm>
#include <cstring>
#include <map>
#include <optional>
#include <set>
#include <utility>

#include <fmt/format.h>

#include "wfstore/errors.h"

#include "events/log/log_recovery.h"

namespace wfstore::log {
namespace {

// A side file read as the bytes of its segment from `base` on: offsets below
// `base` read as zeros (the reader only fills the block around its position,
// never parses before it).
class ShiftedFile final : public ReadableFile {
 public:
  ShiftedFile(std::unique_ptr<ReadableFile> file, std::uint64_t base)
      : file_(std::move(file)), base_(base) {}

  std::size_t read(std::uint64_t offset, std::size_t n,
                   char* dst) const override {
    std::size_t done = 0;
    if (offset < base_) {
      const auto zeros =
          static_cast<std::size_t>(std::min<std::uint64_t>(n, base_ - offset));
      std::memset(dst, 0, zeros);
      done = zeros;
    }
    if (done == n) return done;
    return done + file_->read(offset + done - base_, n - done, dst + done);
  }
  std::uint64_t size() const override { return base_ + file_->size(); }
  const std::filesystem::path& path() const override { return file_->path(); }

 private:
  std::unique_ptr<ReadableFile> file_;
  std::uint64_t base_;
};

std::unique_ptr<ReadableFile> open_source(const FileSystem& fs,
                                          const std::filesystem::path& dir,
                                          const std::string& name,
                                          bool side_file, std::uint64_t base) {
  std::unique_ptr<ReadableFile> file = fs.open_readable(dir / name);
  if (!side_file) return file;
  return std::make_unique<ShiftedFile>(std::move(file), base);
}

std::optional<SideFile> parse_side_file_name(const std::string& name) {
  const std::size_t at = name.find(kCutInfix);
  if (at == std::string::npos) return std::nullopt;
  const std::optional<std::uint64_t> segment =
      parse_segment_file_name(std::string_view(name).substr(0, at));
  if (!segment) return std::nullopt;
  const std::string rest = name.substr(at + kCutInfix.size());
  const std::size_t dot = rest.find('.');
  const std::string digits = rest.substr(0, dot);
  if (digits.empty() || digits.size() > 19 ||
      digits.find_first_not_of("0123456789") != std::string::npos) {
    return std::nullopt;
  }
  if (dot != std::string::npos) {
    const std::string n = rest.substr(dot + 1);
    if (n.empty() || n.find_first_not_of("0123456789") != std::string::npos) {
      return std::nullopt;
    }
  }
  return SideFile{name, *segment, std::stoull(digits)};
}

// What scanning one file found.
struct FileScan {
  bool header_ok = false;  // a valid header of this store at offset 0
  bool foreign = false;
  std::uint64_t header_end = 0;  // just past the header record
  // Where the file's records and damage end: its size but for the zeros
  // written ahead after them.
  std::uint64_t end = 0;
};

// Reads every record of one file: damage into out->damages, whole commits
// into *found, header evidence into out->highest_segment_lsn. `last`: the
// log's last segment, or a side file (zeros after its records are no
// damage).
FileScan scan_file(const FileSystem& fs, const std::filesystem::path& dir,
                   const std::string& name, bool side_file, bool last,
                   std::uint64_t base, std::uint64_t name_lsn,
                   const StoreId& store_id, LogSalvage* out,
                   std::vector<FoundCommit>* found) {
  FileScan scan;
  const std::unique_ptr<ReadableFile> file =
      open_source(fs, dir, name, side_file, base);
  std::vector<Damage>& damages = out->damages;
  SegmentReader reader(*file, name,
                       [&damages](const Damage& d) { damages.push_back(d); });
  // Every whole record counts, also those after a damaged one in its block.
  reader.set_resync_within_block(true);
  const auto damage = [&](std::uint64_t offset, std::uint64_t bytes,
                          std::string reason) {
    damages.push_back(Damage{name, offset, bytes, std::move(reason)});
  };
  // A damaged header record is reported by the reader, which resyncs where
  // its length says it ends (the first commit).
  reader.seek(base);
  const std::size_t damages_before = damages.size();
  std::vector<FoundCommit> commits;
  std::string payload;
  RecordType type = RecordType::kZero;
  std::uint64_t offset = 0;
  bool first = true;
  while (reader.read(&payload, &type, &offset)) {
    // Unless the reader reported the damage at offset 0 already.
    if (first && base == 0 &&
        (type != RecordType::kSegmentHeader || offset != 0) &&
        (damages.size() == damages_before ||
         damages[damages_before].offset != 0)) {
      damage(0, offset, "segment does not start with a segment header");
    }
    first = false;
    if (type == RecordType::kSegmentHeader) {
      if (offset != 0) {
        damage(offset, payload.size(), "segment header in the middle");
        continue;
      }
      std::string error;
      const std::optional<SegmentHeader> header =
          decode_segment_header(payload, &error);
      if (!header) {
        damage(0, payload.size(), error);
        continue;
      }
      if (header->store_uuid != store_id.bytes) {
        damage(0, payload.size(),
               "segment belongs to a foreign store (store uuid differs): its "
               "commits are not salvaged");
        scan.foreign = true;
        continue;
      }
      if (header->first_lsn != name_lsn) {
        damage(0, payload.size(),
               fmt::format("segment header first_lsn {} does not match the "
                           "file name",
                           header->first_lsn));
      }
      scan.header_ok = true;
      scan.header_end = reader.position();
      out->highest_segment_lsn =
          std::max(out->highest_segment_lsn, header->prev_last_lsn);
      continue;
    }
    Commit commit;
    std::string error;
    if (!decode_commit(payload, &commit, &error)) {
      damage(offset, payload.size(), error);
      continue;
    }
    FoundCommit c;
    c.file = name;
    c.side_file = side_file;
    c.offset = offset;
    c.framed_bytes = framed_size(payload.size(),
                                 static_cast<std::size_t>(offset % kBlockSize));
    c.first_lsn = commit.first_lsn;
    c.event_count = commit.event_count;
    c.durable_lsn = commit.durable_lsn;
    c.prev_hash = commit.prev_hash;
    c.hash = commit.hash;
    commits.push_back(c);
  }
  // Zeros after the last record of the last segment (or of a side file) are
  // space the writer wrote ahead; a sealed segment has none.
  const std::uint64_t written =
      last ? nonzero_end(*file, reader.position()) : file->size();
  if (reader.position() < written) {
    damage(reader.position(), written - reader.position(),
           "incomplete record at the end of the file");
  }
  scan.end = std::max(reader.position(), written);
  if (scan.foreign) return scan;
  for (const FoundCommit& c : commits) {
    out->highest_commit_lsn =
        std::max({out->highest_commit_lsn, c.last_lsn(), c.durable_lsn});
    found->push_back(c);
  }
  return scan;
}

// Writes the salvaged log: one output segment per run of commits from the
// same source segment.
class SegmentSink {
 public:
  SegmentSink(FileSystem& fs, std::filesystem::path dir, const StoreId& id)
      : fs_(fs), dir_(std::move(dir)), id_(id) {}

  // Appends `payload` (commit `c`), starting a new segment when `source`
  // differs from the current one's or the current one is full.
  void append(const std::string& source, const Commit& c,
              const std::string& payload, const Hash& prev_hash) {
    if (!out_ || source != source_ ||
        out_->size() + framed_size(payload.size(), block_offset_) >
            kDefaultRollBytes) {
      finish();
      SegmentHeader h;
      h.store_uuid = id_.bytes;
      h.first_lsn = c.first_lsn;
      h.prev_first_lsn = segment_first_;
      h.prev_last_lsn = c.first_lsn - 1;
      h.prev_last_hash = prev_hash;
      out_ = fs_.open_writable(dir_ / segment_file_name(c.first_lsn));
      if (out_->size() != 0) {
        throw IOError(fmt::format("{}: exists already", out_->path().string()));
      }
      std::string framed;
      block_offset_ = 0;
      frame_physical(static_cast<std::uint8_t>(RecordType::kSegmentHeader),
                     encode_segment_header(h), &block_offset_, &framed);
      out_->append(framed);
      segment_first_ = c.first_lsn;
      source_ = source;
      ++segments_;
    }
    std::string framed;
    frame_record(payload, &block_offset_, &framed);
    out_->append(framed);
  }

  // Syncs and closes the current segment.
  void finish() {
    if (!out_) return;
    bytes_ += out_->size();
    out_->sync();
    out_->close();
    out_.reset();
  }

  std::uint64_t segments() const { return segments_; }
  std::uint64_t bytes() const { return bytes_; }

 private:
  FileSystem& fs_;
  std::filesystem::path dir_;
  StoreId id_;
  std::unique_ptr<WritableFile> out_;
  std::string source_;
  std::size_t block_offset_ = 0;
  std::uint64_t segment_first_ = 0;
  std::uint64_t segments_ = 0;
  std::uint64_t bytes_ = 0;
};

// Reads the logical record at `found.offset` of `file`.
std::string read_payload(const ReadableFile& file, const FoundCommit& found) {
  SegmentReader reader(file, found.file, nullptr);
  reader.seek(found.offset);
  std::string payload;
  RecordType type = RecordType::kZero;
  std::uint64_t at = 0;
  if (!reader.read(&payload, &type, &at) || at != found.offset ||
      type != RecordType::kFull) {
    throw CorruptionError(
        fmt::format("log file {} offset {}: the commit found there no longer "
                    "reads (the source changed during the salvage)",
                    found.file, found.offset));
  }
  return payload;
}

Commit decode_found(const std::string& payload, const FoundCommit& found) {
  Commit commit;
  std::string error;
  if (!decode_commit(payload, &commit, &error) || commit.hash != found.hash) {
    throw CorruptionError(
        fmt::format("log file {} offset {}: the commit found there changed "
                    "(the source changed during the salvage)",
                    found.file, found.offset));
  }
  commit.segment = found.file;
  commit.offset = found.offset;
  return commit;
}

}  // namespace

std::vector<SideFile> list_side_files(const FileSystem& fs,
                                      const std::filesystem::path& log_dir) {
  std::vector<SideFile> out;
  if (!fs.exists(log_dir)) return out;
  for (const std::string& name : fs.list_dir(log_dir)) {
    if (auto side = parse_side_file_name(name)) out.push_back(*side);
  }
  return out;
}

Commit read_found_commit(const FileSystem& fs,
                         const std::filesystem::path& from_dir,
                         const FoundCommit& found) {
  std::uint64_t base = 0;
  if (found.side_file) {
    const std::optional<SideFile> side = parse_side_file_name(found.file);
    if (!side) {
      throw InvalidArgumentError(
          fmt::format("{}: not a side file name", found.file));
    }
    base = side->offset;
  }
  const std::unique_ptr<ReadableFile> file =
      open_source(fs, from_dir, found.file, found.side_file, base);
  return decode_found(read_payload(*file, found), found);
}

LogSalvage salvage_log(const std::shared_ptr<FileSystem>& fs,
                       const std::filesystem::path& from_dir,
                       const StoreId& from_id,
                       const std::filesystem::path& to_dir,
                       const StoreId& to_id, const BodyCheck& check_body) {
  LogSalvage out;
  std::vector<FoundCommit> found;
  // Per segment file: its size and where its valid header ends.
  std::map<std::string, std::pair<std::uint64_t, std::uint64_t>> segment_info;
  const std::vector<std::uint64_t> segments = list_segments(*fs, from_dir);
  for (const std::uint64_t lsn : segments) {
    const std::string name = segment_file_name(lsn);
    out.segments.push_back(name);
    const FileScan scan =
        scan_file(*fs, from_dir, name, false, lsn == segments.back(), 0, lsn,
                  from_id, &out, &found);
    // A segment of another store tells nothing of this one's history.
    if (scan.foreign) {
      out.foreign_segments.push_back(name);
    } else if (lsn > 0) {
      out.highest_segment_lsn = std::max(out.highest_segment_lsn, lsn - 1);
    }
    out.source_bytes += scan.end;
    segment_info[name] = {scan.end, scan.header_ok ? scan.header_end : 0};
  }
  std::vector<SideFile> sides = list_side_files(*fs, from_dir);
  std::sort(
      sides.begin(), sides.end(),
      [](const SideFile& a, const SideFile& b) { return a.name < b.name; });
  for (const SideFile& side : sides) {
    out.side_files.push_back(side.name);
    scan_file(*fs, from_dir, side.name, true, true, side.offset,
              side.segment_first_lsn, from_id, &out, &found);
  }

  // Candidates by first LSN, log files before side files.
  std::multimap<std::uint64_t, std::size_t> by_lsn;
  for (std::size_t i = 0; i < found.size(); ++i) {
    if (!found[i].side_file) by_lsn.emplace(found[i].first_lsn, i);
  }
  for (std::size_t i = 0; i < found.size(); ++i) {
    if (found[i].side_file) by_lsn.emplace(found[i].first_lsn, i);
  }

  SegmentSink sink(*fs, to_dir, to_id);
  std::vector<bool> copied(found.size(), false);
  std::map<std::string, std::uint64_t> copied_end;  // per segment file
  std::set<std::string> sides_used;
  std::map<std::string, std::unique_ptr<ReadableFile>> open_files;
  const auto file_of = [&](const FoundCommit& c) -> const ReadableFile& {
    auto it = open_files.find(c.file);
    if (it == open_files.end()) {
      const std::uint64_t base =
          c.side_file ? parse_side_file_name(c.file)->offset : 0;
      it = open_files
               .emplace(c.file,
                        open_source(*fs, from_dir, c.file, c.side_file, base))
               .first;
    }
    return *it->second;
  };
  for (;;) {
    const std::uint64_t next = out.last_lsn + 1;
    const auto [begin, end] = by_lsn.equal_range(next);
    std::optional<std::size_t> taken;
    std::string refused;
    for (auto it = begin; it != end && !taken; ++it) {
      const FoundCommit& c = found[it->second];
      if (c.prev_hash != out.last_hash) {
        if (refused.empty()) {
          refused = fmt::format(
              "the commit at lsn {} ({} offset {}) does not chain to the "
              "previous commit's hash",
              next, c.file, c.offset);
        }
        continue;
      }
      const std::string payload = read_payload(file_of(c), c);
      const Commit commit = decode_found(payload, c);
      if (check_body) {
        std::string why = check_body(commit);
        if (!why.empty()) {
          refused = fmt::format("the commit at lsn {} ({} offset {}): {}", next,
                                c.file, c.offset, why);
          continue;
        }
      }
      const std::string source =
          c.side_file ? segment_file_name(
                            parse_side_file_name(c.file)->segment_first_lsn)
                      : c.file;
      sink.append(source, commit, payload, out.last_hash);
      taken = it->second;
      copied[it->second] = true;
      ++out.commits;
      out.events += c.event_count;
      out.last_lsn = c.last_lsn();
      out.last_hash = c.hash;
      if (c.side_file) {
        ++out.commits_from_side_files;
        sides_used.insert(c.file);
      } else {
        copied_end[c.file] = c.offset + c.framed_bytes;
      }
    }
    if (taken) continue;
    if (!refused.empty()) {
      out.stop_reason = refused;
    } else {
      const auto damage = std::find_if(
          out.damages.begin(), out.damages.end(), [&](const Damage& d) {
            const auto it = copied_end.find(d.segment);
            return it == copied_end.end() || d.offset >= it->second;
          });
      if (damage != out.damages.end()) {
        out.stop_reason = fmt::format(
            "no whole commit holds lsn {}; first damage past the copied "
            "records: {} offset {}: {}",
            next, damage->segment, damage->offset, damage->reason);
      } else if (std::max(out.highest_commit_lsn, out.highest_segment_lsn) >=
                 next) {
        out.stop_reason = fmt::format("no whole commit holds lsn {}", next);
      } else {
        out.stop_reason = "the log ends";
      }
    }
    break;
  }
  sink.finish();
  fs->sync_dir(to_dir);
  out.segments_written = sink.segments();
  out.bytes_written = sink.bytes();
  out.side_files_used.assign(sides_used.begin(), sides_used.end());

  for (std::size_t i = 0; i < found.size(); ++i) {
    if (!copied[i]) out.not_copied.push_back(found[i]);
  }
  std::sort(out.not_copied.begin(), out.not_copied.end(),
            [](const FoundCommit& a, const FoundCommit& b) {
              return std::tie(a.first_lsn, a.side_file, a.file, a.offset) <
                     std::tie(b.first_lsn, b.side_file, b.file, b.offset);
            });
  for (const auto& [name, info] : segment_info) {
    const auto it = copied_end.find(name);
    const std::uint64_t covered =
        it != copied_end.end() ? it->second : info.second;
    if (it == copied_end.end()) out.segments_skipped.push_back(name);
    out.bytes_lost += info.first > covered ? info.first - covered : 0;
    for (const Damage& d : out.damages) {
      if (d.segment == name && d.offset < covered) out.bytes_lost += d.bytes;
    }
  }
  return out;
}

}  // namespace wfstore::log
