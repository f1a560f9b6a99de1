// event_json_text and append_commit_json_texts: byte for byte
// event_to_json(e).dump() for every event type, every event of a random store
// workload (transcoded from the log's commits), hostile strings and extreme
// integers, JSON values nlohmann would reorder; dump()'s error for a string
// that is not UTF-8; a damaged commit reported as decoding reports it; older
// and test-only types through the typed path.

#include "wfstore_internal/event_json_text.h"

#include <cstdint>
#include <limits>
#include <memory>
#include <set>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "wfstore/database.h"
#include "wfstore/errors.h"
#include "wfstore/event.h"
#include "wfstore/model.h"

#include "tests/store/store_workload.h"
#include "tests/testutil/sample_events.h"
#include "tests/testutil/sample_workflows.h"
#include "tests/testutil/temp_dir.h"
#include "wfstore_internal/committed_events.h"
#include "wfstore_internal/event_codec.h"

namespace wfstore {
namespace {

Event event_of(EventPayload payload, std::uint64_t lsn) {
  Event event;
  event.lsn = lsn;
  event.commit_id = lsn;
  event.timestamp_ms = 1'717'171'800'123;
  event.workflow_id = event_workflow_id(payload);
  event.audit = {"alice@example.com", "corr-7", "", "cli ✓"};
  event.payload = std::move(payload);
  return event;
}

std::vector<Event> sample_events(const Workflow& workflow) {
  std::vector<Event> events;
  std::uint64_t lsn = 40;
  for (EventPayload& payload : testutil::payloads_for(workflow)) {
    events.push_back(event_of(std::move(payload), ++lsn));
  }
  return events;
}

void expect_same_text(const Event& event) {
  const std::string expected = event_to_json(event).dump();
  EXPECT_EQ(event_json_text(event), expected)
      << "type " << event_type_name(event.type()) << ", lsn " << event.lsn;
}

const AuditMetadata kAudit{"alice@example.com", "corr-7", "", "cli ✓"};
constexpr std::uint64_t kFirstLsn = 41;
constexpr std::int64_t kTimestamp = 1'717'171'800'123;

// append_commit_json_texts of the commit of `payloads` (one body, first LSN
// kFirstLsn) checked against dump() of each decoded event; returns how many
// went through the typed path.
std::size_t expect_commit_matches_dump(const std::string& body,
                                       std::size_t count) {
  std::vector<EventJsonText> texts;
  const std::size_t typed = append_commit_json_texts(
      kFirstLsn, kTimestamp, count, body, 0, ~std::uint64_t{0}, texts);
  const DecodedCommit decoded =
      decode_commit_body(kFirstLsn, kTimestamp, count, body);
  EXPECT_EQ(texts.size(), decoded.events.size());
  for (std::size_t i = 0; i < texts.size() && i < decoded.events.size(); ++i) {
    const Event& event = decoded.events[i];
    EXPECT_EQ(texts[i].json, event_to_json(event).dump())
        << "type " << event_type_name(event.type()) << ", lsn " << event.lsn;
    EXPECT_EQ(texts[i].lsn, event.lsn);
    EXPECT_EQ(texts[i].type, event.type());
    EXPECT_EQ(texts[i].schema_version, event.schema_version());
    EXPECT_EQ(texts[i].workflow_id, event.workflow_id);
  }
  return typed;
}

std::size_t expect_commit_matches_dump(
    const std::vector<EventPayload>& payloads) {
  return expect_commit_matches_dump(encode_commit_body(kAudit, payloads),
                                    payloads.size());
}

TEST(EventJsonTextTest, EverySampleEventTypeTranscodesFromItsCommit) {
  for (const Workflow& w : {testutil::full_workflow("wf-full"),
                            testutil::diamond_workflow("wf-diamond")}) {
    const std::vector<EventPayload> payloads = testutil::payloads_for(w);
    // Every event type on the transcoding path, none on the typed one.
    EXPECT_EQ(expect_commit_matches_dump(payloads), 0u);
    // One event per commit too.
    for (const EventPayload& payload : payloads) {
      EXPECT_EQ(expect_commit_matches_dump({payload}), 0u);
    }
  }
}

TEST(EventJsonTextTest, CommitTextsKeepOnlyTheAskedRange) {
  const std::vector<EventPayload> payloads =
      testutil::payloads_for(testutil::full_workflow("wf-full"));
  const std::string body = encode_commit_body(kAudit, payloads);
  std::vector<EventJsonText> texts;
  append_commit_json_texts(kFirstLsn, kTimestamp, payloads.size(), body,
                           kFirstLsn + 2, kFirstLsn + 4, texts);
  ASSERT_EQ(texts.size(), 3u);
  EXPECT_EQ(texts.front().lsn, kFirstLsn + 2);
  EXPECT_EQ(texts.back().lsn, kFirstLsn + 4);
}

TEST(EventJsonTextTest, EverySampleEventTypeMatchesDump) {
  const std::vector<Event> events =
      sample_events(testutil::full_workflow("wf-full"));
  std::set<EventType> types;
  for (const Event& event : events) {
    expect_same_text(event);
    types.insert(event.type());
  }
  EXPECT_EQ(types.size(), std::variant_size_v<EventPayload>);
}

TEST(EventJsonTextTest, SparseWorkflowMatchesDump) {
  // The diamond workflow leaves most optionals unset: nulls, empty arrays.
  for (const Event& event :
       sample_events(testutil::diamond_workflow("wf-diamond"))) {
    expect_same_text(event);
  }
}

TEST(EventJsonTextTest, EveryWorkloadEventMatchesDump) {
  const std::uint32_t seed = testutil::random_seed();
  SCOPED_TRACE(seed);
  testutil::TempDir dir;
  auto db = Database::open(dir.path() / "store");
  testutil::run_workload(db->workflow_store(), seed, 1000, "a");
  const CommittedEvents read = read_committed_events(*db, 0, 1u << 20);
  ASSERT_GT(read.events.size(), 300u);
  std::set<EventType> types;
  for (const Event& event : read.events) {
    // Written before the tree is built (the JSON values still CBOR) and
    // after.
    const std::string text = event_json_text(event);
    EXPECT_EQ(text, event_to_json(event).dump()) << "lsn " << event.lsn;
    types.insert(event.type());
  }
  EXPECT_GT(types.size(), 5u);
  // The same events transcoded from the log's commits, none typed.
  const CommittedCommits commits = read_committed_commits(*db, 0, 1u << 20);
  std::vector<EventJsonText> texts;
  std::size_t typed = 0;
  for (const log::Commit& c : commits.commits) {
    typed +=
        append_commit_json_texts(c.first_lsn, c.timestamp_ms, c.event_count,
                                 c.body, 0, ~std::uint64_t{0}, texts);
  }
  EXPECT_EQ(typed, 0u);
  ASSERT_EQ(texts.size(), read.events.size());
  for (std::size_t i = 0; i < texts.size(); ++i) {
    EXPECT_EQ(texts[i].json, event_to_json(read.events[i]).dump())
        << "lsn " << texts[i].lsn;
  }
}

// Every control character, 0x7f, quotes, backslashes, multi-byte UTF-8 (two,
// three and four bytes) and the empty string.
std::vector<std::string> hostile_strings() {
  std::string controls;
  for (int c = 0; c < 0x20; ++c) controls.push_back(static_cast<char>(c));
  return {controls,
          "",
          std::string(1, '\0'),
          "\x7f",
          "\"",
          "\\",
          "\\\"\\\\\"",
          "/",
          "a\"b\\c\nd\te\rf\bg\fh\x01i\x1fj",
          "é ✓ 😀 \xef\xbf\xbf \xf4\x8f\xbf\xbf",
          "ends in two-byte é",
          "\x7f\x1f\x20"};
}

Workflow hostile_workflow(const std::string& s, int n) {
  Workflow w = testutil::full_workflow("wf-" + std::to_string(n) + s);
  w.name = s;
  w.application = s + "app";
  w.canceled_by = s;
  w.start_time = std::numeric_limits<std::int64_t>::min();
  w.end_time = std::numeric_limits<std::int64_t>::max();
  w.context.mutable_value()[s] = s;
  w.context.mutable_value()["n"] = std::numeric_limits<std::int64_t>::min();
  w.context.mutable_value()["u"] = std::numeric_limits<std::uint64_t>::max();
  w.trigger.user = s;
  for (StageExecution& stage : w.stages) {
    stage.name = s;
    stage.requisite_stage_ref_ids.insert(s);
    stage.requisite_stage_ref_ids.insert(s + "\x01");
    stage.split_conditions[s] = s;
    stage.split_conditions[s + "z"] = "";
    stage.version = std::numeric_limits<std::int64_t>::max();
    for (TaskExecution& task : stage.tasks) {
      task.name = s;
      task.implementing_class = s + s;
    }
  }
  return w;
}

TEST(EventJsonTextTest, HostileStringsAndExtremeIntegersMatchDump) {
  int n = 0;
  for (const std::string& s : hostile_strings()) {
    SCOPED_TRACE(nlohmann::json(s).dump());
    for (Event& event : sample_events(hostile_workflow(s, n++))) {
      event.audit = {s, s + "\\", "", "\x7f" + s};
      event.lsn = std::numeric_limits<std::uint64_t>::max();
      event.commit_id = std::numeric_limits<std::uint64_t>::max() - 1;
      event.timestamp_ms = std::numeric_limits<std::int64_t>::min();
      expect_same_text(event);
    }
    EXPECT_EQ(expect_commit_matches_dump(
                  testutil::payloads_for(hostile_workflow(s, n++))),
              0u);
  }
}

TEST(EventJsonTextTest, HostileStringMembersOfJsonValuesMatchDump) {
  Workflow w = testutil::full_workflow("wf-json");
  nlohmann::json& context = w.context.mutable_value();
  for (const std::string& s : hostile_strings()) {
    context["k" + s] = {{s, s}, {"list", {s, 1.5, -0.0, nullptr, true}}};
  }
  context["float"] = 0.1;
  context["big"] = 1e300;
  context["neg"] = -42;
  context["numbers"] = {0.5f,
                        1e-7,
                        -1e21,
                        123456789.0,
                        std::numeric_limits<double>::max(),
                        std::numeric_limits<double>::denorm_min(),
                        std::numeric_limits<std::int64_t>::min(),
                        std::numeric_limits<std::uint64_t>::max()};
  context["empty"] = {{"object", nlohmann::json::object()},
                      {"array", nlohmann::json::array()}};
  for (const Event& event : sample_events(w)) expect_same_text(event);
  EXPECT_EQ(expect_commit_matches_dump(testutil::payloads_for(w)), 0u);
}

// A JSON value whose stored CBOR has its object keys out of order or
// repeated (nlohmann never writes one, the CBOR checker admits it):
// nlohmann sorts them and keeps the last of equal keys, and so does the text,
// through the typed path. Half-precision numbers (nlohmann never writes
// them) are nlohmann's own reading.
TEST(EventJsonTextTest, UnusualCborMatchesDump) {
  const std::string unordered = "\xa2\x61\x62\x01\x61\x61\x02";   // {b:1,a:2}
  const std::string repeated = "\xa2\x61\x61\x01\x61\x61\x02";    // {a:1,a:2}
  const std::string nested = "\x81\xa2\x61\x62\xf5\x61\x61\xf6";  // [{b,a}]
  // [1.0, 2^-24, -4.0]
  constexpr char kHalf[] = "\x83\xf9\x3c\x00\xf9\x00\x01\xf9\xc4\x00";
  const std::string half(kHalf, sizeof kHalf - 1);
  for (const std::string& cbor : {unordered, repeated, nested, half}) {
    SCOPED_TRACE(nlohmann::json::from_cbor(cbor).dump());
    Workflow w = testutil::diamond_workflow("wf-cbor");
    w.context = Json::from_cbor(cbor);
    const std::vector<EventPayload> payloads = {WorkflowStored{w}};
    const std::size_t typed = expect_commit_matches_dump(payloads);
    EXPECT_EQ(typed, cbor == half ? 0u : 1u);
    expect_same_text(sample_events(w).front());
  }
}

// A damaged commit is reported as decode_commit_body reports it, and
// nothing is appended.
TEST(EventJsonTextTest, DamagedCommitFailsAsDecodingDoes) {
  const std::vector<EventPayload> payloads =
      testutil::payloads_for(testutil::full_workflow("wf-full"));
  const std::string body = encode_commit_body(kAudit, payloads);
  std::vector<std::string> damaged = {body.substr(0, body.size() - 1),
                                      body + "x", body};
  damaged.back()[body.size() / 2] = '\xff';
  for (const std::string& bad : damaged) {
    std::string expected;
    try {
      decode_commit_body(kFirstLsn, kTimestamp, payloads.size(), bad);
    } catch (const CorruptionError& e) {
      expected = e.what();
    }
    if (expected.empty()) continue;  // the flipped byte still decodes
    std::vector<EventJsonText> texts(1);
    EXPECT_THAT(
        [&] {
          append_commit_json_texts(kFirstLsn, kTimestamp, payloads.size(), bad,
                                   0, ~std::uint64_t{0}, texts);
        },
        ::testing::ThrowsMessage<CorruptionError>(expected));
    EXPECT_EQ(texts.size(), 1u);
  }
  // An event count other than the log's.
  std::vector<EventJsonText> texts;
  EXPECT_THROW(
      append_commit_json_texts(kFirstLsn, kTimestamp, payloads.size() + 1, body,
                               0, ~std::uint64_t{0}, texts),
      CorruptionError);
  EXPECT_TRUE(texts.empty());
}

// A test-only type decodes through the typed path (and reports the payload
// its decoder returns).
TEST(EventJsonTextTest, TestOnlyTypeGoesThroughTheTypedPath) {
  constexpr auto kType = static_cast<EventType>(0xFF21);
  register_event_type_for_testing(kType, 1, [](std::string_view) {
    return EventPayload(WorkflowDeleted{"wf-test"});
  });
  const std::string body = encode_body_for_testing(
      kAudit,
      {encode_event_for_testing(kType, 1, "wf-test", "\x01"),
       encode_event_for_testing(EventType::kWorkflowDeleted, 1, "wf-2",
                                encode_payload(WorkflowDeleted{"wf-2"}))});
  EXPECT_EQ(expect_commit_matches_dump(body, 2), 2u);
  reset_event_registry_for_testing();
}

TEST(EventJsonTextTest, InvalidUtf8FailsAsDumpDoes) {
  const char* const invalid[] = {"\x80",          // a stray continuation byte
                                 "ab\xc3",        // cut short
                                 "\xc0\xaf",      // overlong
                                 "\xed\xa0\x80",  // a surrogate
                                 "\xf4\x90\x80\x80",  // above U+10FFFF
                                 "\xe2\x9c",  // a three-byte sequence cut short
                                 "\xff"};
  for (const char* s : invalid) {
    SCOPED_TRACE(s);
    Event event = sample_events(testutil::diamond_workflow("wf-1")).front();
    event.audit.actor = s;
    std::string expected;
    try {
      event_to_json(event).dump();
      FAIL() << "dump() accepted it";
    } catch (const nlohmann::json::type_error& e) {
      expected = e.what();
    }
    try {
      event_json_text(event);
      ADD_FAILURE() << "no error; expected " << expected;
    } catch (const nlohmann::json::type_error& e) {
      EXPECT_EQ(e.what(), expected);
    }
  }
}

}  // namespace
}  // namespace wfstore
