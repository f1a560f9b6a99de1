// event_json_text: byte for byte event_to_json(e).dump() for every event type,
// every event of a random store workload, hostile strings and extreme
// integers; dump()'s error for a string that is not UTF-8; and the time per
// event of both on workload events (printed, not asserted).

#include "wfstore_internal/event_json_text.h"

#include <cstdint>
#include <limits>
#include <memory>
#include <set>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "wfstore/database.h"
#include "wfstore/event.h"
#include "wfstore/model.h"

#include "tests/store/store_workload.h"
#include "tests/testutil/sample_events.h"
#include "tests/testutil/sample_workflows.h"
#include "tests/testutil/temp_dir.h"
#include "wfstore_internal/committed_events.h"

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
  testutil::run_workload(db->workflow_store(), seed, 600, "a");
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
  for (const Event& event : sample_events(w)) expect_same_text(event);
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
