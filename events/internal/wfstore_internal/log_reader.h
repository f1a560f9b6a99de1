// Reading the append-only log: SegmentReader parses the block framing of one
// segment file, Reader iterates commits from any LSN across segments and checks
// the LSN and hash chains. Both only report damage through a callback; what
// damage means (a torn tail to drop, corruption to throw) is decided by
// recovery and verify.
//
// Thread-safety: a reader is used by one thread at a time. Any number of
// readers may read a log while its one writer appends.

#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "wfstore/file_system.h"

#include "wfstore_internal/log_format.h"
#include "wfstore_internal/store_dir.h"

namespace wfstore::log {

// Damage found while reading: `bytes` skipped at `offset` of segment file
// `segment`.
struct Damage {
  std::string segment;
  std::uint64_t offset = 0;
  std::uint64_t bytes = 0;
  std::string reason;
};

using Reporter = std::function<void(const Damage&)>;

// First LSNs of the segment files in `log_dir`, sorted (other names are
// ignored; a missing directory has none). Throws IOError.
std::vector<std::uint64_t> list_segments(const FileSystem& fs,
                                         const std::filesystem::path& log_dir);

// The end of the last byte other than zero in [from, size of `file`), or
// `from` when there is none (or the file ends before it). Throws IOError.
std::uint64_t nonzero_end(const ReadableFile& file, std::uint64_t from);

// Reads the logical records of one segment file. An incomplete record at the
// end of the file is "end for now": read() returns false without consuming
// it, and a later read() returns it once it is whole. Incomplete means: a
// truncated header or payload, a FIRST without its LAST yet, or, since the
// writer writes zeros ahead of its records (docs/formats.md), a physical
// record that is all zeros, or whose checksum or length is wrong, with only
// zeros (at least one) after it to the end of the file. Other checksum
// mismatches and bad lengths are reported and the reader resyncs at the next
// block; a fragment out of order or an unknown type without kIgnorableBit is
// reported and skipped.
class SegmentReader {
 public:
  // `file` must outlive the reader. `segment` names the file in reports.
  SegmentReader(const ReadableFile& file, std::string segment,
                Reporter reporter);

  // Reads the next logical record into *payload, its type (kFull for an
  // assembled record, or kSegmentHeader) into *type, the offset of its first
  // fragment into *offset. Returns false at the end of the readable data.
  // Throws IOError.
  bool read(std::string* payload, RecordType* type, std::uint64_t* offset);

  // Continues reading at `offset`, a block boundary or the start of a record.
  void seek(std::uint64_t offset) { pos_ = offset; }

  // With `on` (off by default), a damaged physical record (checksum
  // mismatch, bad length, zeroed header) is followed not by the next block
  // but by the next offset of the same block where a physical record of a
  // known type passes its checksum; only the bytes up to it are reported.
  // For salvage, which wants every whole record there is. Where the damaged
  // record's length is intact (a checksum mismatch) the offset just past it
  // is tried first; otherwise a record found this way can be bytes inside
  // the damaged record's payload that happen to frame a valid record, so
  // its content must be checked by the caller (a commit's hash, the hash
  // chain).
  void set_resync_within_block(bool on) { resync_ = on; }

  // Offset just past the last record read() returned or skipped (where the next
  // starts).
  std::uint64_t position() const { return pos_; }

 private:
  enum class Physical { kOk, kEnd, kBad };

  Physical read_physical(std::uint8_t* type, std::string_view* payload,
                         std::uint64_t* offset);
  // Makes the block holding pos_ available in block_ with as many bytes as the
  // file has.
  void fill_block(std::size_t needed);
  // What a zeroed or damaged physical record at pos_, whose bytes end at
  // `after`, is: being written by a live writer (kReread: the block changed,
  // parse it again), not yet written (kEnd: only zeros after it, the end so
  // far), or damage.
  enum class Triage { kReread, kEnd, kDamage };
  Triage triage_damage(std::uint64_t after);
  // Whether the file holds bytes from `from` on and all of them are zero.
  // Remembers the last answer that was yes: asked again at that offset or a
  // later one, at the same file size, it checks only the rest of the block
  // just read and the next block's first bytes, where the writer's next
  // record would start (a reader waiting at the live end does not scan the
  // zeros written ahead each time; zeroed damage longer than a block,
  // followed by records within the same fill, then shows once the file
  // grows). REQUIRES: block_ holds
  // the block of `from` as just read.
  bool zeros_to_end(std::uint64_t from);
  // Reads pos_'s block again; true when the bytes from pos_ on changed since
  // it was read (a writer was writing there: parse them again, not damage).
  bool block_changed();
  void report(std::uint64_t offset, std::uint64_t bytes,
              std::string reason) const;
  // Skips the damaged physical record at pos_ (`avail` bytes of its block
  // read, `left_in_block` to the block's end): reports the bytes skipped,
  // moves pos_ past them and returns kBad. `claimed_end` (in-block offset,
  // 0: none) is where the record's own length says it ends; a resync tries
  // it before scanning.
  Physical skip_damage(std::size_t avail, std::size_t left_in_block,
                       std::string reason, std::size_t claimed_end = 0);

  const ReadableFile& file_;
  std::string segment_;
  Reporter reporter_;
  std::uint64_t pos_ = 0;
  std::string block_;
  std::uint64_t block_start_ = 0;
  bool resync_ = false;
  // The last zeros_to_end() that found only zeros: from where, at what size.
  std::uint64_t zeros_from_ = UINT64_MAX;
  std::uint64_t zeros_size_ = 0;
};

// A commit read at random (read_commit_at) and where the record after it
// starts.
struct CommitRead {
  Commit commit;
  std::uint64_t next_offset = 0;
};

// Random access by LSN: reads segment file `file` (the segment whose first
// LSN is `segment_first_lsn`) forward from `offset` to the commit that holds
// `lsn` and returns it. `offset` is where a commit record or a block starts,
// or 0: the segment's start, whose header is then checked (magic, version,
// `store_id`, first LSN). Commits before the target are skipped by their
// framing and LSNs alone; only the target's hash is computed. Returns nullopt
// when the readable records of the segment end before `lsn` (it lies in a
// later segment or beyond the log; an incomplete record at the end is the end
// for now). Throws CorruptionError naming the segment and offset for damage on
// the way or at the target (a checksum mismatch, a fragment out of order, an
// unknown record, a malformed commit or one whose hash differs, a bad header),
// an LSN gap between commits, or a commit that starts after `lsn` (`offset`
// was past the commit that holds it); IOError.
std::optional<CommitRead> read_commit_at(const ReadableFile& file,
                                         const StoreId& store_id,
                                         std::uint64_t segment_first_lsn,
                                         std::uint64_t offset,
                                         std::uint64_t lsn);
// The same through `reader`, made by commit_segment_reader for `file`, which
// keeps the block it read last: reading on from the `next_offset` of the
// commit read before reads each block of the segment once.
std::optional<CommitRead> read_commit_at(SegmentReader& reader,
                                         const StoreId& store_id,
                                         std::uint64_t segment_first_lsn,
                                         std::uint64_t offset,
                                         std::uint64_t lsn);
// The reader read_commit_at uses for segment file `file` (the segment whose
// first LSN is `segment_first_lsn`): damage throws CorruptionError naming the
// segment and offset. `file` must outlive it.
SegmentReader commit_segment_reader(const ReadableFile& file,
                                    std::uint64_t segment_first_lsn);
// The same for the segment of `log_dir` that starts at `segment_first_lsn`
// (opened for this call). Throws IOError also for a missing segment.
std::optional<CommitRead> read_commit_at(const FileSystem& fs,
                                         const std::filesystem::path& log_dir,
                                         const StoreId& store_id,
                                         std::uint64_t segment_first_lsn,
                                         std::uint64_t offset,
                                         std::uint64_t lsn);

// Iterates the commits of a log directory in LSN order, from any LSN, across
// segments. Checks every segment header (magic, version, store UUID, first LSN
// == file name, the chain to the previous segment), every record checksum, the
// commit hashes, the hash chain and LSN continuity; every problem is reported,
// never thrown, and the offending commit is not returned. The end of the last
// segment is "end for now": after next() returned false, a later next() returns
// commits the writer appended since, and moves on to new segments.
class Reader {
 public:
  // Reads commits whose LSN range reaches `from_lsn` or beyond (the first
  // commit returned may start below it). `store_id` is the expected store
  // UUID.
  Reader(std::shared_ptr<FileSystem> fs, std::filesystem::path log_dir,
         const StoreId& store_id, std::uint64_t from_lsn, Reporter reporter);
  ~Reader();
  Reader(const Reader&) = delete;
  Reader& operator=(const Reader&) = delete;

  // Reads the next commit into *commit. Returns false when no more is available
  // now. Throws IOError.
  bool next(Commit* commit);

  // Segments opened so far (for verify), and the last commit's LSN and hash
  // seen.
  std::size_t segments_read() const { return segments_read_; }
  std::uint64_t last_lsn() const { return last_lsn_; }
  const Hash& last_hash() const { return last_hash_; }

 private:
  bool open_next_segment();
  // Re-lists the directory; on the first call also positions on the segment of
  // from_lsn.
  bool refresh_segments();
  // Checks the current segment's header (reporting what is wrong). When the
  // listing had missed a segment before this one, the reader moves to that
  // segment instead, whose header comes next.
  void check_header(std::string_view payload);
  // Reads the next commit of the current segment; false at its end for now.
  bool next_in_segment(Commit* commit);
  void report(std::uint64_t offset, std::uint64_t bytes,
              std::string reason) const;

  std::shared_ptr<FileSystem> fs_;
  std::filesystem::path log_dir_;
  Uuid store_uuid_;
  std::uint64_t from_lsn_;
  Reporter reporter_;

  std::vector<std::uint64_t> segments_;  // first LSNs, sorted
  std::size_t index_ = 0;                // segment being read, in segments_
  bool started_ = false;
  std::unique_ptr<ReadableFile> file_;
  std::unique_ptr<SegmentReader> segment_reader_;
  bool header_read_ = false;
  bool sealed_ = false;  // a later segment exists: this one's end is final
  std::size_t segments_read_ = 0;
  // First LSN of the segment read before the current one (0: none yet).
  std::uint64_t read_before_ = 0;

  bool have_last_ =
      false;  // last_lsn_ / last_hash_ describe a commit or header seen
  std::uint64_t last_lsn_ = 0;
  Hash last_hash_{};
};

}  // namespace wfstore::log
