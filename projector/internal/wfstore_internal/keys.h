// Key encodings of the views: fixed-width big-endian integers (so bytewise
// order is numeric order), composite keys, and the interning of strings to
// 64-bit surrogates through the `ids` table (strings never go into keys:
// README.md "Limits").

#pragma once

#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>

#include "wfstore_internal/view_meta.h"
#include "wfstore_internal/view_store.h"

namespace wfstore::keys {

// Appends `v` as 8 big-endian bytes.
inline void append_u64(std::string& out, std::uint64_t v) {
  char bytes[8];
  for (int i = 7; i >= 0; --i) {
    bytes[i] = static_cast<char>(v & 0xff);
    v >>= 8;
  }
  out.append(bytes, sizeof bytes);
}

// Appends `v` as 8 big-endian bytes with the sign bit flipped, so that bytewise
// order is signed numeric order.
inline void append_i64(std::string& out, std::int64_t v) {
  append_u64(out, static_cast<std::uint64_t>(v) ^ (std::uint64_t{1} << 63));
}

inline std::string encode_u64(std::uint64_t v) {
  std::string out;
  append_u64(out, v);
  return out;
}

inline std::string encode_i64(std::int64_t v) {
  std::string out;
  append_i64(out, v);
  return out;
}

// The key of big-endian u64 parts in order, e.g. make_key({workflow,
// position}).
inline std::string make_key(std::initializer_list<std::uint64_t> parts) {
  std::string out;
  out.reserve(8 * parts.size());
  for (std::uint64_t part : parts) append_u64(out, part);
  return out;
}

// Maps ascending to descending order: encode descending(v) to sort larger
// values first.
constexpr std::uint64_t descending(std::uint64_t v) noexcept { return ~v; }

// The smallest key greater than every key that starts with `prefix` (for a
// scan's exclusive upper bound), or "" (scan to the end) if `prefix` is empty
// or all 0xff bytes.
std::string prefix_end(std::string_view prefix);

// Decodes exactly 8 big-endian bytes. Throws CorruptionError for any other
// size.
std::uint64_t decode_u64(std::string_view bytes);
// Inverse of append_i64. Throws CorruptionError for any size but 8.
std::int64_t decode_i64(std::string_view bytes);

// Reads a composite key part by part. Throws CorruptionError naming the key's
// hex when a part runs past the end.
//
// REQUIRES: the bytes outlive the reader.
class KeyReader {
 public:
  explicit KeyReader(std::string_view key) : key_(key) {}

  std::uint64_t u64();
  std::int64_t i64();
  bool done() const noexcept { return pos_ == key_.size(); }
  // Throws CorruptionError unless every byte was read.
  void expect_done() const;

 private:
  std::string_view take(std::size_t n);

  std::string_view key_;
  std::size_t pos_ = 0;
};

// Lowercase hex of `bytes`, for messages about keys.
std::string hex(std::string_view bytes);

// The 64-bit hash keying the `ids` table: the first 8 bytes of SHA-256(s),
// big-endian.
std::uint64_t id_hash(std::string_view s);

// id_hash(s) and an independent 64-bit check (the next 8 bytes of
// SHA-256(s)), from one digest: indexes keyed by a hash keep the check in
// their value, so a lookup tells a colliding string apart without reading it
// back (a wrong match needs both 64-bit halves to collide).
struct IdHashes {
  std::uint64_t hash = 0;
  std::uint64_t check = 0;
};
IdHashes id_hashes(std::string_view s);

// The surrogate of `s`, or nullopt if `s` was never interned. Surrogates are
// >= 1.
//
// `ids` layout: key = u64be id_hash(s); value = one or more entries
//   entry := u64be surrogate, u32be size, size bytes of the string
// in the order they were interned (more than one only when hashes collide).
//
// Throws CorruptionError for a malformed `ids` value, IOError.
std::optional<std::uint64_t> lookup_id(const ViewReader& views,
                                       std::string_view s);

// The surrogate of `s`, interning it if new: the next surrogate comes from
// meta's kMetaNextId counter, so the same sequence of interns assigns the same
// surrogates (a rebuild yields identical tables). Throws CorruptionError,
// IOError.
std::uint64_t intern_id(ViewStore& views, std::string_view s);

// While alive, id_hash() is replaced by `hash` (to force collisions in tests).
// Not thread-safe with concurrent id_hash() calls; one at a time.
class ScopedIdHashForTesting {
 public:
  explicit ScopedIdHashForTesting(std::uint64_t (*hash)(std::string_view));
  ~ScopedIdHashForTesting();
  ScopedIdHashForTesting(const ScopedIdHashForTesting&) = delete;
  ScopedIdHashForTesting& operator=(const ScopedIdHashForTesting&) = delete;

 private:
  std::uint64_t (*previous_)(std::string_view);
};

}  // namespace wfstore::keys
