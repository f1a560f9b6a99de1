// CRC-32C: the RFC 3720 (iSCSI) test vectors, extend() over splits, the
// CPU's instruction against the tables, and masking.

#include "wfstore_internal/crc32c.h"

#include <cstdint>
#include <random>
#include <string>

#include <gtest/gtest.h>

namespace wfstore::crc32c {
namespace {

std::uint32_t crc_of(const std::string& s) { return value(s.data(), s.size()); }

TEST(Crc32cTest, Rfc3720ZeroBytes) {
  EXPECT_EQ(crc_of(std::string(32, '\0')), 0x8a9136aau);
}

TEST(Crc32cTest, Rfc3720OnesBytes) {
  EXPECT_EQ(crc_of(std::string(32, '\xff')), 0x62a8ab43u);
}

TEST(Crc32cTest, Rfc3720AscendingBytes) {
  std::string s;
  for (int i = 0; i < 32; ++i) s.push_back(static_cast<char>(i));
  EXPECT_EQ(crc_of(s), 0x46dd794eu);
}

TEST(Crc32cTest, Rfc3720DescendingBytes) {
  std::string s;
  for (int i = 31; i >= 0; --i) s.push_back(static_cast<char>(i));
  EXPECT_EQ(crc_of(s), 0x113fdb5cu);
}

TEST(Crc32cTest, Rfc3720IscsiReadCommand) {
  const unsigned char bytes[48] = {
      0x01, 0xc0, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
      0x00, 0x00, 0x00, 0x00, 0x14, 0x00, 0x00, 0x00, 0x00, 0x00, 0x04, 0x00,
      0x00, 0x00, 0x00, 0x14, 0x00, 0x00, 0x00, 0x18, 0x28, 0x00, 0x00, 0x00,
      0x00, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00};
  EXPECT_EQ(value(reinterpret_cast<const char*>(bytes), sizeof bytes),
            0xd9963a56u);
}

TEST(Crc32cTest, EmptyIsZero) { EXPECT_EQ(value("", 0), 0u); }

TEST(Crc32cTest, KnownAsciiVector) {
  EXPECT_EQ(crc_of("123456789"), 0xe3069283u);
}

TEST(Crc32cTest, ValuesDiffer) { EXPECT_NE(crc_of("a"), crc_of("foo")); }

TEST(Crc32cTest, ExtendEqualsValueOfConcatenationAtEverySplit) {
  std::string s;
  for (int i = 0; i < 100; ++i) s.push_back(static_cast<char>(i * 37 + 11));
  const std::uint32_t whole = crc_of(s);
  for (std::size_t split = 0; split <= s.size(); ++split) {
    const std::uint32_t head = value(s.data(), split);
    EXPECT_EQ(extend(head, s.data() + split, s.size() - split), whole)
        << "split " << split;
  }
  EXPECT_EQ(extend(crc_of("hello "), "world", 5), crc_of("hello world"));
}

// extend() (the CPU's crc32 instruction where it has one) and the tables
// agree at every length, alignment and starting CRC.
TEST(Crc32cTest, InstructionAndTablesAgree) {
  std::mt19937 rng(7);
  std::string buffer(300 + 8, '\0');
  for (char& c : buffer) c = static_cast<char>(rng());
  const std::string ascending = [] {
    std::string s;
    for (int i = 0; i < 32; ++i) s.push_back(static_cast<char>(i));
    return s;
  }();
  EXPECT_EQ(extend_portable(0, ascending.data(), ascending.size()),
            0x46dd794eu);
  for (std::size_t align = 0; align < 8; ++align) {
    for (std::size_t n = 0; n <= 300; ++n) {
      const std::uint32_t init =
          n % 3 == 0 ? 0 : static_cast<std::uint32_t>(rng());
      ASSERT_EQ(extend(init, buffer.data() + align, n),
                extend_portable(init, buffer.data() + align, n))
          << "align " << align << ", length " << n;
    }
  }
}

TEST(Crc32cTest, MaskRoundTripsAndIsNotIdentity) {
  const std::uint32_t crc = crc_of("foo");
  EXPECT_NE(mask(crc), crc);
  EXPECT_NE(mask(mask(crc)), crc);
  EXPECT_EQ(unmask(mask(crc)), crc);
  EXPECT_EQ(unmask(unmask(mask(mask(crc)))), crc);
  for (std::uint32_t v : {0u, 1u, 0xffffffffu, 0x80000000u, 0x8a9136aau}) {
    EXPECT_EQ(unmask(mask(v)), v);
  }
}

TEST(Crc32cTest, MaskMatchesFormula) {
  const std::uint32_t crc = 0x12345678u;
  EXPECT_EQ(mask(crc), ((crc >> 15) | (crc << 17)) + 0xa282ead8u);
}

}  // namespace
}  // namespace wfstore::crc32c
