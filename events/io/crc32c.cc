// CRC-32C: the SSE4.2 crc32 instruction where the CPU has it (x86-64), else
// table-driven, eight bytes per step ("slicing-by-8"), tables built at
// compile time from the reflected Castagnoli polynomial.

#include "wfstore_internal/crc32c.h"

#include <array>
#include <cstring>

#if defined(__x86_64__)
#include <nmmintrin.h>
#endif

namespace wfstore::crc32c {
namespace {

constexpr std::uint32_t kPolynomial = 0x82f63b78u;

using Tables = std::array<std::array<std::uint32_t, 256>, 8>;

constexpr Tables make_tables() {
  Tables t{};
  for (std::uint32_t i = 0; i < 256; ++i) {
    std::uint32_t crc = i;
    for (int bit = 0; bit < 8; ++bit)
      crc = (crc >> 1) ^ ((crc & 1u) != 0 ? kPolynomial : 0u);
    t[0][i] = crc;
  }
  // t[k][i] is the CRC of byte i followed by k zero bytes.
  for (std::size_t k = 1; k < 8; ++k) {
    for (std::size_t i = 0; i < 256; ++i) {
      const std::uint32_t prev = t[k - 1][i];
      t[k][i] = (prev >> 8) ^ t[0][prev & 0xffu];
    }
  }
  return t;
}

constexpr Tables kTables = make_tables();

inline std::uint32_t load_le32(const unsigned char* p) {
  return static_cast<std::uint32_t>(p[0]) |
         (static_cast<std::uint32_t>(p[1]) << 8) |
         (static_cast<std::uint32_t>(p[2]) << 16) |
         (static_cast<std::uint32_t>(p[3]) << 24);
}

#if defined(__x86_64__)
// The instruction folds the same polynomial, reflected, without the
// inversions extend() applies around it.
__attribute__((target("sse4.2"))) std::uint32_t extend_sse42(
    std::uint32_t init_crc, const char* data, std::size_t n) {
  std::uint64_t crc = init_crc ^ 0xffffffffu;
  while (n >= 8) {
    std::uint64_t word = 0;
    std::memcpy(&word, data, sizeof(word));
    crc = _mm_crc32_u64(crc, word);
    data += 8;
    n -= 8;
  }
  auto crc32 = static_cast<std::uint32_t>(crc);
  while (n > 0) {
    crc32 = _mm_crc32_u8(crc32, static_cast<unsigned char>(*data));
    ++data;
    --n;
  }
  return crc32 ^ 0xffffffffu;
}

const bool kHasSse42 = __builtin_cpu_supports("sse4.2") != 0;
#endif

}  // namespace

std::uint32_t extend(std::uint32_t init_crc, const char* data, std::size_t n) {
#if defined(__x86_64__)
  if (kHasSse42) return extend_sse42(init_crc, data, n);
#endif
  return extend_portable(init_crc, data, n);
}

std::uint32_t extend_portable(std::uint32_t init_crc, const char* data,
                              std::size_t n) {
  const auto* p = reinterpret_cast<const unsigned char*>(data);
  std::uint32_t crc = init_crc ^ 0xffffffffu;
  while (n >= 8) {
    const std::uint32_t lo = load_le32(p) ^ crc;
    const std::uint32_t hi = load_le32(p + 4);
    crc = kTables[7][lo & 0xffu] ^ kTables[6][(lo >> 8) & 0xffu] ^
          kTables[5][(lo >> 16) & 0xffu] ^ kTables[4][lo >> 24] ^
          kTables[3][hi & 0xffu] ^ kTables[2][(hi >> 8) & 0xffu] ^
          kTables[1][(hi >> 16) & 0xffu] ^ kTables[0][hi >> 24];
    p += 8;
    n -= 8;
  }
  while (n > 0) {
    crc = (crc >> 8) ^ kTables[0][(crc ^ *p) & 0xffu];
    ++p;
    --n;
  }
  return crc ^ 0xffffffffu;
}

}  // namespace wfstore::crc32c
