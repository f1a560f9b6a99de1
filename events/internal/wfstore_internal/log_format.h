// On-disk layout of the append-only event log, shared by the log writer,
// reader, recovery and verify. LevelDB's log format (docs/formats.md#the-log)
// plus a segment header and a hash-chained commit record. All integers are
// little-endian; x:T is a field x of type T, u8[n] is n bytes.
//
//   log_dir        := segment*
//   segment        := block*
//   block          := record* trailer?
//   trailer        := 0x00{0..kHeaderSize-1}
//   record         := crc:u32 len:u16 type:u8 payload:u8[len]
//
//   log_dir        files "<20-digit first LSN>.log", in name order
//   block          kBlockSize bytes; a segment's last block may be partial
//   trailer        a record never starts in a block's last kHeaderSize-1
//                  bytes; they are zero
//   crc            mask(crc32c(type || payload))
//   type           0 zero (never written)
//                  1 FULL | 2 FIRST | 3 MIDDLE | 4 LAST
//                  5 SEGMENT_HEADER (one physical record, always at offset 0)
//                  t with t & 0x40: unknown but safe to skip
//                  any other unknown t: damage
//
// A logical record is one FULL fragment or FIRST MIDDLE* LAST. A segment is one
// SEGMENT_HEADER record followed by commit records; a commit never spans
// segments. Their payloads:
//
//   segment_header := magic:u8[8] version:u32 store_uuid:u8[16] position
//   position       := first_lsn:u64 prev_first_lsn:u64 prev_last
//   prev_last      := prev_last_lsn:u64 prev_last_hash:u8[32]
//   commit         := fixed hash:u8[32] body:u8[*]
//   fixed          := lsns timestamp_ms:i64 durable_lsn:u64 prev_hash:u8[32]
//   lsns           := first_lsn:u64 event_count:u32
//
//   magic          "WFSTLOG\n"
//   version        1
//   first_lsn      in a segment header: == the LSN in the file name
//   prev_first_lsn previous segment's first LSN (0: none)
//   prev_last_lsn  == first_lsn - 1
//   prev_last_hash previous commit's hash (zeros: none)
//   durable_lsn    writer's durable LSN when written (< first_lsn)
//   prev_hash      hash of the previous commit (zeros: none)
//   hash           SHA-256(fixed || body); fixed is the payload's first
//                  kCommitHashOffset (60) bytes
//   body           the rest of the logical record; opaque here
//
// The commit holds LSNs first_lsn .. first_lsn + event_count - 1; LSNs are
// dense across commits and segments. prev_first_lsn lets open detect a missing
// or reordered segment from the headers alone; prev_last_lsn and prev_last_hash
// are checked against the previous segment's actual last commit by a full scan
// (Reader, verify).

#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "wfstore/limits.h"

namespace wfstore::log {

enum class RecordType : std::uint8_t {
  kZero = 0,  // Preallocated or zero-filled space; never written.
  kFull = 1,
  kFirst = 2,  // Fragments of a record that spans blocks.
  kMiddle = 3,
  kLast = 4,
  kSegmentHeader = 5,
};

inline constexpr std::size_t kBlockSize = 32768;
inline constexpr std::size_t kHeaderSize = 4 + 2 + 1;
// An unknown record type with this bit set is skipped instead of reported as
// damage.
inline constexpr std::uint8_t kIgnorableBit = 0x40;

inline constexpr std::uint32_t kFormatVersion = 1;
inline constexpr std::string_view kSegmentMagic{"WFSTLOG\n", 8};
inline constexpr std::uint64_t kDefaultRollBytes = kSegmentRollBytes;
// Zeros the writer writes ahead of its records at a time.
inline constexpr std::uint64_t kDefaultFillBytes = std::uint64_t{1} << 20;

inline constexpr std::size_t kHashSize = 32;
using Hash = std::array<std::uint8_t, kHashSize>;
using Uuid = std::array<std::uint8_t, 16>;

inline constexpr std::size_t kSegmentHeaderSize =
    8 + 4 + 16 + 8 + 8 + 8 + kHashSize;
// Bytes of the commit payload before the body; the hash covers [0,
// kCommitHashOffset).
inline constexpr std::size_t kCommitHashOffset = 8 + 4 + 8 + 8 + kHashSize;
inline constexpr std::size_t kCommitFixedSize = kCommitHashOffset + kHashSize;

struct SegmentHeader {
  std::uint32_t version = kFormatVersion;
  Uuid store_uuid{};
  std::uint64_t first_lsn = 0;
  std::uint64_t prev_first_lsn = 0;
  std::uint64_t prev_last_lsn = 0;
  Hash prev_last_hash{};
};

// One commit record as stored. segment and offset say where it was read (file
// name and offset of its first fragment); they are not stored.
struct Commit {
  std::uint64_t first_lsn = 0;
  std::uint32_t event_count = 0;
  std::int64_t timestamp_ms = 0;
  std::uint64_t durable_lsn = 0;
  Hash prev_hash{};
  Hash hash{};
  std::string body;
  std::string segment;
  std::uint64_t offset = 0;

  std::uint64_t last_lsn() const { return first_lsn + event_count - 1; }
};

// The 84-byte payload of a segment header record.
std::string encode_segment_header(const SegmentHeader& header);
// Parses a segment header payload; on failure returns nullopt and sets *error
// (what is wrong, naming the field). Does not check the store UUID or the file
// name.
std::optional<SegmentHeader> decode_segment_header(std::string_view payload,
                                                   std::string* error);

// The hash a commit record stores: SHA-256 over the fixed fields before it
// (prev_hash included) and the body.
Hash commit_hash(std::uint64_t first_lsn, std::uint32_t event_count,
                 std::int64_t timestamp_ms, std::uint64_t durable_lsn,
                 const Hash& prev_hash, std::string_view body);
// The payload of a commit record with its hash computed; *hash_out (optional)
// gets the hash.
std::string encode_commit(std::uint64_t first_lsn, std::uint32_t event_count,
                          std::int64_t timestamp_ms, std::uint64_t durable_lsn,
                          const Hash& prev_hash, std::string_view body,
                          Hash* hash_out = nullptr);
// Parses a commit payload and checks its own consistency (sizes, event_count >=
// 1, durable_lsn < first_lsn, the stored hash equal to the recomputed one). On
// failure returns false and sets *error. Does not check the chain to the
// previous commit.
bool decode_commit(std::string_view payload, Commit* commit,
                   std::string* error);

// Appends the physical records of one logical record (FULL or FIRST MIDDLE*
// LAST) to *out, padding block trailers with zeros. *block_offset is the
// position in the current block before and after.
void frame_record(std::string_view payload, std::size_t* block_offset,
                  std::string* out);
// Appends one physical record of any type byte (it must fit in one block after
// the trailer padding); used for segment headers and by tests to write odd
// records.
void frame_physical(std::uint8_t type, std::string_view payload,
                    std::size_t* block_offset, std::string* out);
// Bytes frame_record() would append for a payload of `payload_size` at
// `block_offset`.
std::uint64_t framed_size(std::size_t payload_size, std::size_t block_offset);

// "00000000000000000001.log" for LSN 1.
std::string segment_file_name(std::uint64_t first_lsn);
// The first LSN a segment file name encodes; nullopt for any other name.
std::optional<std::uint64_t> parse_segment_file_name(std::string_view name);

// Lowercase hex of a hash.
std::string to_hex(const Hash& hash);

}  // namespace wfstore::log
