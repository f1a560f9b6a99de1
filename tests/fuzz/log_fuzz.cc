// Fuzz target `log`: the log reader, verify and recovery over arbitrary
// segment bytes.
//
// Input: the bytes of one or more segment files, separated by
// kSegmentSeparator. Each becomes a file of an in-memory log directory, named
// by the first LSN its segment header claims when that is above the previous
// file's (else the previous file's plus one); the store UUID is the one the
// first header holds. Every input runs twice: as given, and with every record
// checksum, commit hash and hash-chain link made valid, so mutations reach the
// framing, commit and chain checks behind the checksums.
//
// Any wfstore::Error is an accepted answer. Properties checked (a violation
// aborts): a Reader that reported the end reports it again; when recover_log
// succeeds, it succeeds again with the same result and without changing any
// byte, the recovered log reopens with a Writer and takes a commit (unless
// its LSNs run out), and a log of one segment then verifies with that commit
// as its head.

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "wfstore/errors.h"

#include "events/log/log_recovery.h"
#include "tests/fuzz/fuzz_check.h"
#include "tests/fuzz/memory_file_system.h"
#include "wfstore_internal/crc32c.h"
#include "wfstore_internal/event_codec.h"
#include "wfstore_internal/log_format.h"
#include "wfstore_internal/log_reader.h"
#include "wfstore_internal/log_verify.h"
#include "wfstore_internal/log_writer.h"

namespace wfstore::log {
namespace {

constexpr std::string_view kSegmentSeparator = "--wfstore-fuzz-next-segment--";
const std::filesystem::path kLogDir = "/store/log";
// Offset of the store UUID in a segment file: record header, magic, version.
constexpr std::size_t kUuidOffset = kHeaderSize + kSegmentMagic.size() + 4;

struct Layout {
  StoreId store;
  std::vector<std::pair<std::uint64_t, std::string>> segments;
};

std::uint32_t load_u32(const char* p) {
  std::uint32_t v = 0;
  for (int i = 3; i >= 0; --i) v = (v << 8) | static_cast<std::uint8_t>(p[i]);
  return v;
}

std::uint64_t load_u64(const char* p) {
  return load_u32(p) | (std::uint64_t{load_u32(p + 4)} << 32);
}

void store_u32(char* p, std::uint32_t v) {
  for (int i = 0; i < 4; ++i) p[i] = static_cast<char>((v >> (8 * i)) & 0xff);
}

Layout layout_of(std::string_view input) {
  Layout out;
  std::uint64_t previous = 0;
  for (;;) {
    const std::size_t cut = input.find(kSegmentSeparator);
    std::string bytes(input.substr(0, cut));
    std::uint64_t name = previous + 1;
    if (bytes.size() >= kHeaderSize) {
      std::string error;
      const std::optional<SegmentHeader> h = decode_segment_header(
          std::string_view(bytes).substr(kHeaderSize, kSegmentHeaderSize),
          &error);
      if (h && h->first_lsn > previous) name = h->first_lsn;
    }
    if (out.segments.empty() && bytes.size() >= kUuidOffset + 16) {
      std::memcpy(out.store.bytes.data(), bytes.data() + kUuidOffset, 16);
    }
    out.segments.emplace_back(name, std::move(bytes));
    previous = name;
    if (cut == std::string_view::npos || name == UINT64_MAX) break;
    input.remove_prefix(cut + kSegmentSeparator.size());
  }
  return out;
}

// Walks the physical records as the reader does and makes every checksum
// valid; a FULL commit record gets the previous commit's hash as prev_hash and
// its own hash recomputed, a segment header the previous commit's hash as
// prev_last_hash. Records the walk cannot frame are left as they are.
void make_checksums_valid(Layout* layout) {
  Hash last{};
  for (auto& [name, bytes] : layout->segments) {
    std::string fragments;
    std::size_t pos = 0;
    while (pos + kHeaderSize <= bytes.size()) {
      const std::size_t left = kBlockSize - pos % kBlockSize;
      if (left < kHeaderSize) {
        pos += left;
        continue;
      }
      char* h = bytes.data() + pos;
      const std::size_t len =
          static_cast<std::uint8_t>(h[4]) |
          (std::size_t{static_cast<std::uint8_t>(h[5])} << 8);
      const auto type = static_cast<std::uint8_t>(h[6]);
      if (kHeaderSize + len > left || pos + kHeaderSize + len > bytes.size() ||
          (type == 0 && len == 0)) {
        pos += left;
        continue;
      }
      char* payload = h + kHeaderSize;
      if (type == static_cast<std::uint8_t>(RecordType::kFull) &&
          len >= kCommitFixedSize) {
        std::memcpy(payload + kCommitHashOffset - kHashSize, last.data(),
                    kHashSize);
        const Hash hash = commit_hash(
            load_u64(payload), load_u32(payload + 8),
            static_cast<std::int64_t>(load_u64(payload + 12)),
            load_u64(payload + 20), last,
            std::string_view(payload, len).substr(kCommitFixedSize));
        std::memcpy(payload + kCommitHashOffset, hash.data(), kHashSize);
        last = hash;
      } else if (type == static_cast<std::uint8_t>(RecordType::kFirst)) {
        fragments.assign(payload, len);
      } else if (type == static_cast<std::uint8_t>(RecordType::kMiddle)) {
        fragments.append(payload, len);
      } else if (type == static_cast<std::uint8_t>(RecordType::kLast)) {
        fragments.append(payload, len);
        if (fragments.size() >= kCommitFixedSize) {
          std::memcpy(last.data(), fragments.data() + kCommitHashOffset,
                      kHashSize);
        }
        fragments.clear();
      } else if (type ==
                     static_cast<std::uint8_t>(RecordType::kSegmentHeader) &&
                 len == kSegmentHeaderSize) {
        std::memcpy(payload + kSegmentHeaderSize - kHashSize, last.data(),
                    kHashSize);
      }
      store_u32(h, crc32c::mask(crc32c::value(h + 6, 1 + len)));
      pos += kHeaderSize + len;
    }
  }
}

std::shared_ptr<fuzz::MemoryFileSystem> file_system_of(const Layout& layout) {
  auto fs = std::make_shared<fuzz::MemoryFileSystem>();
  fs->create_directories(kLogDir);
  for (const auto& [name, bytes] : layout.segments) {
    fs->put(kLogDir / segment_file_name(name), bytes);
  }
  return fs;
}

std::vector<std::string> snapshot(const fuzz::MemoryFileSystem& fs) {
  std::vector<std::string> out;
  for (const std::string& name : fs.list_dir(kLogDir)) {
    out.push_back(name);
    out.push_back(*fs.get(kLogDir / name));
  }
  return out;
}

// Reads every commit from `from_lsn` and decodes its body.
void read_all(const std::shared_ptr<FileSystem>& fs, const StoreId& store,
              std::uint64_t from_lsn, std::uint64_t* last_lsn) {
  std::size_t damages = 0;
  Reader reader(fs, kLogDir, store, from_lsn,
                [&](const Damage&) { ++damages; });
  Commit commit;
  while (reader.next(&commit)) {
    *last_lsn = commit.last_lsn();
    try {
      decode_commit_body(commit.first_lsn, commit.timestamp_ms,
                         commit.event_count, commit.body);
    } catch (const Error&) {
    }
  }
  FUZZ_CHECK(!reader.next(&commit),
             "a Reader at the end of an unchanged log stays at the end");
}

void run(const Layout& layout) {
  const std::shared_ptr<fuzz::MemoryFileSystem> fs = file_system_of(layout);
  std::uint64_t last_lsn = 0;
  try {
    read_all(fs, layout.store, 0, &last_lsn);
    if (last_lsn > 1) read_all(fs, layout.store, last_lsn / 2, &last_lsn);
  } catch (const Error&) {
  }
  try {
    verify_log(fs, kLogDir, layout.store);
  } catch (const Error&) {
  }

  std::optional<RecoveredLog> recovered;
  try {
    recovered = recover_log(*fs, kLogDir, layout.store.bytes, nullptr);
  } catch (const Error&) {
    return;
  }
  recovered->file.reset();
  const std::vector<std::string> after_recovery = snapshot(*fs);
  RecoveredLog again = recover_log(*fs, kLogDir, layout.store.bytes, nullptr);
  FUZZ_CHECK(again.last_lsn == recovered->last_lsn &&
                 again.last_hash == recovered->last_hash &&
                 again.segment_first_lsn == recovered->segment_first_lsn,
             "a second recovery finds the log the first one left");
  again.file.reset();
  FUZZ_CHECK(snapshot(*fs) == after_recovery,
             "a second recovery changes no byte");

  std::unique_ptr<Writer> writer = Writer::open(fs, kLogDir, layout.store);
  FUZZ_CHECK(writer->last_lsn() == recovered->last_lsn,
             "the writer continues where recovery ended");
  const std::uint64_t next = writer->last_lsn() + 1;
  std::optional<Hash> head;
  try {
    head = writer->append(next, 1, 1, "fuzz");
  } catch (const InvalidArgumentError&) {
    FUZZ_CHECK(next == UINT64_MAX,
               "the writer refuses an append only when the LSNs run out");
  }
  writer->sync();
  writer->close();
  if (fs->list_dir(kLogDir).size() == 1) {
    const VerifyReport report = verify_log(fs, kLogDir, layout.store);
    FUZZ_CHECK(!head || (report.last_lsn == next && report.head_hash == *head),
               "a recovered log of one segment verifies after an append");
  }
}

}  // namespace
}  // namespace wfstore::log

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data,
                                      std::size_t size) {
  using namespace wfstore::log;  // NOLINT(google-build-using-namespace)
  Layout layout =
      layout_of(std::string_view(reinterpret_cast<const char*>(data), size));
  run(layout);
  make_checksums_valid(&layout);
  run(layout);
  return 0;
}
