// CRC-32C (Castagnoli, reflected polynomial 0x82f63b78), by the CPU's crc32
// instruction where it has one, and the
// masking that the log applies to CRCs it stores (a CRC of data that itself
// holds CRCs is weak).
//
// Thread-safety: every function is pure and may be called concurrently.

#pragma once

#include <cstddef>
#include <cstdint>

namespace wfstore::crc32c {

// Returns the CRC-32C of `init_crc`'s data followed by data[0, n). `init_crc`
// is the value() (or extend()) of the data before, or 0 for none. REQUIRES:
// data != nullptr unless n == 0.
std::uint32_t extend(std::uint32_t init_crc, const char* data, std::size_t n);

// extend() without the CPU's crc32 instruction (the same results; tests
// compare the two).
std::uint32_t extend_portable(std::uint32_t init_crc, const char* data,
                              std::size_t n);

// Returns the CRC-32C of data[0, n).
inline std::uint32_t value(const char* data, std::size_t n) {
  return extend(0, data, n);
}

inline constexpr std::uint32_t kMaskDelta = 0xa282ead8u;

// Returns the masked form of `crc`, the form stored on disk.
inline std::uint32_t mask(std::uint32_t crc) {
  return ((crc >> 15) | (crc << 17)) + kMaskDelta;
}

// Returns the crc whose mask() is `masked_crc`.
inline std::uint32_t unmask(std::uint32_t masked_crc) {
  const std::uint32_t rot = masked_crc - kMaskDelta;
  return (rot >> 17) | (rot << 15);
}

}  // namespace wfstore::crc32c
