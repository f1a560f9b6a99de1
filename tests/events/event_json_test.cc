// event_from_json: the exact inverse of event_to_json for every event type,
// and a CorruptionError naming the member for malformed input.

#include <cstdint>
#include <limits>
#include <set>
#include <string>
#include <variant>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "wfstore/errors.h"
#include "wfstore/event.h"

#include "tests/testutil/sample_events.h"
#include "tests/testutil/sample_workflows.h"

namespace wfstore {
namespace {

using json = nlohmann::json;
using ::testing::HasSubstr;

std::vector<Event> sample_events() {
  std::vector<Event> events;
  std::uint64_t lsn = 40;
  for (const EventPayload& payload :
       testutil::payloads_for(testutil::full_workflow("wf-full"))) {
    Event event;
    event.lsn = ++lsn;
    event.commit_id = 41;
    event.timestamp_ms = 1'717'171'800'123;
    event.workflow_id = event_workflow_id(payload);
    event.audit = {"alice@example.com", "corr-7", "", "cli ✓"};
    event.payload = payload;
    events.push_back(std::move(event));
  }
  return events;
}

// The JSON of a workflow-stored event, to break member by member.
json stored_json() {
  for (const Event& event : sample_events()) {
    if (event.type() == EventType::kWorkflowStored) return event_to_json(event);
  }
  ADD_FAILURE() << "no WorkflowStored sample";
  return {};
}

void expect_malformed(const json& j, const std::string& fragment) {
  SCOPED_TRACE(j.dump());
  try {
    event_from_json(j);
    ADD_FAILURE() << "no error; expected one with " << fragment;
  } catch (const CorruptionError& e) {
    EXPECT_THAT(e.what(), HasSubstr(fragment));
  }
}

TEST(EventJsonTest, EveryTypeRoundTripsThroughText) {
  std::set<std::size_t> types;
  for (const Event& event : sample_events()) {
    SCOPED_TRACE(event_type_name(event.type()));
    const std::string text = event_to_json(event).dump();
    const Event back = event_from_json(json::parse(text));
    EXPECT_EQ(back, event);
    EXPECT_EQ(event_to_json(back).dump(), text);
    types.insert(event.payload.index());
  }
  EXPECT_EQ(types.size(), std::variant_size_v<EventPayload>);
}

TEST(EventJsonTest, ExtremeIntegersRoundTrip) {
  Event event = sample_events().front();
  auto& stored = std::get<WorkflowStored>(event.payload);
  stored.workflow.start_time_expiry = std::numeric_limits<std::int64_t>::max();
  stored.workflow.start_time = std::numeric_limits<std::int64_t>::min();
  event.lsn = std::numeric_limits<std::uint64_t>::max();
  EXPECT_EQ(event_from_json(json::parse(event_to_json(event).dump())), event);
}

TEST(EventJsonTest, MalformedEnvelopesNameTheMember) {
  json j = stored_json();
  expect_malformed(json::array(), "event: expected an object");
  json missing = j;
  missing.erase("lsn");
  expect_malformed(missing, "lsn: missing");
  json extra = j;
  extra["colour"] = "blue";
  expect_malformed(extra, "colour: unknown member");
  json negative = j;
  negative["lsn"] = -3;
  expect_malformed(negative, "lsn: expected a non-negative integer");
  json text_lsn = j;
  text_lsn["lsn"] = "42";
  expect_malformed(text_lsn, "lsn: expected a non-negative integer");
  json type = j;
  type["type"] = "WorkflowExploded";
  expect_malformed(type, "type: unknown event type 'WorkflowExploded'");
  json version = j;
  version["schema_version"] = 2;
  expect_malformed(version,
                   "schema_version: WorkflowStored has schema "
                   "version 1 in this build, not 2");
  json commit = j;
  commit["commit_id"] = j["lsn"].get<std::uint64_t>() + 1;
  expect_malformed(commit, "commit_id:");
  json owner = j;
  owner["workflow_id"] = "wf-other";
  expect_malformed(owner, "workflow_id: 'wf-other' differs");
  json audit = j;
  audit["audit"].erase("actor");
  expect_malformed(audit, "audit.actor: missing");
}

TEST(EventJsonTest, MalformedPayloadsNameTheMember) {
  const json j = stored_json();
  json status = j;
  status["payload"]["workflow"]["stages"][0]["status"] = "DONE";
  expect_malformed(status,
                   "payload.workflow.stages[0].status: "
                   "payload.workflow.stages[0].status: unknown status");
  json task = j;
  task["payload"]["workflow"]["stages"][0]["tasks"][0]["start_time"] = 1.5;
  expect_malformed(task,
                   "payload.workflow.stages[0].tasks[0].start_time: expected "
                   "an integer");
  json unknown = j;
  unknown["payload"]["workflow"]["colour"] = "blue";
  expect_malformed(unknown, "payload.workflow.colour: unknown member");
  json missing = j;
  missing["payload"]["workflow"].erase("trigger");
  expect_malformed(missing, "payload.workflow.trigger: missing");
  json flag = j;
  flag["payload"]["workflow"]["is_canceled"] = 0;
  expect_malformed(flag,
                   "payload.workflow.is_canceled: expected true or false");
  json stages = j;
  stages["payload"]["workflow"]["stages"] = json::object();
  expect_malformed(stages, "payload.workflow.stages: expected an array");
  json big = j;
  big["payload"]["workflow"]["start_time"] =
      static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()) + 1;
  expect_malformed(big, "payload.workflow.start_time: integer out of range");
  json deep = j;
  json nested = json::array();
  for (int i = 0; i < 1000; ++i) nested = json::array({nested});
  deep["payload"]["workflow"]["context"] = nested;
  expect_malformed(deep, "payload.workflow.context");
}

}  // namespace
}  // namespace wfstore
