// Helpers shared by the log tests: a fixture over a temporary log directory, a
// builder of hand-made segment files, deterministic commit bodies and byte
// surgery on files.

#pragma once

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "wfstore/file_system.h"

#include "tests/testutil/file_bytes.h"
#include "tests/testutil/temp_dir.h"
#include "wfstore_internal/crc32c.h"
#include "wfstore_internal/log_format.h"
#include "wfstore_internal/log_reader.h"
#include "wfstore_internal/log_writer.h"

namespace wfstore::log::testutil {

using ::wfstore::testutil::read_file_bytes;

inline StoreId make_store_id(std::uint8_t seed) {
  StoreId id;
  for (std::size_t i = 0; i < id.bytes.size(); ++i) {
    id.bytes[i] = static_cast<std::uint8_t>(seed * 31 + i);
  }
  return id;
}

// A body that depends only on (first_lsn, size), so any reader can check it is
// whole.
inline std::string body_for(std::uint64_t first_lsn, std::size_t size) {
  std::string out(size, '\0');
  std::uint64_t x = first_lsn * 0x9e3779b97f4a7c15ull + 1;
  for (char& c : out) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    c = static_cast<char>(x & 0xff);
  }
  return out;
}

inline void spit(const std::filesystem::path& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

inline void flip_bit(const std::filesystem::path& path, std::uint64_t offset,
                     std::uint8_t mask = 0x01) {
  std::string bytes = read_file_bytes(path);
  ASSERT_LT(offset, bytes.size());
  bytes[offset] = static_cast<char>(bytes[offset] ^ static_cast<char>(mask));
  spit(path, bytes);
}

// Rewrites the payload of the one-fragment record at `offset` with `edit` and
// stores a fresh, valid checksum: damage no torn write could produce.
template <class Edit>
void rewrite_record(const std::filesystem::path& path, std::uint64_t offset,
                    Edit edit) {
  std::string bytes = read_file_bytes(path);
  const std::size_t len =
      static_cast<std::uint8_t>(bytes[offset + 4]) |
      (static_cast<std::size_t>(static_cast<std::uint8_t>(bytes[offset + 5]))
       << 8);
  std::string payload = bytes.substr(offset + kHeaderSize, len);
  edit(payload);
  ASSERT_EQ(payload.size(), len);
  bytes.replace(offset + kHeaderSize, len, payload);
  std::uint32_t crc = crc32c::value(bytes.data() + offset + 6, 1 + len);
  crc = crc32c::mask(crc);
  for (int i = 0; i < 4; ++i)
    bytes[offset + static_cast<std::uint64_t>(i)] =
        static_cast<char>((crc >> (8 * i)) & 0xff);
  spit(path, bytes);
}

// Builds a segment file record by record, for layouts the writer never
// produces.
class SegmentBuilder {
 public:
  SegmentBuilder(const StoreId& store_id, std::uint64_t first_lsn,
                 std::uint64_t prev_first_lsn = 0,
                 const Hash& prev_hash = Hash{})
      : next_lsn_(first_lsn), last_hash_(prev_hash) {
    SegmentHeader h;
    h.store_uuid = store_id.bytes;
    h.first_lsn = first_lsn;
    h.prev_first_lsn = prev_first_lsn;
    h.prev_last_lsn = first_lsn - 1;
    h.prev_last_hash = prev_hash;
    raw(static_cast<std::uint8_t>(RecordType::kSegmentHeader),
        encode_segment_header(h));
  }

  // Appends a commit of `events` LSNs chained to the previous one; returns its
  // offset.
  std::uint64_t commit(std::uint32_t events, std::uint64_t durable_lsn,
                       std::size_t body_size = 100) {
    const std::uint64_t at = bytes_.size();
    const std::string payload =
        encode_commit(next_lsn_, events, 1000, durable_lsn, last_hash_,
                      body_for(next_lsn_, body_size), &last_hash_);
    frame_record(payload, &block_offset_, &bytes_);
    next_lsn_ += events;
    return at;
  }
  // Appends one physical record of any type; returns its offset.
  std::uint64_t raw(std::uint8_t type, const std::string& payload) {
    const std::uint64_t at = bytes_.size();
    frame_physical(type, payload, &block_offset_, &bytes_);
    return at;
  }

  std::uint64_t next_lsn() const { return next_lsn_; }
  const Hash& last_hash() const { return last_hash_; }
  std::string& bytes() { return bytes_; }
  void write(const std::filesystem::path& path) const { spit(path, bytes_); }

 private:
  std::string bytes_;
  std::size_t block_offset_ = 0;
  std::uint64_t next_lsn_;
  Hash last_hash_;
};

class LogFixture : public ::testing::Test {
 protected:
  std::filesystem::path segment_path(std::uint64_t first_lsn) const {
    return dir_ / segment_file_name(first_lsn);
  }

  std::unique_ptr<Writer> open_writer(
      std::uint64_t roll_bytes = kDefaultRollBytes,
      bool mapped_writes = false) {
    WriterOptions options;
    options.roll_bytes = roll_bytes;
    options.mapped_writes = mapped_writes;
    options.logger = [this](LogLevel, std::string_view text) {
      warnings_.emplace_back(text);
    };
    return Writer::open(fs_, dir_, store_id_, options);
  }

  // Appends a commit of `events` LSNs with body_for(first_lsn, size); returns
  // first_lsn.
  static std::uint64_t add(Writer& w, std::size_t size = 100,
                           std::uint32_t events = 1) {
    const std::uint64_t first = w.last_lsn() + 1;
    w.append(first, events, 1000 + static_cast<std::int64_t>(first),
             body_for(first, size));
    return first;
  }

  // A reader of the log in dir_ from `from`, adding the damage it reports to
  // damages_.
  std::unique_ptr<Reader> open_reader(std::uint64_t from = 0) {
    return std::make_unique<Reader>(
        fs_, dir_, store_id_, from,
        [this](const Damage& d) { damages_.push_back(d); });
  }

  std::vector<Commit> read_all(std::uint64_t from = 0) {
    damages_.clear();
    const std::unique_ptr<Reader> reader = open_reader(from);
    std::vector<Commit> out;
    Commit c;
    while (reader->next(&c)) out.push_back(c);
    return out;
  }

  std::uint64_t file_size(const std::filesystem::path& path) const {
    return std::filesystem::file_size(path);
  }

  wfstore::testutil::TempDir tmp_;
  std::shared_ptr<FileSystem> fs_ = posix_file_system();
  std::filesystem::path dir_ = tmp_ / "log";
  StoreId store_id_ = make_store_id(1);
  std::vector<std::string> warnings_;
  std::vector<Damage> damages_;
};

}  // namespace wfstore::log::testutil
