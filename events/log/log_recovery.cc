// Recovery of the append-only log on open: header checks, the last segment's
// scan, and the torn-tail versus corruption policy.

#include "events/log/log_recovery.h"

#include <algorithm>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "wfstore/errors.h"

#include "wfstore_internal/log_reader.h"

namespace wfstore::log {
namespace {

[[noreturn]] void corrupt(const std::filesystem::path& segment,
                          std::uint64_t offset, std::string_view what) {
  throw CorruptionError(fmt::format("log segment {}: offset {}: {}",
                                    segment.string(), offset, what));
}

// One segment read record by record: the last record read, and the damage the
// reader reported so far. Not copyable (the reader reports into `damages`).
struct SegmentScan {
  SegmentScan(const FileSystem& fs, const std::filesystem::path& path)
      : file(fs.open_readable(path)),
        reader(*file, path.filename().string(),
               [this](const Damage& d) { damages.push_back(d); }) {}
  SegmentScan(const SegmentScan&) = delete;
  SegmentScan& operator=(const SegmentScan&) = delete;

  // Reads the next record into payload, type and offset; false at the end.
  bool next() { return reader.read(&payload, &type, &offset); }

  std::unique_ptr<ReadableFile> file;
  std::vector<Damage> damages;
  SegmentReader reader;
  std::string payload;
  RecordType type = RecordType::kZero;
  std::uint64_t offset = 0;
};

struct HeaderRead {
  std::optional<SegmentHeader> header;
  bool torn = false;  // no whole header record at offset 0 (empty, cut short or
                      // damaged)
  std::string problem;
};

HeaderRead read_header(const FileSystem& fs,
                       const std::filesystem::path& path) {
  SegmentScan scan(fs, path);
  const bool got = scan.next();
  HeaderRead out;
  if (!scan.damages.empty() && scan.damages.front().offset == 0) {
    out.torn = true;
    out.problem = "damaged segment header: " + scan.damages.front().reason;
  } else if (!got) {
    out.torn = true;
    out.problem =
        fmt::format("torn segment header ({} bytes)", scan.file->size());
  } else if (scan.type != RecordType::kSegmentHeader || scan.offset != 0) {
    out.problem = "segment does not start with a segment header";
  } else {
    out.header = decode_segment_header(scan.payload, &out.problem);
  }
  return out;
}

// Max durable_lsn over the valid commit records of a segment (0 if none).
std::uint64_t max_vouched(const FileSystem& fs,
                          const std::filesystem::path& path) {
  SegmentScan scan(fs, path);
  std::uint64_t vouched = 0;
  while (scan.next()) {
    Commit c;
    std::string error;
    if (scan.type == RecordType::kFull &&
        decode_commit(scan.payload, &c, &error)) {
      vouched = std::max(vouched, c.durable_lsn);
    }
  }
  return vouched;
}

struct Tail {
  std::uint64_t last_lsn = 0;
  Hash last_hash{};
};

// The last commit of a sealed segment, read from the last block that starts a
// record. Any damage or incomplete record in what it reads is corruption.
Tail sealed_tail(const FileSystem& fs, const std::filesystem::path& path,
                 const SegmentHeader& header) {
  const std::unique_ptr<ReadableFile> file = fs.open_readable(path);
  const std::uint64_t size = file->size();
  std::uint64_t start = size == 0 ? 0 : (size - 1) / kBlockSize * kBlockSize;
  for (; start > 0; start -= kBlockSize) {
    char h[kHeaderSize];
    if (file->read(start, kHeaderSize, h) != kHeaderSize) continue;
    const auto type = static_cast<std::uint8_t>(h[6]);
    if (type == static_cast<std::uint8_t>(RecordType::kFull) ||
        type == static_cast<std::uint8_t>(RecordType::kFirst)) {
      break;
    }
  }
  std::optional<Damage> damage;
  SegmentReader reader(*file, path.filename().string(), [&](const Damage& d) {
    if (!damage) damage = d;
  });
  reader.seek(start);
  Tail tail{header.prev_last_lsn, header.prev_last_hash};
  std::string payload;
  RecordType type = RecordType::kZero;
  std::uint64_t offset = 0;
  bool chained = start == 0;
  while (reader.read(&payload, &type, &offset)) {
    if (damage) break;
    if (type == RecordType::kSegmentHeader && offset == 0) continue;
    Commit c;
    std::string error;
    if (type != RecordType::kFull)
      error = "segment header in the middle of a segment";
    if (!error.empty() || !decode_commit(payload, &c, &error))
      corrupt(path, offset, error);
    if (chained &&
        (c.first_lsn != tail.last_lsn + 1 || c.prev_hash != tail.last_hash)) {
      corrupt(path, offset,
              fmt::format(
                  "commit {} does not follow lsn {} in the lsn and hash chain",
                  c.first_lsn, tail.last_lsn));
    }
    chained = true;
    tail = Tail{c.last_lsn(), c.hash};
  }
  if (damage)
    corrupt(path, damage->offset, damage->reason + " in a sealed segment");
  if (reader.position() < size) {
    corrupt(path, reader.position(),
            "incomplete record at the end of a sealed segment");
  }
  return tail;
}

void warn(const Logger& logger, const std::string& message) {
  if (logger) logger(LogLevel::kWarning, message);
}

// Scans the last segment and plans the repair of a torn tail, or throws
// CorruptionError. A `sealed` segment was fdatasynced whole, so any damage in
// it is corruption. Reads only.
void plan_last(const FileSystem& fs, const std::filesystem::path& path,
               const SegmentHeader& header, bool sealed, RecoveryPlan* plan) {
  SegmentScan scan(fs, path);
  scan.next();  // the header, checked already

  bool good = true;
  std::uint64_t good_end = scan.reader.position();
  std::uint64_t good_last = header.first_lsn - 1;
  Hash last_hash = header.prev_last_hash;
  std::uint64_t vouched = sealed ? UINT64_MAX : header.first_lsn - 1;
  std::optional<Damage> first_damage;
  const auto note_damage = [&] {
    if (good && !scan.damages.empty()) {
      first_damage = scan.damages.front();
      good = false;
    }
  };
  while (scan.next()) {
    note_damage();
    if (scan.type == RecordType::kSegmentHeader) {
      if (good)
        corrupt(path, scan.offset, "segment header in the middle of a segment");
      continue;
    }
    Commit c;
    std::string error;
    if (!decode_commit(scan.payload, &c, &error)) {
      // A whole record with a valid checksum is no torn write.
      if (good) corrupt(path, scan.offset, error);
      continue;
    }
    vouched = std::max(vouched, c.durable_lsn);
    if (!good) continue;
    if (c.first_lsn != good_last + 1) {
      corrupt(path, scan.offset,
              fmt::format("lsn gap: expected commit at lsn {}, found {}",
                          good_last + 1, c.first_lsn));
    }
    if (c.prev_hash != last_hash) {
      corrupt(path, scan.offset,
              fmt::format("hash chain broken at commit {}", c.first_lsn));
    }
    good_last = c.last_lsn();
    last_hash = c.hash;
    good_end = scan.reader.position();
  }
  note_damage();
  // Zeros after the last record are space the writer wrote ahead (none in a
  // sealed segment: the writer cuts them before sealing). What is written
  // ends with the block of the last non-zero byte: no record crosses a block
  // end, so every record there is kept whole, its own zero bytes included.
  std::uint64_t written = scan.file->size();
  if (!sealed) {
    const std::uint64_t nonzero = nonzero_end(*scan.file, good_end);
    if (nonzero == good_end) {
      written = good_end;
    } else {
      const std::uint64_t block_end =
          (nonzero + kBlockSize - 1) / kBlockSize * kBlockSize;
      written = std::min(written, block_end);
    }
  }
  if (!first_damage && good_end < written) {
    first_damage =
        Damage{path.filename().string(), good_end, written - good_end,
               "incomplete record at the end of the segment"};
  }
  if (first_damage && vouched > good_last) {
    corrupt(path, first_damage->offset,
            sealed
                ? fmt::format("{} in a sealed segment", first_damage->reason)
                : fmt::format(
                      "{}, before lsn {} which a later record vouches for as "
                      "durable",
                      first_damage->reason, vouched));
  }
  plan->last_segment = path;
  plan->segment_first_lsn = header.first_lsn;
  plan->last_lsn = good_last;
  plan->last_hash = last_hash;
  plan->end = good_end;
  if (written > good_end) {
    plan->cut_offset = good_end;
    plan->cut_bytes = written - good_end;
    plan->cut_reason = first_damage->reason;
  }
}

// Whether the file `side` holds a prefix of bytes [offset, offset + bytes) of
// `from`: what a copy of that range that crashed (or finished, before the
// truncate) left.
bool holds_prefix_of(const FileSystem& fs, const std::filesystem::path& side,
                     const std::filesystem::path& from, std::uint64_t offset,
                     std::uint64_t bytes) {
  const std::unique_ptr<ReadableFile> kept = fs.open_readable(side);
  const std::uint64_t size = kept->size();
  if (size > bytes) return false;
  const std::unique_ptr<ReadableFile> in = fs.open_readable(from);
  constexpr std::size_t kChunk = std::size_t{1} << 20;
  std::string a;
  std::string b;
  for (std::uint64_t done = 0; done < size;) {
    const auto n =
        static_cast<std::size_t>(std::min<std::uint64_t>(kChunk, size - done));
    a.resize(n);
    b.resize(n);
    if (kept->read(done, n, a.data()) != n ||
        in->read(offset + done, n, b.data()) != n || a != b) {
      return false;
    }
    done += n;
  }
  return true;
}

// The side file for the bytes [offset, offset + bytes) of `segment`:
// `<segment>.cut-<offset>`, or `<segment>.cut-<offset>.<n>` when that name
// holds other bytes (an earlier repair's cut at the same offset, which the
// writer appended over). A file holding a prefix of these bytes is reused: it
// is this repair's own copy, redone after a crash.
std::filesystem::path side_file_for(const FileSystem& fs,
                                    const std::filesystem::path& segment,
                                    std::uint64_t offset, std::uint64_t bytes) {
  const std::string base = segment.parent_path() /
                           cut_file_name(segment.filename().string(), offset);
  for (std::uint64_t n = 0;; ++n) {
    std::filesystem::path candidate =
        n == 0 ? std::filesystem::path(base)
               : std::filesystem::path(fmt::format("{}.{}", base, n));
    if (!fs.exists(candidate) ||
        (bytes > 0 && holds_prefix_of(fs, candidate, segment, offset, bytes))) {
      return candidate;
    }
  }
}

// Copies bytes [offset, offset + bytes) of `from` into a new file `to`,
// fdatasynced.
void copy_range(FileSystem& fs, const std::filesystem::path& from,
                std::uint64_t offset, std::uint64_t bytes,
                const std::filesystem::path& to) {
  const std::unique_ptr<ReadableFile> in = fs.open_readable(from);
  fs.remove(to);  // this cut's own copy, left by a crash before the truncate
  const std::unique_ptr<WritableFile> out = fs.open_writable(to);
  constexpr std::size_t kChunk = std::size_t{1} << 20;
  std::string buffer;
  for (std::uint64_t done = 0; done < bytes;) {
    const auto n =
        static_cast<std::size_t>(std::min<std::uint64_t>(kChunk, bytes - done));
    buffer.resize(n);
    const std::size_t got = in->read(offset + done, n, buffer.data());
    if (got == 0) break;
    out->append(std::string_view(buffer.data(), got));
    done += got;
  }
  out->sync();
  out->close();
}

}  // namespace

std::string cut_file_name(const std::string& segment, std::uint64_t offset) {
  return fmt::format("{}{}{}", segment, kCutInfix, offset);
}

RecoveryPlan plan_log_recovery(const FileSystem& fs,
                               const std::filesystem::path& log_dir,
                               const Uuid& store_uuid) {
  RecoveryPlan plan;
  std::vector<std::uint64_t> segments = list_segments(fs, log_dir);
  std::vector<SegmentHeader> headers;
  bool removed_torn = false;
  for (std::size_t i = 0; i < segments.size(); ++i) {
    const std::filesystem::path path = log_dir / segment_file_name(segments[i]);
    HeaderRead read = read_header(fs, path);
    if (!read.header) {
      if (!read.torn || i + 1 != segments.size())
        corrupt(path, 0, read.problem);
      const std::uint64_t vouched = max_vouched(fs, path);
      if (vouched >= segments[i]) {
        corrupt(
            path, 0,
            fmt::format("{}, but a later record vouches for lsn {} as durable",
                        read.problem, vouched));
      }
      // Created by a writer that crashed before the header was durable: nothing
      // in it was ever acknowledged.
      plan.set_aside_segment = path;
      plan.set_aside_reason = read.problem;
      segments.pop_back();
      removed_torn = true;
      break;
    }
    const SegmentHeader& h = *read.header;
    if (h.store_uuid != store_uuid) {
      corrupt(path, 0,
              "segment belongs to a foreign store (store uuid differs)");
    }
    if (h.first_lsn != segments[i]) {
      corrupt(path, 0,
              fmt::format(
                  "segment header first_lsn {} does not match the file name",
                  h.first_lsn));
    }
    const std::uint64_t previous = i == 0 ? 0 : segments[i - 1];
    if (h.prev_first_lsn != previous) {
      corrupt(
          path, 0,
          previous == 0
              ? fmt::format("segment follows segment {} which is missing",
                            segment_file_name(h.prev_first_lsn))
              : fmt::format(
                    "segment follows segment {} but the previous file is {} "
                    "(missing or reordered segment)",
                    segment_file_name(h.prev_first_lsn),
                    segment_file_name(previous)));
    }
    if (i > 0) {
      const std::filesystem::path prev_path =
          log_dir / segment_file_name(previous);
      const Tail tail = sealed_tail(fs, prev_path, headers.back());
      if (tail.last_lsn != h.prev_last_lsn) {
        corrupt(
            path, 0,
            fmt::format(
                "lsn gap between segments: {} ends at lsn {}, this one starts "
                "at lsn {}",
                prev_path.filename().string(), tail.last_lsn, h.first_lsn));
      }
      if (tail.last_hash != h.prev_last_hash) {
        corrupt(path, 0,
                fmt::format("hash chain broken: the header's prev_last_hash "
                            "differs from the "
                            "last commit of {}",
                            prev_path.filename().string()));
      }
    }
    headers.push_back(h);
  }
  if (segments.empty()) return plan;
  plan_last(fs, log_dir / segment_file_name(segments.back()), headers.back(),
            removed_torn, &plan);
  return plan;
}

RecoveredLog apply_log_recovery(FileSystem& fs,
                                const std::filesystem::path& log_dir,
                                const RecoveryPlan& plan,
                                const Logger& logger) {
  if (!plan.set_aside_segment.empty()) {
    const std::filesystem::path& path = plan.set_aside_segment;
    const std::filesystem::path side = side_file_for(fs, path, 0, 0);
    fs.rename(path, side);
    fs.sync_dir(log_dir);
    warn(logger,
         fmt::format("log segment {}: set aside a fresh segment with "
                     "a {} as {}",
                     path.string(), plan.set_aside_reason, side.string()));
  }
  RecoveredLog out;
  if (plan.last_segment.empty()) return out;
  const std::filesystem::path& path = plan.last_segment;
  std::filesystem::path side;
  if (plan.cut_bytes > 0) {
    // The cut bytes go to a side file first, so that salvage can read them;
    // a crash before the truncate redoes the copy on the next open.
    side = side_file_for(fs, path, plan.cut_offset, plan.cut_bytes);
    copy_range(fs, path, plan.cut_offset, plan.cut_bytes, side);
    fs.sync_dir(log_dir);
  }
  out.file = fs.open_writable(path);
  // Zeros written ahead go with the torn tail, or alone, silently.
  const std::uint64_t size = out.file->size();
  if (size > plan.end) out.file->truncate(plan.end);
  if (plan.cut_bytes > 0) {
    const std::uint64_t dropped = size - std::min(size, plan.end);
    const std::uint64_t zeros = dropped - std::min(dropped, plan.cut_bytes);
    warn(logger,
         fmt::format("log segment {}: dropped {} bytes of torn tail at offset "
                     "{} ({}); they are kept in {}{}",
                     path.string(), plan.cut_bytes, plan.cut_offset,
                     plan.cut_reason, side.filename().string(),
                     zeros == 0 ? std::string()
                                : fmt::format(" (and {} zero bytes after "
                                              "them, dropped too)",
                                              zeros)));
  }
  out.file->sync();
  out.segment_first_lsn = plan.segment_first_lsn;
  out.last_lsn = plan.last_lsn;
  out.last_hash = plan.last_hash;
  return out;
}

RecoveredLog recover_log(FileSystem& fs, const std::filesystem::path& log_dir,
                         const Uuid& store_uuid, const Logger& logger) {
  return apply_log_recovery(fs, log_dir,
                            plan_log_recovery(fs, log_dir, store_uuid), logger);
}

}  // namespace wfstore::log
