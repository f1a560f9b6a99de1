// The head of a CBOR data item (RFC 8949 §3): the initial byte's major type
// and additional information, and the argument that follows it. Shared by the
// readers of JSON values' CBOR: Json's checker, the JSON text transcoder and
// the outputs merge. Header-only, so each reader inlines it.

#pragma once

#include <cstddef>
#include <cstdint>

namespace wfstore::cbor {

enum class HeadStatus {
  kOk,
  kTruncated,   // the argument runs past the end of the input
  kIndefinite,  // additional information 28..31: reserved, or an indefinite
                // length (or a break)
};

// Reads the argument of an item whose additional information is `info` (the
// initial byte's low five bits, already consumed) from [p, end), advancing p
// past it: info itself below 24, else the 1, 2, 4 or 8 big-endian bytes that
// follow. On failure p and `argument` are unspecified.
inline HeadStatus read_argument(std::uint8_t info, const unsigned char*& p,
                                const unsigned char* end,
                                std::uint64_t& argument) {
  if (info < 24) {
    argument = info;
    return HeadStatus::kOk;
  }
  if (info > 27) return HeadStatus::kIndefinite;
  const std::size_t width = std::size_t{1} << (info - 24);
  if (static_cast<std::size_t>(end - p) < width) return HeadStatus::kTruncated;
  std::uint64_t v = 0;
  for (std::size_t i = 0; i < width; ++i) v = (v << 8) | *p++;
  argument = v;
  return HeadStatus::kOk;
}

// Whether `argument` was written in the fewest bytes its value allows (as
// nlohmann::json::to_cbor writes integers, lengths and counts).
inline bool is_minimal(std::uint8_t info, std::uint64_t argument) {
  switch (info) {
    case 24:
      return argument >= 24;
    case 25:
      return argument > 0xff;
    case 26:
      return argument > 0xffff;
    case 27:
      return argument > 0xffffffff;
    default:
      return info < 24;
  }
}

struct Head {
  std::uint8_t major = 0;
  std::uint8_t info = 0;
  std::uint64_t argument = 0;
};

// Reads a whole head (initial byte and argument) from [p, end), advancing p
// past it.
inline HeadStatus read_head(const unsigned char*& p, const unsigned char* end,
                            Head& head) {
  if (p == end) return HeadStatus::kTruncated;
  const std::uint8_t initial = *p++;
  head.major = static_cast<std::uint8_t>(initial >> 5);
  head.info = static_cast<std::uint8_t>(initial & 0x1f);
  return read_argument(head.info, p, end, head.argument);
}

}  // namespace wfstore::cbor
