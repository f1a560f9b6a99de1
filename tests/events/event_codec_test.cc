// Tests of the event codec: round trips of every event type, golden files,
// damaged input (truncation, bit flips, hostile lengths), versioning and
// upcasting, and the JSON form of events.

#include "wfstore_internal/event_codec.h"

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <limits>
#include <new>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <string_view>
#include <type_traits>
#include <variant>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "wfstore/errors.h"
#include "wfstore/event.h"
#include "wfstore/limits.h"
#include "wfstore/model.h"

#include "events/catalogue/codec_primitives.h"
#include "events/catalogue/fields.h"
#include "events/catalogue/value_codec.h"
#include "tests/testutil/file_bytes.h"
#include "tests/testutil/probe_event.h"
#include "tests/testutil/sample_events.h"
#include "tests/testutil/sample_workflows.h"
#include "tests/testutil/temp_dir.h"

namespace {

// The largest single allocation since the last reset, to prove that hostile
// sizes never reach the allocator.
std::atomic<std::size_t> g_largest_allocation{0};

}  // namespace

// GCC sees malloc behind a replaced operator new and free behind the
// replaced delete, and warns about the (correct) pairing.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
void* operator new(std::size_t size) {
  std::size_t largest = g_largest_allocation.load(std::memory_order_relaxed);
  while (size > largest && !g_largest_allocation.compare_exchange_weak(
                               largest, size, std::memory_order_relaxed)) {
  }
  if (void* p = std::malloc(size == 0 ? 1 : size)) return p;
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
#pragma GCC diagnostic pop

namespace wfstore {
namespace {

using nlohmann::json;
using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::ThrowsMessage;
using testutil::kProbeType;
using testutil::payloads_for;
using testutil::probe_v1;
using testutil::probe_v1_to_v2;
using testutil::register_probe;

constexpr std::uint64_t kFirstLsn = 41;
constexpr std::int64_t kTimestamp = 1'717'171'800'123;
constexpr std::int64_t kInt64Min = std::numeric_limits<std::int64_t>::min();
constexpr std::int64_t kInt64Max = std::numeric_limits<std::int64_t>::max();
constexpr std::uint64_t kUint64Max = std::numeric_limits<std::uint64_t>::max();

AuditMetadata sample_audit() {
  return {"alice@example.com", "corr-7", "cause-3", "cli ✓"};
}

// A fixed workflow with every field set, independent of shared test helpers
// so that the golden files never depend on them.
Workflow golden_workflow() {
  Workflow w;
  w.id = "wf-golden";
  w.type = WorkflowType::kOrchestration;
  w.application = "payments-ü";
  w.name = "release ✓";
  w.status = WorkflowStatus::kRunning;
  w.context = Json(json{{"region", "eu"}, {"n", {1, 2.5, nullptr, "x"}}});
  w.trigger.type = "webhook";
  w.trigger.user = "bob";
  w.trigger.parameters = Json(json{{"force", true}});
  w.trigger.artifacts = Json(json::array({{{"name", "app.tar"}}}));
  w.trigger.payload = Json(json{{"ref", "refs/heads/main"}});
  w.start_time = 1'700'000'000'000;
  w.end_time = 1'700'000'000'999;
  w.start_time_expiry = kInt64Max;
  w.is_canceled = true;
  w.canceled_by = "carol";
  w.cancellation_reason = "superseded";
  w.paused = PausedDetails{"dave", 1'700'000'000'100, 1'700'000'000'200, 100};
  w.pipeline_config_id = "cfg-1";
  w.is_limit_concurrent = true;
  w.max_concurrent_executions = 3;
  w.keep_waiting_pipelines = true;
  w.origin = "api";

  StageExecution s;
  s.id = "wf-golden.deploy";
  s.execution_id = w.id;
  s.ref_id = "deploy";
  s.type = "deploy";
  s.name = "Deploy";
  s.status = WorkflowStatus::kSucceeded;
  s.context = Json(json{{"_output_reducers", {{"items", "append"}}}});
  s.outputs = Json(json{{"items", {1, 2}}, {"big", kUint64Max}});
  TaskExecution t;
  t.id = "wf-golden.deploy.t0";
  t.name = "rollout";
  t.implementing_class = "tasks.Rollout";
  t.status = WorkflowStatus::kFailedContinue;
  t.start_time = kInt64Min;
  t.end_time = 0;
  t.stage_start = true;
  t.stage_end = true;
  t.loop_start = true;
  t.loop_end = true;
  t.task_exception_details = Json(json{{"error", "timeout"}});
  t.version = 7;
  s.tasks = {t, t};
  s.tasks[1].id = "wf-golden.deploy.t1";
  s.requisite_stage_ref_ids = {"build", "test"};
  s.parent_stage_id = "wf-golden.parent";
  s.synthetic_stage_owner = SyntheticStageOwner::kStageAfter;
  s.start_time = 1;
  s.end_time = 2;
  s.start_time_expiry = 3;
  s.scheduled_time = 4;
  s.version = 5;
  s.join_type = JoinType::kNOfM;
  s.join_threshold = 2;
  s.split_type = SplitType::kOr;
  s.split_conditions = {{"a", "x > 1"}, {"b", "y"}};
  s.mi_config = MultiInstanceConfig{4, "items", false, true, "coll", 3, true};
  s.deferred_choice_group = "choice-1";
  s.milestone_ref_id = "m1";
  s.milestone_status = "SUCCEEDED";
  s.mutex_key = "deploy-lock";
  s.cancel_region = "region-a";
  w.stages = {s};
  return w;
}

std::string body_of(const EventPayload& payload) {
  return encode_commit_body(sample_audit(), {payload});
}

Event expected_event(const EventPayload& payload, std::size_t index = 0) {
  return Event{kFirstLsn + index,          kFirstLsn,      kTimestamp,
               event_workflow_id(payload), sample_audit(), payload};
}

DecodedCommit decode(std::string_view body, std::size_t count = 1) {
  return decode_commit_body(kFirstLsn, kTimestamp, count, body);
}

class EventCodecTest : public ::testing::Test {
 protected:
  void TearDown() override { reset_event_registry_for_testing(); }
};

TEST_F(EventCodecTest, SamplesCoverEveryEventType) {
  std::set<std::size_t> indexes;
  for (const EventPayload& p : payloads_for(golden_workflow())) {
    indexes.insert(p.index());
  }
  EXPECT_EQ(indexes.size(), std::variant_size_v<EventPayload>);
}

TEST_F(EventCodecTest, EveryTypeRoundTripsWithEveryFieldSet) {
  for (const EventPayload& payload :
       payloads_for(testutil::full_workflow("wf-full"))) {
    SCOPED_TRACE(event_type_name(event_type(payload)));
    const DecodedCommit commit = decode(body_of(payload));
    EXPECT_EQ(commit.audit, sample_audit());
    ASSERT_EQ(commit.events.size(), 1u);
    EXPECT_EQ(commit.events[0], expected_event(payload));
    EXPECT_EQ(commit.events[0].type(), event_type(payload));
    EXPECT_EQ(commit.events[0].schema_version(), 1u);
  }
}

TEST_F(EventCodecTest, OneCommitHoldsManyEventsWithConsecutiveLsns) {
  const std::vector<EventPayload> payloads =
      payloads_for(testutil::diamond_workflow("wf-d"));
  const std::string body = encode_commit_body(sample_audit(), payloads);
  const DecodedCommit commit = decode(body, payloads.size());
  ASSERT_EQ(commit.events.size(), payloads.size());
  for (std::size_t i = 0; i < payloads.size(); ++i) {
    EXPECT_EQ(commit.events[i], expected_event(payloads[i], i));
  }
  EXPECT_EQ(commit.events[0].workflow_id, "wf-d");
  EXPECT_EQ(commit.events[11].workflow_id, "");  // ProcessedMessagesPurged
}

TEST_F(EventCodecTest, EdgeValuesRoundTrip) {
  const std::string long_id(kMaxStringBytes, 'k');
  const std::string unicode = "naïve 日本語 🚀 \u00e9";
  json deep = json::array();
  for (std::size_t i = 1; i < kMaxJsonDepth; ++i) deep = json::array({deep});
  json large = json::object();
  for (int i = 0; i < 2000; ++i) {
    large["key" + std::to_string(i)] = std::string(200, 'v');
  }
  StageExecution stage;
  stage.id = long_id;
  stage.execution_id = long_id;
  stage.ref_id = unicode;
  stage.context = Json(deep);
  stage.outputs = Json(large);
  stage.start_time = kInt64Min;
  stage.end_time = kInt64Max;
  stage.version = kInt64Max;
  stage.join_threshold = kInt64Min;
  const std::vector<EventPayload> payloads = {
      StageAdded{stage},
      StageAdded{StageExecution{}},
      WorkflowStored{Workflow{}},
      WorkflowStatusUpdated{},
      MessageProcessed{long_id, std::nullopt, std::nullopt, kInt64Min},
      MessageProcessed{"", "", "", 0},
      ProcessedMessagesPurged{kInt64Min, 0},
      MessagePushed{0, "", "", Json(json::object()), kInt64Max, std::nullopt},
      MessagePushed{kUint64Max, unicode, unicode, Json(json::array()), 0,
                    kInt64Min},
      ClaimsPurged{},
      DeadLetterReplayed{kUint64Max, kUint64Max, long_id, kInt64Max},
      StageUpdated{},
  };
  for (const EventPayload& payload : payloads) {
    SCOPED_TRACE(event_type_name(event_type(payload)));
    const DecodedCommit commit = decode(body_of(payload));
    ASSERT_EQ(commit.events.size(), 1u);
    EXPECT_EQ(commit.events[0], expected_event(payload));
  }
  const DecodedCommit deep_commit = decode(body_of(payloads[0]));
  EXPECT_FALSE(std::get<StageAdded>(deep_commit.events[0].payload)
                   .stage.context.is_decoded());
}

TEST_F(EventCodecTest, EncodeRejectsEmptyCommits) {
  EXPECT_THAT([] { encode_commit_body(sample_audit(), {}); },
              ThrowsMessage<InvalidArgumentError>(HasSubstr("at least one")));
}

TEST_F(EventCodecTest, DecodeRejectsMoreEventsThanTheCommitLimit) {
  const std::size_t count = kMaxCommitEvents + 1;
  std::vector<std::string> events(
      count, encode_event_for_testing(EventType::kQueueCleared, 1, "",
                                      encode_payload(QueueCleared{})));
  const std::string body = encode_body_for_testing(sample_audit(), events);
  EXPECT_THAT([&] { decode(body, count); },
              ThrowsMessage<CorruptionError>(
                  HasSubstr("100001 events exceed the limit of 100000")));
}

// The golden files are the format release's commit bodies, one per event
// type (tests/data/golden/README.md). They are immutable:
// WFSTORE_WRITE_GOLDEN=1 only creates the file of an event type that has none
// yet (a new type); it never rewrites an existing file. A format change adds a
// new schema version with an upcaster and a new golden file, and the old file
// must still decode (through the upcaster) and re-encode to its own bytes.
TEST_F(EventCodecTest, GoldenFilesDecodeAndReencodeToTheSameBytes) {
  const std::filesystem::path dir =
      std::filesystem::path(WFSTORE_TEST_DATA_DIR) / "golden";
  const bool write = testutil::env_knob("WFSTORE_WRITE_GOLDEN", 0) != 0;
  for (const EventPayload& payload : payloads_for(golden_workflow())) {
    const std::string name(event_type_name(event_type(payload)));
    SCOPED_TRACE(name);
    const std::filesystem::path path = dir / (name + ".bin");
    if (write && !std::filesystem::exists(path)) {
      std::filesystem::create_directories(dir);
      std::ofstream(path, std::ios::binary | std::ios::trunc)
          << body_of(payload);
    }
    ASSERT_TRUE(std::filesystem::exists(path))
        << path << " is missing; run with WFSTORE_WRITE_GOLDEN=1 once to "
        << "create it (existing golden files are never rewritten)";
    const std::string golden = testutil::read_file_bytes(path);
    const DecodedCommit commit = decode(golden);
    ASSERT_EQ(commit.events.size(), 1u);
    EXPECT_EQ(commit.events[0], expected_event(payload));
    std::vector<EventPayload> decoded_payloads;
    for (const Event& event : commit.events) {
      decoded_payloads.push_back(event.payload);
    }
    EXPECT_EQ(encode_commit_body(commit.audit, decoded_payloads), golden);
  }
}

TEST_F(EventCodecTest, TruncationAtEveryOffsetIsCorruption) {
  for (const EventPayload& payload : payloads_for(golden_workflow())) {
    SCOPED_TRACE(event_type_name(event_type(payload)));
    const std::string body = body_of(payload);
    for (std::size_t n = 0; n < body.size(); ++n) {
      EXPECT_THROW(decode(std::string_view(body).substr(0, n)), CorruptionError)
          << "prefix of " << n << " bytes";
    }
  }
}

TEST_F(EventCodecTest, BitFlipsAreCorruptionOrADecodeNeverACrash) {
  std::mt19937 random(testutil::random_seed());
  const std::vector<EventPayload> payloads = payloads_for(golden_workflow());
  std::vector<std::string> bodies;
  for (const EventPayload& payload : payloads) {
    bodies.push_back(body_of(payload));
  }
  int corrupt = 0;
  int decoded = 0;
  for (int round = 0; round < 3000; ++round) {
    std::string body = bodies[std::uniform_int_distribution<std::size_t>(
        0, bodies.size() - 1)(random)];
    const int flips = std::uniform_int_distribution<int>(1, 3)(random);
    for (int i = 0; i < flips; ++i) {
      const std::size_t bit = std::uniform_int_distribution<std::size_t>(
          0, body.size() * 8 - 1)(random);
      body[bit / 8] = static_cast<char>(body[bit / 8] ^ (1 << (bit % 8)));
    }
    g_largest_allocation = 0;
    try {
      const DecodedCommit commit = decode(body);
      for (const Event& event : commit.events) {
        event_to_json(event).dump();
      }
      ++decoded;
    } catch (const CorruptionError&) {
      ++corrupt;
    }
    EXPECT_LE(g_largest_allocation.load(), 64 * body.size() + 4096)
        << "round " << round;
  }
  EXPECT_GT(corrupt, 0);
  EXPECT_GT(decoded, 0);
}

// The envelope of a commit with one event whose payload is `payload`.
std::string hand_made_body(EventType type, std::uint16_t version,
                           std::string_view workflow_id,
                           std::string_view payload) {
  return encode_body_for_testing(
      sample_audit(),
      {encode_event_for_testing(type, version, workflow_id, payload)});
}

// Expects decoding `body` to throw a CorruptionError whose message matches
// `message`.
void expect_corruption(std::string_view body,
                       const ::testing::Matcher<std::string>& message) {
  EXPECT_THAT([&] { decode(body); }, ThrowsMessage<CorruptionError>(message));
}

TEST_F(EventCodecTest, HugeDeclaredLengthsFailWithoutAllocating) {
  // A payload whose workflow_id declares 2^40 bytes.
  std::string payload;
  codec::Writer w(payload);
  w.varint(std::uint64_t{1} << 40);
  payload += "abc";
  g_largest_allocation = 0;
  expect_corruption(
      hand_made_body(EventType::kWorkflowDeleted, 1, "wf", payload),
      HasSubstr("length 1099511627776 exceeds the remaining 3 bytes"));
  EXPECT_LT(g_largest_allocation.load(), std::size_t{1} << 16);

  // An envelope workflow_id declaring 2^40 bytes.
  std::string event;
  codec::Writer e(event);
  e.u16(static_cast<std::uint16_t>(EventType::kWorkflowDeleted));
  e.u16(1);
  e.varint(std::uint64_t{1} << 40);
  std::string body = encode_body_for_testing(sample_audit(), {event.substr(1)});
  g_largest_allocation = 0;
  expect_corruption(body, HasSubstr("event.workflow_id"));
  EXPECT_LT(g_largest_allocation.load(), std::size_t{1} << 16);

  // A list declaring 2^40 items.
  std::string claims;
  codec::Writer c(claims);
  c.varint(std::uint64_t{1} << 40);
  expect_corruption(hand_made_body(EventType::kClaimsPurged, 1, "", claims),
                    HasSubstr("claims: count"));
}

TEST_F(EventCodecTest, MalformedEnvelopesAreCorruption) {
  const std::string good = body_of(WorkflowDeleted{"wf-1"});
  EXPECT_NO_THROW(decode(good));
  EXPECT_THAT([&] { decode(good, 2); },
              ThrowsMessage<CorruptionError>(HasSubstr("the log says 2")));
  expect_corruption(good + "x", HasSubstr("1 trailing bytes"));
  expect_corruption("", HasSubstr("empty"));
  std::string newer = good;
  newer[0] = 2;
  expect_corruption(newer, HasSubstr("newer than supported"));
  std::string big_endian = good;
  big_endian[1] = 0;
  expect_corruption(big_endian, HasSubstr("bad endian tag 0"));
  expect_corruption(
      hand_made_body(EventType::kWorkflowDeleted, 1, "wf-other",
                     encode_payload(WorkflowDeleted{"wf-1"})),
      HasSubstr("envelope workflow_id 'wf-other' differs from the "
                "payload's 'wf-1'"));
}

TEST_F(EventCodecTest, MalformedPayloadsAreCorruptionNamingEventAndField) {
  const std::string wf = "wf-1";
  auto payload = [](auto write) {
    std::string out;
    codec::Writer w(out);
    write(w);
    return out;
  };
  // Unknown status integer.
  expect_corruption(hand_made_body(EventType::kWorkflowStatusSet, 1, wf,
                                   payload([&](codec::Writer& w) {
                                     w.bytes(wf);
                                     w.u8(kWorkflowStatusCount);
                                     w.boolean(false);
                                     w.boolean(false);
                                   })),
                    AllOf(HasSubstr("event 0 (WorkflowStatusSet v1)"),
                          HasSubstr("status: unknown enum value 12")));
  // A boolean that is neither 0 nor 1.
  expect_corruption(hand_made_body(EventType::kWorkflowStatusSet, 1, wf,
                                   payload([&](codec::Writer& w) {
                                     w.bytes(wf);
                                     w.u8(1);
                                     w.u8(2);
                                   })),
                    HasSubstr("invalid boolean 2"));
  // Invalid UTF-8 in a string.
  expect_corruption(
      hand_made_body(EventType::kWorkflowDeleted, 1, "\xff",
                     payload([](codec::Writer& w) { w.bytes("\xff"); })),
      HasSubstr("invalid UTF-8"));
  // An overlong varint.
  expect_corruption(hand_made_body(EventType::kWorkflowDeleted, 1, "",
                                   payload([](codec::Writer& w) {
                                     w.u8(0x80);
                                     w.u8(0x00);
                                   })),
                    HasSubstr("overlong varint"));
  // Malformed CBOR in a JSON field.
  expect_corruption(hand_made_body(EventType::kMessagePushed, 1, "",
                                   payload([](codec::Writer& w) {
                                     w.u64(1);
                                     w.bytes("");
                                     w.bytes("StartStage");
                                     w.bytes("\xa1");
                                   })),
                    HasSubstr("malformed JSON encoding"));
  // requisite_stage_ref_ids out of order.
  StageExecution stage;
  stage.requisite_stage_ref_ids = {"a", "b"};
  std::string bytes = encode_payload(StageAdded{stage});
  const std::size_t at = bytes.find(
      "\x02\x01"
      "a\x01"
      "b");
  ASSERT_NE(at, std::string::npos);
  std::swap(bytes[at + 2], bytes[at + 4]);
  expect_corruption(hand_made_body(EventType::kStageAdded, 1, "", bytes),
                    HasSubstr("not sorted"));
}

TEST_F(EventCodecTest, UnknownTypesAndVersionsAreCorruption) {
  const std::string payload = encode_payload(WorkflowDeleted{"wf-1"});
  expect_corruption(
      hand_made_body(static_cast<EventType>(999), 1, "wf-1", payload),
      HasSubstr("unknown event type 999"));
  expect_corruption(
      hand_made_body(EventType::kWorkflowDeleted, 2, "wf-1", payload),
      HasSubstr("WorkflowDeleted: schema version 2 is newer than "
                "supported version 1"));
  expect_corruption(
      hand_made_body(EventType::kWorkflowDeleted, 0, "wf-1", payload),
      HasSubstr("invalid schema version 0"));
}

TEST_F(EventCodecTest, RegistryRejectsBadRegistrations) {
  auto identity = [](std::string_view p) { return std::string(p); };
  EXPECT_THAT(
      [&] { register_upcaster(EventType::kWorkflowDeleted, 1, identity); },
      ThrowsMessage<InvalidArgumentError>(HasSubstr("must lie in 1..0")));
  EXPECT_THROW(register_upcaster(static_cast<EventType>(999), 1, identity),
               InvalidArgumentError);
  auto decoder = [](std::string_view) -> EventPayload {
    return QueueCleared{};
  };
  EXPECT_THROW(
      register_event_type_for_testing(EventType::kQueueCleared, 2, decoder),
      InvalidArgumentError);
  register_event_type_for_testing(static_cast<EventType>(0xFF10), 3, decoder);
  EXPECT_THROW(register_event_type_for_testing(static_cast<EventType>(0xFF10),
                                               3, decoder),
               InvalidArgumentError);
  register_upcaster(static_cast<EventType>(0xFF10), 1, identity);
  EXPECT_THROW(register_upcaster(static_cast<EventType>(0xFF10), 1, identity),
               InvalidArgumentError);
  // 1 -> 2 is registered, 2 -> 3 is not.
  expect_corruption(
      hand_made_body(static_cast<EventType>(0xFF10), 1, "", "\x01"),
      AllOf(HasSubstr("event 0 (type 65296 v1)"),
            HasSubstr("no upcaster from schema version 2 to 3")));
}

class UpcasterTest : public ::testing::Test {
 protected:
  void TearDown() override { reset_event_registry_for_testing(); }
};

TEST_F(UpcasterTest, Item89LegacyStatusV1DecodesAsV2Status) {
  register_probe();
  const DecodedCommit commit = decode(
      hand_made_body(kProbeType, 1, "wf-89", probe_v1("wf-89", "RUNNING")));
  ASSERT_EQ(commit.events.size(), 1u);
  EXPECT_EQ(commit.events[0].payload,
            EventPayload(WorkflowStatusSet{"wf-89", WorkflowStatus::kRunning,
                                           std::nullopt, std::nullopt}));
  EXPECT_EQ(commit.events[0].workflow_id, "wf-89");
  EXPECT_EQ(commit.events[0].lsn, kFirstLsn);
  // A v2 probe decodes without the upcaster.
  const std::string v2 = probe_v1_to_v2(probe_v1("wf-89", "PAUSED"));
  EXPECT_EQ(
      std::get<WorkflowStatusSet>(
          decode(hand_made_body(kProbeType, 2, "wf-89", v2)).events[0].payload)
          .status,
      WorkflowStatus::kPaused);
  // A v1 payload the upcaster cannot convert is corruption, naming the event.
  expect_corruption(
      hand_made_body(kProbeType, 1, "wf-89", probe_v1("wf-89", "DONE")),
      AllOf(HasSubstr("event 0 (type 65281 v1)"),
            HasSubstr("legacy_status: unknown status 'DONE'")));
  expect_corruption(hand_made_body(kProbeType, 3, "wf-89", v2),
                    HasSubstr("newer than supported version 2"));
  reset_event_registry_for_testing();
  expect_corruption(
      hand_made_body(kProbeType, 1, "wf-89", probe_v1("wf-89", "RUNNING")),
      HasSubstr("unknown event type 65281"));
}

TEST_F(EventCodecTest, EventToJsonRendersEveryType) {
  const Workflow w = golden_workflow();
  const std::vector<EventPayload> payloads = payloads_for(w);
  const DecodedCommit commit =
      decode(encode_commit_body(sample_audit(), payloads), payloads.size());
  for (const Event& event : commit.events) {
    const json j = event_to_json(event);
    SCOPED_TRACE(j.dump());
    EXPECT_EQ(j.at("type"), event_type_name(event.type()));
    EXPECT_EQ(j.at("lsn"), event.lsn);
    EXPECT_EQ(j.at("commit_id"), kFirstLsn);
    EXPECT_EQ(j.at("timestamp"), kTimestamp);
    EXPECT_EQ(j.at("schema_version"), 1);
    EXPECT_EQ(j.at("workflow_id"), event.workflow_id);
    EXPECT_EQ(j.at("audit"), (json{{"actor", "alice@example.com"},
                                   {"correlation_id", "corr-7"},
                                   {"causation_id", "cause-3"},
                                   {"source", "cli ✓"}}));
    EXPECT_TRUE(j.at("payload").is_object());
  }
  auto payload_json = [&](EventType type) {
    for (const Event& event : commit.events) {
      if (event.type() == type) return event_to_json(event).at("payload");
    }
    return json();
  };
  const json stored = payload_json(EventType::kWorkflowStored).at("workflow");
  EXPECT_EQ(stored.at("type"), "ORCHESTRATION");
  EXPECT_EQ(stored.at("status"), "RUNNING");
  EXPECT_EQ(stored.at("context"), w.context.value());
  EXPECT_EQ(stored.at("start_time_expiry"), kInt64Max);
  EXPECT_EQ(stored.at("paused"), (json{{"paused_by", "dave"},
                                       {"pause_time", 1'700'000'000'100},
                                       {"resume_time", 1'700'000'000'200},
                                       {"paused_ms", 100}}));
  EXPECT_EQ(stored.size(), 20u);
  const json stage = stored.at("stages").at(0);
  EXPECT_EQ(stage.size(), 27u);
  EXPECT_EQ(stage.at("synthetic_stage_owner"), "STAGE_AFTER");
  EXPECT_EQ(stage.at("join_type"), "N_OF_M");
  EXPECT_EQ(stage.at("split_type"), "OR");
  EXPECT_EQ(stage.at("requisite_stage_ref_ids"), (json{"build", "test"}));
  EXPECT_EQ(stage.at("split_conditions"), (json{{"a", "x > 1"}, {"b", "y"}}));
  EXPECT_EQ(stage.at("mi_config").at("collection_from_context"), "coll");
  EXPECT_EQ(stage.at("outputs").at("big"), kUint64Max);
  const json task = stage.at("tasks").at(0);
  EXPECT_EQ(task.size(), 12u);
  EXPECT_EQ(task.at("status"), "FAILED_CONTINUE");
  EXPECT_EQ(task.at("start_time"), kInt64Min);
  EXPECT_EQ(payload_json(EventType::kWorkflowStatusUpdated),
            (json{{"workflow_id", "wf-golden"},
                  {"status", "TERMINAL"},
                  {"start_time", kInt64Min},
                  {"end_time", kInt64Max},
                  {"is_canceled", true},
                  {"canceled_by", "frank"},
                  {"cancellation_reason", "quota ✗"},
                  {"paused",
                   {{"paused_by", "erin"},
                    {"pause_time", 10},
                    {"resume_time", nullptr},
                    {"paused_ms", 0}}}}));
  EXPECT_EQ(
      payload_json(EventType::kMessagePushed),
      (json{{"delivery_id", kUint64Max},
            {"execution_id", "wf-golden"},
            {"message_type", "StartStage"},
            {"payload",
             {{"execution_id", "wf-golden"}, {"stage_id", "wf-golden.deploy"}}},
            {"deliver_at", 21},
            {"max_attempts", 5}}));
  EXPECT_EQ(
      payload_json(EventType::kClaimsPurged),
      (json{{"claims",
             {{{"execution_id", "wf-golden"}, {"claim_key", "mutex:deploy"}},
              {{"execution_id", "wf-other"}, {"claim_key", "choice:g"}}}}}));
  EXPECT_EQ(payload_json(EventType::kMessageProcessed),
            (json{{"message_id", "msg-1"},
                  {"handler_type", "StartStageHandler"},
                  {"execution_id", "wf-golden"},
                  {"processed_at", 17}}));
  EXPECT_EQ(payload_json(EventType::kQueueCleared), json::object());
  EXPECT_EQ(payload_json(EventType::kStageUpdated).at("tasks").size(), 2u);
}

// The names in a field table, in table order.
template <typename T>
std::vector<std::string> table_names() {
  std::vector<std::string> names;
  auto collect = [&](std::string_view name, const auto&) {
    names.emplace_back(name);
  };
  const T probe{};
  fields::visit_fields(collect, probe);
  return names;
}

// The member names of a JSON object, in its (sorted) order.
std::vector<std::string> member_names(const json& object) {
  std::vector<std::string> names;
  for (const auto& [name, value] : object.items()) names.push_back(name);
  return names;
}

std::vector<std::string> sorted(std::vector<std::string> names) {
  std::sort(names.begin(), names.end());
  return names;
}

// The JSON form of every payload and model struct has exactly the members
// that the type's field table names.
TEST_F(EventCodecTest, JsonMembersAreTheFieldTables) {
  const Workflow w = golden_workflow();
  for (const EventPayload& payload : payloads_for(w)) {
    std::visit(
        [&](const auto& p) {
          using P = std::decay_t<decltype(p)>;
          SCOPED_TRACE(event_type_name(P::kType));
          EXPECT_EQ(member_names(payload_to_json(payload)),
                    sorted(table_names<P>()));
        },
        payload);
  }
  const json stored =
      payload_to_json(EventPayload(WorkflowStored{w})).at("workflow");
  EXPECT_EQ(member_names(stored), sorted(table_names<Workflow>()));
  EXPECT_EQ(member_names(stored.at("trigger")), sorted(table_names<Trigger>()));
  EXPECT_EQ(member_names(stored.at("paused")),
            sorted(table_names<PausedDetails>()));
  const json stage = stored.at("stages").at(0);
  EXPECT_EQ(member_names(stage), sorted(table_names<StageExecution>()));
  EXPECT_EQ(member_names(stage.at("mi_config")),
            sorted(table_names<MultiInstanceConfig>()));
  EXPECT_EQ(member_names(stage.at("tasks").at(0)),
            sorted(table_names<TaskExecution>()));
  EXPECT_EQ(
      member_names(payload_to_json(EventPayload(ClaimsPurged{{{"wf", "key"}}}))
                       .at("claims")
                       .at(0)),
      sorted(table_names<ClaimId>()));
}

// A corruption message names a model struct's field as "<prefix>.<name>".
TEST_F(EventCodecTest, CodecFieldNamesCarryTheStructPrefix) {
  EXPECT_EQ(codec::field_names<TaskExecution>().front(), "task.id");
  EXPECT_EQ(codec::field_names<StageExecution>().back(), "stage.cancel_region");
  EXPECT_EQ(codec::field_names<AuditMetadata>().front(), "audit.actor");
  EXPECT_EQ(codec::field_names<WorkflowStatusSet>(),
            table_names<WorkflowStatusSet>());
  StageExecution stage;
  stage.tasks.emplace_back();
  std::string bytes = encode_payload(StageAdded{stage});
  // Cut inside the task: the message names the task's field.
  bytes.resize(bytes.size() - 40);
  expect_corruption(hand_made_body(EventType::kStageAdded, 1, "", bytes),
                    HasSubstr(": task."));
}

TEST_F(EventCodecTest, EventTypeNamesAndWorkflowIds) {
  EXPECT_EQ(event_type_name(EventType::kDeadLetterQueueCleared),
            "DeadLetterQueueCleared");
  EXPECT_EQ(event_type_name(static_cast<EventType>(999)), "Unknown");
  EXPECT_EQ(event_workflow_id(
                StageAdded{testutil::diamond_workflow("wf-x").stages[0]}),
            "wf-x");
  EXPECT_EQ(
      event_workflow_id(MessageProcessed{"m", std::nullopt, std::nullopt, 0}),
      "");
  EXPECT_EQ(event_workflow_id(MessageAcked{1, "wf-q"}), "wf-q");
  EXPECT_EQ(event_workflow_id(QueueCleared{}), "");
  EXPECT_EQ(current_schema_version(EventType::kStageUpdated), 1u);
  EXPECT_EQ(current_schema_version(static_cast<EventType>(999)), 0u);
}

}  // namespace
}  // namespace wfstore
