// The log reader: iteration from any LSN, across segments, following a live
// writer, and the classification of damage it reports.

#include "wfstore_internal/log_reader.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/testutil/forwarding_file_system.h"
#include "tests/testutil/log_test_util.h"

namespace wfstore::log::testutil {
namespace {

using ::testing::HasSubstr;

class LogReaderTest : public LogFixture {};

TEST_F(LogReaderTest, ReadsFromAnyLsnAcrossSegments) {
  auto w = open_writer(1500);
  for (std::uint32_t i = 0; i < 30; ++i) add(*w, 150, 1 + i % 3);
  w->sync();
  ASSERT_GT(list_segments(*fs_, dir_).size(), 3u);
  const auto all = read_all();
  ASSERT_EQ(all.size(), 30u);
  for (std::uint64_t from = 1; from <= w->last_lsn(); ++from) {
    const auto tail = read_all(from);
    ASSERT_FALSE(tail.empty()) << from;
    EXPECT_LE(tail.front().first_lsn, from);  // the commit holding `from`
    EXPECT_GE(tail.front().last_lsn(), from);
    EXPECT_EQ(tail.back().last_lsn(), w->last_lsn());
    EXPECT_TRUE(damages_.empty());
  }
  EXPECT_TRUE(read_all(w->last_lsn() + 1).empty());
}

// A listing that hides one segment from its first call (as readdir may while
// the writer rolls: a segment created during the listing missed, a later one
// shown).
class MissingOnce final : public wfstore::testutil::ForwardingFileSystem {
 public:
  MissingOnce(std::shared_ptr<FileSystem> real, std::string hidden)
      : ForwardingFileSystem(std::move(real)), hidden_(std::move(hidden)) {}
  std::vector<std::string> list_dir(
      const std::filesystem::path& dir) const override {
    std::vector<std::string> names = real().list_dir(dir);
    if (lists_++ == 0) std::erase(names, hidden_);
    return names;
  }

 private:
  std::string hidden_;
  mutable int lists_ = 0;
};

// The reader lists again when a header names a segment between the one read
// before and this one, and reads it, with no damage reported; also when the
// later segment was still empty (its header not yet written) when the reader
// first met it and listed again meanwhile.
TEST_F(LogReaderTest, ASegmentAListingMissedIsReadOnceTheHeaderAfterItNamesIt) {
  auto w = open_writer(1500);
  for (std::uint32_t i = 0; i < 30; ++i) add(*w, 150);
  w->sync();
  w.reset();
  const std::vector<std::uint64_t> segments = list_segments(*fs_, dir_);
  ASSERT_GT(segments.size(), 4u);
  const auto real = fs_;
  for (const bool empty_at_first : {false, true}) {
    SCOPED_TRACE(empty_at_first);
    const std::filesystem::path later = segment_path(segments.back());
    const std::string later_bytes = read_file_bytes(later);
    if (empty_at_first) spit(later, "");
    fs_ = std::make_shared<MissingOnce>(
        real, segment_file_name(segments[segments.size() - 2]));
    damages_.clear();
    const std::unique_ptr<Reader> reader = open_reader();
    std::vector<std::uint64_t> lsns;
    Commit c;
    while (reader->next(&c)) lsns.push_back(c.first_lsn);
    if (empty_at_first) {
      spit(later, later_bytes);
      while (reader->next(&c)) lsns.push_back(c.first_lsn);
    }
    EXPECT_TRUE(damages_.empty()) << damages_.front().reason;
    ASSERT_EQ(lsns.size(), 30u);
    for (std::size_t i = 0; i < lsns.size(); ++i) EXPECT_EQ(lsns[i], i + 1);
    EXPECT_EQ(reader->segments_read(), segments.size());
  }
}

TEST_F(LogReaderTest, FollowsALiveWriterAcrossRolls) {
  auto w = open_writer(1000);
  const std::unique_ptr<Reader> reader = open_reader();
  Commit c;
  EXPECT_FALSE(reader->next(&c));
  add(*w, 300);
  ASSERT_TRUE(reader->next(&c));
  EXPECT_EQ(c.first_lsn, 1u);
  EXPECT_FALSE(reader->next(&c));
  for (int i = 0; i < 10; ++i) add(*w, 300);  // several rolls
  std::uint64_t expected = 2;
  while (reader->next(&c)) {
    EXPECT_EQ(c.first_lsn, expected);
    expected = c.last_lsn() + 1;
  }
  EXPECT_EQ(expected, 12u);
  EXPECT_TRUE(damages_.empty());
}

// The second record is written in pieces, as a reader may see a live writer
// mid-write: appended, or (the writer's way) over zeros written ahead, header
// first and then its payload's blocks one by one. Each state is the end so
// far, and the record reads once whole.
TEST_F(LogReaderTest, IncompleteTailOfTheLiveSegmentIsEndForNow) {
  SegmentBuilder b(store_id_, 1);
  b.commit(1, 0, 100);
  const std::size_t start = b.bytes().size();
  b.commit(1, 0, 3 * kBlockSize);
  const std::string rest = b.bytes().substr(start);
  std::filesystem::create_directories(dir_);
  for (const std::size_t ahead : {std::size_t{0}, rest.size() + kBlockSize}) {
    SCOPED_TRACE(ahead);
    spit(segment_path(1),
         b.bytes().substr(0, start) + std::string(ahead, '\0'));
    damages_.clear();
    const std::unique_ptr<Reader> reader = open_reader();
    Commit c;
    ASSERT_TRUE(reader->next(&c));
    EXPECT_EQ(c.first_lsn, 1u);
    EXPECT_FALSE(reader->next(&c));
    auto file = fs_->open_writable(segment_path(1));
    ASSERT_TRUE(file->supports_write_at());
    std::size_t done = 0;
    for (std::size_t cut : {std::size_t{3}, std::size_t{kHeaderSize + 9},
                            std::size_t{kBlockSize + 5},
                            std::size_t{2 * kBlockSize + 100}, rest.size()}) {
      file->write_at(start + done, rest.substr(done, cut - done));
      done = cut;
      if (cut < rest.size()) {
        EXPECT_FALSE(reader->next(&c)) << cut;
        EXPECT_TRUE(damages_.empty()) << cut;
      }
    }
    EXPECT_EQ(file->size(), start + std::max(ahead, rest.size()));
    ASSERT_TRUE(reader->next(&c));
    EXPECT_EQ(c.first_lsn, 2u);
    EXPECT_EQ(c.body, body_for(2, 3 * kBlockSize));
    EXPECT_FALSE(reader->next(&c));
    EXPECT_TRUE(damages_.empty());
  }
}

// Zeros followed by anything else are damage, not the end: a zeroed block
// inside the written records, or a damaged record with a record after it.
TEST_F(LogReaderTest, ZerosOrADamagedRecordBeforeOtherBytesAreDamage) {
  SegmentBuilder b(store_id_, 1);
  b.commit(1, 0, 100);
  const std::uint64_t second = b.commit(1, 0, 100);
  const std::size_t end = b.bytes().size();
  std::filesystem::create_directories(dir_);
  // The second record zeroed, the next block holding a non-zero byte.
  std::string zeroed = b.bytes();
  std::fill(zeroed.begin() + static_cast<std::ptrdiff_t>(second), zeroed.end(),
            '\0');
  zeroed.resize(kBlockSize + 10, '\0');
  zeroed.back() = 'x';
  spit(segment_path(1), zeroed);
  read_all();
  ASSERT_FALSE(damages_.empty());
  EXPECT_EQ(damages_[0].offset, second);
  EXPECT_EQ(damages_[0].reason, "zero-filled block");
  // The second record with a flipped byte: damage when any non-zero byte
  // follows it, the end so far when only zeros do (a record being written).
  std::string flipped = b.bytes();
  flipped[second + kHeaderSize + 5] ^= 0x20;
  spit(segment_path(1), flipped + std::string(100, '\0') + "x");
  read_all();
  ASSERT_FALSE(damages_.empty());
  EXPECT_EQ(damages_[0].reason, "checksum mismatch");
  spit(segment_path(1), flipped + std::string(100, '\0'));
  EXPECT_EQ(read_all().size(), 1u);
  EXPECT_TRUE(damages_.empty());
  // With nothing after it, a damaged last record stays damage.
  spit(segment_path(1), flipped);
  read_all();
  ASSERT_FALSE(damages_.empty());
  EXPECT_EQ(damages_[0].offset, second);
  EXPECT_EQ(end, flipped.size());
}

// A reader that found only zeros after a zeroed record (the end so far)
// remembers it; records then written after the zeroed one, in the zeros
// written ahead (the file's size unchanged), make it damage at the next read.
TEST_F(LogReaderTest, RecordsWrittenAfterZeroedBytesTurnTheEndIntoDamage) {
  SegmentBuilder b(store_id_, 1);
  b.commit(1, 0);
  const std::uint64_t zeroed = b.commit(1, 0);
  const std::uint64_t third = b.commit(1, 0);
  std::string image = b.bytes();
  std::fill(image.begin() + static_cast<std::ptrdiff_t>(zeroed), image.end(),
            '\0');
  image.resize(image.size() + 3 * kBlockSize, '\0');
  std::filesystem::create_directories(dir_);
  spit(segment_path(1), image);
  const std::unique_ptr<Reader> reader = open_reader();
  Commit c;
  ASSERT_TRUE(reader->next(&c));
  EXPECT_FALSE(reader->next(&c));
  EXPECT_FALSE(reader->next(&c));
  EXPECT_TRUE(damages_.empty());
  auto file = fs_->open_writable(segment_path(1));
  file->write_at(third, b.bytes().substr(third));
  EXPECT_EQ(file->size(), image.size());
  EXPECT_FALSE(reader->next(&c));  // lsn 3 follows a gap
  ASSERT_FALSE(damages_.empty());
  EXPECT_EQ(damages_[0].offset, zeroed);
  EXPECT_EQ(damages_[0].reason, "zero-filled block");
}

// The limit of the remembered end (SegmentReader::zeros_to_end): once a read
// found only zeros from a record's offset on, a later read at the same file
// size checks only the rest of that block and the next block's first header,
// where a live writer's next record would start. Zeroed damage longer than
// that, with a record written after it in the zeros ahead, reads as the end
// until the file grows; then it is damage. The middle assertion pins the limit
// as documented: a reader that sees the damage sooner should change it.
TEST_F(LogReaderTest, ZeroedDamageLongerThanABlockShowsOnceTheFileGrows) {
  SegmentBuilder b(store_id_, 1);
  b.commit(1, 0);
  const std::uint64_t zeroed = b.commit(1, 0, 2 * kBlockSize);
  const std::uint64_t third = b.commit(1, 0);
  ASSERT_GT(third, (zeroed / kBlockSize + 1) * kBlockSize + kHeaderSize);
  std::string image = b.bytes();
  std::fill(image.begin() + static_cast<std::ptrdiff_t>(zeroed), image.end(),
            '\0');
  image.resize(image.size() + kBlockSize, '\0');
  std::filesystem::create_directories(dir_);
  spit(segment_path(1), image);
  const std::unique_ptr<Reader> reader = open_reader();
  Commit c;
  ASSERT_TRUE(reader->next(&c));
  EXPECT_FALSE(reader->next(&c));
  auto file = fs_->open_writable(segment_path(1));
  file->write_at(third, b.bytes().substr(third));
  EXPECT_EQ(file->size(), image.size());
  EXPECT_FALSE(reader->next(&c));  // the end so far, at the same size
  EXPECT_TRUE(damages_.empty());
  file->append(std::string(kBlockSize, '\0'));  // the writer's next fill
  EXPECT_FALSE(reader->next(&c));
  ASSERT_FALSE(damages_.empty());
  EXPECT_EQ(damages_[0].offset, zeroed);
  EXPECT_EQ(damages_[0].reason, "zero-filled block");
}

TEST(NonzeroEndTest, FindsTheEndOfTheLastNonZeroByte) {
  wfstore::testutil::TempDir dir;
  const auto path = dir.path() / "f";
  const auto fs = posix_file_system();
  std::string bytes(200000, '\0');
  spit(path, bytes);
  EXPECT_EQ(nonzero_end(*fs->open_readable(path), 0), 0u);
  EXPECT_EQ(nonzero_end(*fs->open_readable(path), 500000), 500000u);
  bytes[7] = 'a';
  bytes[70000] = 'b';
  spit(path, bytes);
  EXPECT_EQ(nonzero_end(*fs->open_readable(path), 0), 70001u);
  EXPECT_EQ(nonzero_end(*fs->open_readable(path), 70001), 70001u);
  EXPECT_EQ(nonzero_end(*fs->open_readable(path), 8), 70001u);
  bytes.back() = 'c';
  spit(path, bytes);
  EXPECT_EQ(nonzero_end(*fs->open_readable(path), 3), bytes.size());
}

TEST_F(LogReaderTest,
       ChecksumMismatchIsReportedAndTheReaderResyncsAtTheNextBlock) {
  SegmentBuilder b(store_id_, 1);
  const std::uint64_t bad = b.commit(1, 0, 20000);
  b.commit(1, 0, 20000);  // FIRST in block 0, LAST in block 1
  b.commit(1, 0, 100);    // in block 1
  std::filesystem::create_directories(dir_);
  b.bytes()[bad + kHeaderSize + 3] ^= 1;
  b.write(segment_path(1));
  const auto commits = read_all();
  ASSERT_GE(damages_.size(), 2u);
  EXPECT_EQ(damages_[0].offset, bad);
  EXPECT_EQ(damages_[0].reason, "checksum mismatch");
  EXPECT_EQ(damages_[0].bytes, kBlockSize - bad);
  EXPECT_EQ(damages_[1].reason, "LAST fragment without FIRST");
  EXPECT_TRUE(
      commits.empty());  // lsn 2 was cut by the resync, so lsn 3 is a gap
  EXPECT_THAT(damages_.back().reason, HasSubstr("lsn gap"));
}

// A damaged record's payload that frames a valid record of its own: with
// resync within the block (salvage), the reader goes on where the damaged
// record's length says it ends, never inside it; without (recovery,
// readers), at the next block.
TEST_F(LogReaderTest, ResyncWithinTheBlockSkipsTheDamagedRecordWhole) {
  SegmentBuilder b(store_id_, 1);
  std::string inner;
  std::size_t inner_offset = 0;
  frame_physical(static_cast<std::uint8_t>(RecordType::kFull),
                 std::string(40, 'x'), &inner_offset, &inner);
  Hash hash{};
  const std::uint64_t damaged = b.raw(
      static_cast<std::uint8_t>(RecordType::kFull),
      encode_commit(1, 1, 1000, 0, hash, std::string(20, 'a') + inner, &hash));
  const std::uint64_t next =
      b.raw(static_cast<std::uint8_t>(RecordType::kFull),
            encode_commit(2, 1, 1000, 0, hash, body_for(2, 100), &hash));
  b.bytes()[damaged + kHeaderSize + 2] ^= 0x01;  // a fixed field
  std::filesystem::create_directories(dir_);
  b.write(segment_path(1));
  const std::unique_ptr<ReadableFile> file =
      fs_->open_readable(segment_path(1));
  for (const bool resync : {true, false}) {
    std::vector<Damage> damages;
    SegmentReader reader(*file, "seg",
                         [&](const Damage& d) { damages.push_back(d); });
    reader.set_resync_within_block(resync);
    std::vector<std::uint64_t> offsets;
    std::string payload;
    RecordType type = RecordType::kZero;
    std::uint64_t at = 0;
    while (reader.read(&payload, &type, &at)) offsets.push_back(at);
    ASSERT_EQ(damages.size(), 1u) << resync;
    EXPECT_EQ(damages[0].offset, damaged);
    EXPECT_EQ(damages[0].reason, "checksum mismatch");
    if (resync) {
      EXPECT_EQ(offsets, (std::vector<std::uint64_t>{0, next}));
      EXPECT_EQ(damages[0].bytes, next - damaged);
    } else {
      EXPECT_EQ(offsets, std::vector<std::uint64_t>{0});
    }
  }
}

}  // namespace
}  // namespace wfstore::log::testutil
