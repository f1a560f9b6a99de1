// The limits every public entry point enforces (README.md "Limits"). Exceeding
// one is an InvalidArgumentError naming the field.

#pragma once

#include <cstddef>
#include <cstdint>

namespace wfstore {

// Any id or name string, in bytes of UTF-8. Primary keys must also be
// non-empty.
inline constexpr std::size_t kMaxStringBytes = 1024;
// Nesting depth of one JSON value (the value itself is depth 1).
inline constexpr std::size_t kMaxJsonDepth = 128;
// One JSON value, measured as its CBOR encoding.
inline constexpr std::size_t kMaxJsonBytes = std::size_t{16} << 20;
// One commit: encoded bytes and number of events.
inline constexpr std::size_t kMaxCommitBytes = std::size_t{64} << 20;
inline constexpr std::size_t kMaxCommitEvents = 100000;
// A log segment is sealed before a commit that would cross this size.
inline constexpr std::uint64_t kSegmentRollBytes = std::uint64_t{64} << 20;

}  // namespace wfstore
