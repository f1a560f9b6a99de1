// The defects the fuzz targets found (README "Fuzzing"), each pinned by a test
// named after the rule it proves. The inputs that found them are also in the
// corpora (tests/fuzz/<target>/crash-*), which fuzz_<target>_corpus replays.

#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "wfstore/errors.h"
#include "wfstore/event.h"
#include "wfstore/message.h"

#include "wfstore_internal/event_codec.h"

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

}  // namespace
}  // namespace wfstore
