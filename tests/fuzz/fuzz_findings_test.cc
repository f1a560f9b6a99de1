// The defects the fuzz targets found (README "Fuzzing"), each pinned by a test
// named after the rule it proves. The inputs that found them are also in the
// corpora (tests/fuzz/<target>/crash-*), which fuzz_<target>_corpus replays.

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "wfstore/errors.h"
#include "wfstore/event.h"
#include "wfstore/file_system.h"
#include "wfstore/message.h"

#include "tests/testutil/temp_dir.h"
#include "wfstore_internal/event_codec.h"
#include "wfstore_internal/log_format.h"
#include "wfstore_internal/log_verify.h"
#include "wfstore_internal/log_writer.h"
#include "wfstore_internal/store_dir.h"

namespace wfstore {
namespace {

using ::testing::HasSubstr;

// nlohmann's parser reports a number that overflows a double as out_of_range,
// not parse_error (tests/fuzz/message/crash-number-overflow).
TEST(MessageWireTextFuzzFindingTest,
     NumberTooLargeForADoubleIsInvalidArgumentNamingThePayload) {
  for (const char* text : {R"({"retry_count": 1e400})", "-1e400",
                           R"({"jump_context": {"x": [1E999]}})"}) {
    SCOPED_TRACE(text);
    try {
      message_from_wire_text("JumpToStage", text);
      ADD_FAILURE() << "parsed";
    } catch (const InvalidArgumentError& e) {
      EXPECT_THAT(e.what(), HasSubstr("JumpToStage.payload: malformed JSON"));
      EXPECT_THAT(e.what(), HasSubstr("number overflow"));
    }
  }
}

// The encoder refuses a commit without events, so the decoder must not accept
// one (tests/fuzz/event/crash-zero-event-body).
TEST(EventCodecFuzzFindingTest, CommitBodyOfZeroEventsIsCorruption) {
  const std::string body = encode_body_for_testing(AuditMetadata{}, {});
  try {
    decode_commit_body(1, 0, 0, body);
    ADD_FAILURE() << "decoded";
  } catch (const CorruptionError& e) {
    EXPECT_THAT(e.what(), HasSubstr("event_count"));
    EXPECT_THAT(e.what(), HasSubstr("at least one event"));
  }
  EXPECT_THROW(encode_commit_body(AuditMetadata{}, {}), InvalidArgumentError);
}

// A log whose segment header starts near the end of the LSN space (any value
// decode_segment_header accepts) must not take a commit that decode_commit
// rejects: that record would make the next open fail with CorruptionError
// (tests/fuzz/log/crash-commit-past-the-last-lsn).
TEST(LogWriterFuzzFindingTest, RefusesACommitEndingPastTheLastLsnTheLogHolds) {
  testutil::TempDir dir;
  const std::filesystem::path log_dir = dir.path() / "log";
  std::filesystem::create_directories(log_dir);
  StoreId store;
  store.bytes[0] = 7;
  constexpr std::uint64_t kFirst = UINT64_MAX - 2;
  log::SegmentHeader header;
  header.store_uuid = store.bytes;
  header.first_lsn = kFirst;
  header.prev_last_lsn = kFirst - 1;
  std::string bytes;
  std::size_t block_offset = 0;
  log::frame_physical(
      static_cast<std::uint8_t>(log::RecordType::kSegmentHeader),
      log::encode_segment_header(header), &block_offset, &bytes);
  std::ofstream(log_dir / log::segment_file_name(kFirst), std::ios::binary)
      << bytes;

  const std::shared_ptr<FileSystem> fs = posix_file_system();
  {
    auto writer = log::Writer::open(fs, log_dir, store);
    writer->append(kFirst, 1, 1, "a");
    EXPECT_THROW(writer->append(kFirst + 1, 2, 1, "b"), InvalidArgumentError);
    writer->append(kFirst + 1, 1, 1, "c");  // LSN UINT64_MAX - 1, the last
    EXPECT_THROW(writer->append(UINT64_MAX, 1, 1, "d"), InvalidArgumentError);
    writer->sync();
    writer->close();
  }
  const log::VerifyReport report = log::verify_log(fs, log_dir, store);
  EXPECT_EQ(report.commits, 2U);
  EXPECT_EQ(report.last_lsn, UINT64_MAX - 1);
  EXPECT_EQ(log::Writer::open(fs, log_dir, store)->last_lsn(), UINT64_MAX - 1);
}

}  // namespace
}  // namespace wfstore
