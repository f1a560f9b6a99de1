// Encoding of segment headers, commit records and block framing
// (wfstore_internal/log_format.h).

#include "wfstore_internal/log_format.h"

#include <algorithm>
#include <cstring>
#include <type_traits>

#include <fmt/format.h>

#include "wfstore/errors.h"

#include "wfstore_internal/crc32c.h"
#include "wfstore_internal/sha256.h"

namespace wfstore::log {
namespace {

void put_u16(std::string* out, std::uint16_t v) {
  out->push_back(static_cast<char>(v & 0xff));
  out->push_back(static_cast<char>(v >> 8));
}

void put_u32(std::string* out, std::uint32_t v) {
  for (int i = 0; i < 4; ++i)
    out->push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

void put_u64(std::string* out, std::uint64_t v) {
  for (int i = 0; i < 8; ++i)
    out->push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

template <std::size_t N>
void put_bytes(std::string* out, const std::array<std::uint8_t, N>& bytes) {
  out->append(reinterpret_cast<const char*>(bytes.data()), N);
}

std::uint32_t get_u32(const char* p) {
  std::uint32_t v = 0;
  for (int i = 3; i >= 0; --i) v = (v << 8) | static_cast<std::uint8_t>(p[i]);
  return v;
}

std::uint64_t get_u64(const char* p) {
  std::uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | static_cast<std::uint8_t>(p[i]);
  return v;
}

template <std::size_t N>
void get_bytes(const char* p, std::array<std::uint8_t, N>* bytes) {
  std::memcpy(bytes->data(), p, N);
}

static_assert(std::is_same_v<Hash, Sha256Digest>);

// SHA-256 of a || b.
Hash sha256(std::string_view a, std::string_view b) {
  Sha256 hasher;
  hasher.update(a);
  hasher.update(b);
  return hasher.finish();
}

std::string commit_fixed_part(std::uint64_t first_lsn,
                              std::uint32_t event_count,
                              std::int64_t timestamp_ms,
                              std::uint64_t durable_lsn,
                              const Hash& prev_hash) {
  std::string out;
  out.reserve(kCommitFixedSize);
  put_u64(&out, first_lsn);
  put_u32(&out, event_count);
  put_u64(&out, static_cast<std::uint64_t>(timestamp_ms));
  put_u64(&out, durable_lsn);
  put_bytes(&out, prev_hash);
  return out;
}

}  // namespace

std::string encode_segment_header(const SegmentHeader& header) {
  std::string out;
  out.reserve(kSegmentHeaderSize);
  out.append(kSegmentMagic);
  put_u32(&out, header.version);
  put_bytes(&out, header.store_uuid);
  put_u64(&out, header.first_lsn);
  put_u64(&out, header.prev_first_lsn);
  put_u64(&out, header.prev_last_lsn);
  put_bytes(&out, header.prev_last_hash);
  return out;
}

std::optional<SegmentHeader> decode_segment_header(std::string_view payload,
                                                   std::string* error) {
  if (payload.size() < kSegmentMagic.size() + 4 ||
      payload.substr(0, kSegmentMagic.size()) != kSegmentMagic) {
    *error = "bad segment header magic";
    return std::nullopt;
  }
  SegmentHeader h;
  const char* p = payload.data() + kSegmentMagic.size();
  h.version = get_u32(p);
  if (h.version != kFormatVersion) {
    *error = fmt::format(
        "segment header version {} is not supported (this build reads {})",
        h.version, kFormatVersion);
    return std::nullopt;
  }
  if (payload.size() != kSegmentHeaderSize) {
    *error = fmt::format("segment header length {} is not {}", payload.size(),
                         kSegmentHeaderSize);
    return std::nullopt;
  }
  p += 4;
  get_bytes(p, &h.store_uuid);
  p += 16;
  h.first_lsn = get_u64(p);
  h.prev_first_lsn = get_u64(p + 8);
  h.prev_last_lsn = get_u64(p + 16);
  get_bytes(p + 24, &h.prev_last_hash);
  if (h.first_lsn == 0) {
    *error = "segment header first_lsn is 0";
    return std::nullopt;
  }
  if (h.prev_last_lsn + 1 != h.first_lsn) {
    *error = fmt::format(
        "segment header prev_last_lsn {} does not precede first_lsn {}",
        h.prev_last_lsn, h.first_lsn);
    return std::nullopt;
  }
  return h;
}

Hash commit_hash(std::uint64_t first_lsn, std::uint32_t event_count,
                 std::int64_t timestamp_ms, std::uint64_t durable_lsn,
                 const Hash& prev_hash, std::string_view body) {
  return sha256(commit_fixed_part(first_lsn, event_count, timestamp_ms,
                                  durable_lsn, prev_hash),
                body);
}

std::string encode_commit(std::uint64_t first_lsn, std::uint32_t event_count,
                          std::int64_t timestamp_ms, std::uint64_t durable_lsn,
                          const Hash& prev_hash, std::string_view body,
                          Hash* hash_out) {
  std::string out = commit_fixed_part(first_lsn, event_count, timestamp_ms,
                                      durable_lsn, prev_hash);
  const Hash hash = sha256(out, body);
  out.reserve(kCommitFixedSize + body.size());
  put_bytes(&out, hash);
  out.append(body);
  if (hash_out != nullptr) *hash_out = hash;
  return out;
}

bool decode_commit(std::string_view payload, Commit* commit,
                   std::string* error) {
  if (payload.size() < kCommitFixedSize) {
    *error = fmt::format(
        "commit record of {} bytes is shorter than its {}-byte fixed part",
        payload.size(), kCommitFixedSize);
    return false;
  }
  const char* p = payload.data();
  commit->first_lsn = get_u64(p);
  commit->event_count = get_u32(p + 8);
  commit->timestamp_ms = static_cast<std::int64_t>(get_u64(p + 12));
  commit->durable_lsn = get_u64(p + 20);
  get_bytes(p + 28, &commit->prev_hash);
  get_bytes(p + kCommitHashOffset, &commit->hash);
  const std::string_view body = payload.substr(kCommitFixedSize);
  if (commit->first_lsn == 0 || commit->event_count == 0 ||
      commit->event_count > kMaxCommitEvents ||
      commit->first_lsn > UINT64_MAX - commit->event_count) {
    *error = fmt::format(
        "commit record has a bad lsn range (first_lsn {}, event_count {})",
        commit->first_lsn, commit->event_count);
    return false;
  }
  if (commit->durable_lsn >= commit->first_lsn) {
    *error = fmt::format(
        "commit record durable_lsn {} is not below its first_lsn {}",
        commit->durable_lsn, commit->first_lsn);
    return false;
  }
  if (sha256(payload.substr(0, kCommitHashOffset), body) != commit->hash) {
    *error = fmt::format("commit {} hash does not match its contents",
                         commit->first_lsn);
    return false;
  }
  commit->body.assign(body.data(), body.size());
  return true;
}

void frame_physical(std::uint8_t type, std::string_view payload,
                    std::size_t* block_offset, std::string* out) {
  if (kBlockSize - *block_offset < kHeaderSize) {
    out->append(kBlockSize - *block_offset, '\0');
    *block_offset = 0;
  }
  const char type_byte = static_cast<char>(type);
  std::uint32_t crc = crc32c::extend(0, &type_byte, 1);
  crc = crc32c::extend(crc, payload.data(), payload.size());
  put_u32(out, crc32c::mask(crc));
  put_u16(out, static_cast<std::uint16_t>(payload.size()));
  out->push_back(type_byte);
  out->append(payload);
  *block_offset += kHeaderSize + payload.size();
}

void frame_record(std::string_view payload, std::size_t* block_offset,
                  std::string* out) {
  bool begin = true;
  do {
    if (kBlockSize - *block_offset < kHeaderSize) {
      out->append(kBlockSize - *block_offset, '\0');
      *block_offset = 0;
    }
    const std::size_t avail = kBlockSize - *block_offset - kHeaderSize;
    const std::size_t n = std::min(avail, payload.size());
    const bool end = n == payload.size();
    const RecordType type = begin && end ? RecordType::kFull
                            : begin      ? RecordType::kFirst
                            : end        ? RecordType::kLast
                                         : RecordType::kMiddle;
    frame_physical(static_cast<std::uint8_t>(type), payload.substr(0, n),
                   block_offset, out);
    payload.remove_prefix(n);
    begin = false;
  } while (!payload.empty());
}

std::uint64_t framed_size(std::size_t payload_size, std::size_t block_offset) {
  std::uint64_t total = 0;
  bool first = true;
  while (first || payload_size > 0) {
    first = false;
    if (kBlockSize - block_offset < kHeaderSize) {
      total += kBlockSize - block_offset;
      block_offset = 0;
    }
    const std::size_t n =
        std::min(kBlockSize - block_offset - kHeaderSize, payload_size);
    total += kHeaderSize + n;
    block_offset += kHeaderSize + n;
    payload_size -= n;
  }
  return total;
}

std::string segment_file_name(std::uint64_t first_lsn) {
  // By hand: a reader names the segment of every commit it reads, and
  // fmt::format was a tenth of reading a log of small commits.
  std::string name(24, '0');
  for (std::size_t i = 20; i-- > 0 && first_lsn != 0; first_lsn /= 10) {
    name[i] = static_cast<char>('0' + first_lsn % 10);
  }
  name.replace(20, 4, ".log");
  return name;
}

std::optional<std::uint64_t> parse_segment_file_name(std::string_view name) {
  if (name.size() != 24 || name.substr(20) != ".log") return std::nullopt;
  std::uint64_t v = 0;
  for (std::size_t i = 0; i < 20; ++i) {
    const char c = name[i];
    if (c < '0' || c > '9') return std::nullopt;
    const auto digit = static_cast<std::uint64_t>(c - '0');
    if (v > (UINT64_MAX - digit) / 10) return std::nullopt;
    v = v * 10 + digit;
  }
  return v;
}

std::string to_hex(const Hash& hash) {
  std::string out;
  out.reserve(2 * hash.size());
  for (std::uint8_t b : hash) out += fmt::format("{:02x}", b);
  return out;
}

}  // namespace wfstore::log
