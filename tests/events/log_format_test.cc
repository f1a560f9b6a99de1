// Tests of the log's record encodings and block framing
// (wfstore_internal/log_format.h).

#include "wfstore_internal/log_format.h"

#include <string>

#include <gtest/gtest.h>

#include "wfstore_internal/crc32c.h"

namespace wfstore::log {
namespace {

TEST(LogFormatTest, MaskedCrcMatchesRfc3720Vectors) {
  const std::string zeros(32, '\0');
  const std::string ones(32, '\xff');
  EXPECT_EQ(crc32c::value(zeros.data(), zeros.size()), 0x8a9136aau);
  EXPECT_EQ(crc32c::value(ones.data(), ones.size()), 0x62a8ab43u);
  const std::uint32_t crc = crc32c::value(ones.data(), ones.size());
  EXPECT_NE(crc32c::mask(crc), crc);
  EXPECT_EQ(crc32c::unmask(crc32c::mask(crc)), crc);
}

TEST(LogFormatTest, SegmentHeaderRoundTrips) {
  SegmentHeader h;
  h.store_uuid[0] = 7;
  h.store_uuid[15] = 9;
  h.first_lsn = 101;
  h.prev_first_lsn = 1;
  h.prev_last_lsn = 100;
  h.prev_last_hash[3] = 0xab;
  const std::string payload = encode_segment_header(h);
  ASSERT_EQ(payload.size(), kSegmentHeaderSize);
  EXPECT_EQ(payload.substr(0, 8), "WFSTLOG\n");
  std::string error;
  const auto back = decode_segment_header(payload, &error);
  ASSERT_TRUE(back) << error;
  EXPECT_EQ(back->store_uuid, h.store_uuid);
  EXPECT_EQ(back->first_lsn, 101u);
  EXPECT_EQ(back->prev_first_lsn, 1u);
  EXPECT_EQ(back->prev_last_lsn, 100u);
  EXPECT_EQ(back->prev_last_hash, h.prev_last_hash);
}

TEST(LogFormatTest, SegmentHeaderRejectsBadMagicVersionAndChain) {
  SegmentHeader h;
  h.first_lsn = 5;
  h.prev_last_lsn = 4;
  std::string error;
  std::string bad = encode_segment_header(h);
  bad[0] = 'X';
  EXPECT_FALSE(decode_segment_header(bad, &error));
  EXPECT_EQ(error, "bad segment header magic");
  h.version = 2;
  EXPECT_FALSE(decode_segment_header(encode_segment_header(h), &error));
  EXPECT_NE(error.find("version 2 is not supported"), std::string::npos)
      << error;
  h.version = kFormatVersion;
  h.prev_last_lsn = 3;
  EXPECT_FALSE(decode_segment_header(encode_segment_header(h), &error));
  EXPECT_NE(error.find("prev_last_lsn"), std::string::npos) << error;
}

TEST(LogFormatTest, CommitRoundTripsAndHashCoversEveryField) {
  Hash prev{};
  prev[0] = 1;
  Hash hash{};
  const std::string payload =
      encode_commit(10, 3, 1700000000000, 9, prev, "body!", &hash);
  ASSERT_EQ(payload.size(), kCommitFixedSize + 5);
  Commit c;
  std::string error;
  ASSERT_TRUE(decode_commit(payload, &c, &error)) << error;
  EXPECT_EQ(c.first_lsn, 10u);
  EXPECT_EQ(c.event_count, 3u);
  EXPECT_EQ(c.last_lsn(), 12u);
  EXPECT_EQ(c.timestamp_ms, 1700000000000);
  EXPECT_EQ(c.durable_lsn, 9u);
  EXPECT_EQ(c.prev_hash, prev);
  EXPECT_EQ(c.hash, hash);
  EXPECT_EQ(c.body, "body!");
  EXPECT_EQ(hash, commit_hash(10, 3, 1700000000000, 9, prev, "body!"));
  // Changing any byte outside the stored hash breaks it.
  for (std::size_t i = 0; i < payload.size(); ++i) {
    if (i >= kCommitHashOffset && i < kCommitFixedSize) continue;
    std::string altered = payload;
    altered[i] = static_cast<char>(altered[i] ^ 0x10);
    Commit d;
    EXPECT_FALSE(decode_commit(altered, &d, &error)) << "byte " << i;
  }
}

TEST(LogFormatTest, CommitRejectsDurableLsnAtOrAboveItself) {
  const std::string payload = encode_commit(4, 1, 0, 4, Hash{}, "");
  Commit c;
  std::string error;
  EXPECT_FALSE(decode_commit(payload, &c, &error));
  EXPECT_NE(error.find("durable_lsn 4"), std::string::npos) << error;
}

TEST(LogFormatTest, FramingFillsTrailersAndMatchesFramedSize) {
  for (std::size_t start : {std::size_t{0}, std::size_t{100}, kBlockSize - 7,
                            kBlockSize - 6, kBlockSize - 1}) {
    for (std::size_t len :
         {std::size_t{0}, std::size_t{1}, std::size_t{500},
          kBlockSize - kHeaderSize, kBlockSize, 3 * kBlockSize + 17}) {
      std::string out;
      std::size_t offset = start;
      frame_record(std::string(len, 'x'), &offset, &out);
      EXPECT_EQ(out.size(), framed_size(len, start)) << start << " " << len;
      EXPECT_EQ((start + out.size()) % kBlockSize, offset % kBlockSize);
      if (start > kBlockSize - kHeaderSize) {
        EXPECT_EQ(out.substr(0, kBlockSize - start),
                  std::string(kBlockSize - start, '\0'));
      }
    }
  }
}

TEST(LogFormatTest, FramingSplitsIntoFirstMiddleLast) {
  std::string out;
  std::size_t offset = 0;
  frame_record(std::string(2 * kBlockSize, 'y'), &offset, &out);
  ASSERT_GT(out.size(), 2 * kBlockSize + 6);
  EXPECT_EQ(out[6], static_cast<char>(RecordType::kFirst));
  EXPECT_EQ(out[kBlockSize + 6], static_cast<char>(RecordType::kMiddle));
  EXPECT_EQ(out[2 * kBlockSize + 6], static_cast<char>(RecordType::kLast));
}

TEST(LogFormatTest, SegmentNamesHaveTwentyDigits) {
  EXPECT_EQ(segment_file_name(1), "00000000000000000001.log");
  EXPECT_EQ(segment_file_name(0), "00000000000000000000.log");
  EXPECT_EQ(segment_file_name(1234567890), "00000000001234567890.log");
  EXPECT_EQ(segment_file_name(UINT64_MAX), "18446744073709551615.log");
  for (const std::uint64_t lsn :
       {std::uint64_t{9}, std::uint64_t{10}, std::uint64_t{99999}}) {
    EXPECT_EQ(parse_segment_file_name(segment_file_name(lsn)), lsn);
  }
  EXPECT_EQ(parse_segment_file_name("00000000000000000042.log"), 42u);
  EXPECT_EQ(parse_segment_file_name("18446744073709551615.log"), UINT64_MAX);
  EXPECT_FALSE(parse_segment_file_name("18446744073709551616.log"));
  EXPECT_FALSE(parse_segment_file_name("0000000000000000042.log"));
  EXPECT_FALSE(parse_segment_file_name("00000000000000000042.tmp"));
  EXPECT_FALSE(parse_segment_file_name("0000000000000000004x.log"));
}

TEST(LogFormatTest, HexOfHash) {
  Hash h{};
  h[0] = 0xab;
  h[31] = 0x01;
  EXPECT_EQ(to_hex(h), "ab" + std::string(60, '0') + "01");
}

}  // namespace
}  // namespace wfstore::log
