// Tests of the queue message catalogue against the reference's own wire JSON
// (tests/data/fixtures/messages), plus parsing errors, created_at formatting
// and limits.

#include "wfstore/message.h"

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <optional>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <stdlib.h>
#include <time.h>

#include "wfstore/errors.h"
#include "wfstore/limits.h"
#include "wfstore/model.h"

namespace wfstore {
namespace {

using ::testing::HasSubstr;
using ::testing::ThrowsMessage;

using nlohmann::json;

// 2026-11-28T12:34:56.789 UTC.
constexpr std::int64_t kCreatedAtMs = 1795869296789;

// Python's naive datetime.isoformat(): microseconds only when non-zero.
bool is_iso_local(const std::string& text) {
  static const std::regex kIsoLocal(
      R"(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{6})?)");
  return std::regex_match(text, kIsoLocal);
}

struct Fixture {
  std::string type;
  json wire;
  json wire_defaults;
};

// Every fixture file, keyed by type name; checks each file is named after its
// type.
const std::map<std::string, Fixture>& fixtures() {
  static const std::map<std::string, Fixture> kLoaded = [] {
    std::map<std::string, Fixture> result;
    std::filesystem::path dir =
        std::filesystem::path(WFSTORE_TEST_DATA_DIR) / "fixtures" / "messages";
    for (const auto& entry : std::filesystem::directory_iterator(dir)) {
      if (entry.path().extension() != ".json") continue;
      std::ifstream in(entry.path());
      json file = json::parse(in);
      Fixture fixture{file.at("type").get<std::string>(), file.at("wire"),
                      file.at("wire_defaults")};
      EXPECT_EQ(entry.path().stem().string(), fixture.type);
      result.emplace(fixture.type, std::move(fixture));
    }
    return result;
  }();
  return kLoaded;
}

// `wire` without created_at, after checking created_at has Python's isoformat()
// shape.
json without_created_at(json wire) {
  EXPECT_TRUE(wire.contains("created_at")) << wire.dump();
  if (wire.contains("created_at")) {
    EXPECT_TRUE(wire["created_at"].is_string()) << wire.dump();
    if (wire["created_at"].is_string()) {
      EXPECT_TRUE(is_iso_local(wire["created_at"].get<std::string>()))
          << wire["created_at"];
    }
    wire.erase("created_at");
  }
  return wire;
}

template <std::size_t... I>
Message default_message(std::size_t index, std::index_sequence<I...>) {
  Message result;
  ((index == I ? (result = std::variant_alternative_t<I, Message>{}, 0) : 0),
   ...);
  return result;
}

// A default-constructed message of alternative `index`.
Message default_message(std::size_t index) {
  return default_message(
      index, std::make_index_sequence<std::variant_size_v<Message>>{});
}

// Sets TZ for the lifetime of the object and restores the previous value. The
// environment calls are not thread-safe; these tests run on one thread.
// NOLINTBEGIN(concurrency-mt-unsafe)
class ScopedTimeZone {
 public:
  explicit ScopedTimeZone(const char* tz) {
    if (const char* old = getenv("TZ")) old_ = old;
    setenv("TZ", tz, 1);
    tzset();
  }
  ~ScopedTimeZone() {
    if (old_) {
      setenv("TZ", old_->c_str(), 1);
    } else {
      unsetenv("TZ");
    }
    tzset();
  }
  ScopedTimeZone(const ScopedTimeZone&) = delete;
  ScopedTimeZone& operator=(const ScopedTimeZone&) = delete;

 private:
  std::optional<std::string> old_;
};
// NOLINTEND(concurrency-mt-unsafe)

std::string created_at(std::int64_t ms) {
  return message_to_wire(StartWorkflow{}, ms)
      .at("created_at")
      .get<std::string>();
}

TEST(MessageTest, FixturesCoverAllTypes) {
  std::set<std::string> fixture_types;
  for (const auto& [type, fixture] : fixtures()) fixture_types.insert(type);
  std::set<std::string> names;
  for (std::string_view name : message_type_names()) names.emplace(name);
  EXPECT_EQ(message_type_names().size(), 23u);
  EXPECT_EQ(names.size(), 23u);
  EXPECT_EQ(fixture_types, names);
}

TEST(MessageTest, TypeNamesFollowVariantOrder) {
  const auto& names = message_type_names();
  ASSERT_EQ(names.size(), std::variant_size_v<Message>);
  for (std::size_t i = 0; i < names.size(); ++i) {
    Message message = default_message(i);
    EXPECT_EQ(message.index(), i);
    EXPECT_EQ(message_type_name(message), names[i]);
  }
  EXPECT_EQ(message_type_name(CompleteTask{}), "CompleteTask");
  EXPECT_EQ(message_type_name(StartWaitingWorkflows{}),
            "StartWaitingWorkflows");
}

TEST(MessageTest, FixtureWireParsesAndSerializesBack) {
  for (const auto& [type, fixture] : fixtures()) {
    SCOPED_TRACE(type);
    for (const json* wire : {&fixture.wire, &fixture.wire_defaults}) {
      Message message = message_from_wire(type, *wire);
      EXPECT_EQ(message_type_name(message), type);
      EXPECT_FALSE(message_common(message).max_attempts.has_value());
      EXPECT_EQ(without_created_at(message_to_wire(message, kCreatedAtMs)),
                without_created_at(*wire));
    }
    EXPECT_NE(message_from_wire(type, fixture.wire),
              message_from_wire(type, fixture.wire_defaults));
  }
}

TEST(MessageTest, DefaultConstructedSerializesToWireDefaults) {
  for (std::size_t i = 0; i < std::variant_size_v<Message>; ++i) {
    Message message = default_message(i);
    std::string type(message_type_name(message));
    SCOPED_TRACE(type);
    ASSERT_EQ(fixtures().count(type), 1u);
    EXPECT_EQ(without_created_at(message_to_wire(message, kCreatedAtMs)),
              without_created_at(fixtures().at(type).wire_defaults));
    EXPECT_EQ(message_from_wire(type, fixtures().at(type).wire_defaults),
              message);
  }
}

TEST(MessageTest, ParsedFixturesHoldTheirValues) {
  auto complete = std::get<CompleteTask>(
      message_from_wire("CompleteTask", fixtures().at("CompleteTask").wire));
  EXPECT_EQ(complete.execution_id, "01JEXEC0000000000000000001");
  EXPECT_EQ(complete.execution_type, "ORCHESTRATION");
  EXPECT_EQ(complete.stage_id, "01JSTAGE000000000000000002");
  EXPECT_EQ(complete.task_id, "01JTASK0000000000000000003");
  EXPECT_EQ(complete.retry_count, 2);
  EXPECT_EQ(complete.status, WorkflowStatus::kTerminal);
  EXPECT_EQ(complete.original_status, WorkflowStatus::kRunning);
  EXPECT_EQ(complete.last_error, "boom: exit 1");
  EXPECT_EQ(complete.last_error_type, "RuntimeError");

  auto defaults = std::get<CompleteTask>(message_from_wire(
      "CompleteTask", fixtures().at("CompleteTask").wire_defaults));
  EXPECT_EQ(defaults.status, WorkflowStatus::kSucceeded);
  EXPECT_FALSE(defaults.original_status.has_value());
  EXPECT_FALSE(defaults.last_error.has_value());
  EXPECT_EQ(defaults.execution_type, "PIPELINE");

  auto parent = std::get<ContinueParentStage>(message_from_wire(
      "ContinueParentStage", fixtures().at("ContinueParentStage").wire));
  EXPECT_EQ(parent.phase, SyntheticStageOwner::kStageBefore);
  EXPECT_EQ(ContinueParentStage{}.phase, SyntheticStageOwner::kStageAfter);

  auto jump = std::get<JumpToStage>(
      message_from_wire("JumpToStage", fixtures().at("JumpToStage").wire));
  EXPECT_EQ(jump.target_stage_ref_id, "verify");
  EXPECT_EQ(jump.jump_context,
            json::parse(R"({"attempt": 2, "notes": ["a", "b"]})"));
  EXPECT_EQ(jump.jump_outputs, json::parse(R"({"ok": false})"));

  auto waiting = std::get<StartWaitingWorkflows>(message_from_wire(
      "StartWaitingWorkflows", fixtures().at("StartWaitingWorkflows").wire));
  EXPECT_EQ(waiting.pipeline_config_id, "deploy-prod");
  EXPECT_TRUE(waiting.purge_queue);

  auto signal = std::get<SignalStage>(
      message_from_wire("SignalStage", fixtures().at("SignalStage").wire));
  EXPECT_EQ(signal.signal_name, "approve");
  EXPECT_EQ(signal.signal_data, json::parse(R"({"by": "bob", "level": 3})"));
  EXPECT_TRUE(signal.persistent);
}

TEST(MessageTest, EveryTypeRoundTrips) {
  for (const auto& [type, fixture] : fixtures()) {
    SCOPED_TRACE(type);
    Message message = message_from_wire(type, fixture.wire);
    json wire = message_to_wire(message, kCreatedAtMs);
    EXPECT_EQ(message_from_wire(type, wire), message);
    EXPECT_EQ(message_from_wire_text(type, wire.dump()), message);
    EXPECT_EQ(message_from_wire_text(type, wire.dump(2)), message);
  }
}

TEST(MessageTest, AccessorsFollowTheHierarchy) {
  for (const auto& [type, fixture] : fixtures()) {
    SCOPED_TRACE(type);
    Message message = message_from_wire(type, fixture.wire);
    EXPECT_EQ(message_execution_id(message),
              fixture.wire.value("execution_id", ""));
    EXPECT_EQ(message_stage_id(message), fixture.wire.value("stage_id", ""));
    EXPECT_EQ(message_task_id(message), fixture.wire.value("task_id", ""));
  }
  EXPECT_EQ(message_task_id(
                message_from_wire("RunTask", fixtures().at("RunTask").wire)),
            "01JTASK0000000000000000003");
  EXPECT_EQ(message_execution_id(
                message_from_wire("StartWaitingWorkflows",
                                  fixtures().at("StartWaitingWorkflows").wire)),
            "");
  EXPECT_EQ(message_stage_id(message_from_wire(
                "CancelRegion", fixtures().at("CancelRegion").wire)),
            "");
}

TEST(MessageTest, CommonFieldsAreReachableGenerically) {
  Message message = RunTask{};
  message_common(message).max_attempts = 4;
  message_common(message).last_error = "e";
  EXPECT_EQ(std::get<RunTask>(message).max_attempts, 4);
  EXPECT_EQ(std::get<RunTask>(message).last_error, "e");
  const Message& view = message;
  EXPECT_EQ(message_common(view).max_attempts, 4);
}

TEST(MessageTest, FieldsMissingFromThePayloadTakeDefaults) {
  auto task = std::get<CompleteTask>(
      message_from_wire("CompleteTask", json::parse(R"({"task_id": "t"})")));
  CompleteTask expected;
  expected.task_id = "t";
  EXPECT_EQ(task, expected);
  EXPECT_EQ(message_from_wire("JumpToStage", json::object()),
            Message(JumpToStage{}));
}

TEST(MessageTest, IgnoredKeysAreIgnoredWhateverTheirValue) {
  json payload = json::parse(R"({
    "message_id": "17", "created_at": "not a time", "attempts": [1],
    "max_attempts": 3, "execution_id": "e"})");
  Message message = message_from_wire("StartWorkflow", payload);
  EXPECT_FALSE(message_common(message).max_attempts.has_value());
  EXPECT_EQ(message_execution_id(message), "e");
  json wire = message_to_wire(message, kCreatedAtMs);
  EXPECT_EQ(wire["max_attempts"], 10);
  EXPECT_EQ(wire["attempts"], 0);
  EXPECT_TRUE(wire["message_id"].is_null());
}

TEST(MessageTest, MaxAttemptsSetAndUnset) {
  RunTask task;
  EXPECT_FALSE(task.max_attempts.has_value());
  EXPECT_EQ(message_to_wire(task, kCreatedAtMs)["max_attempts"],
            kDefaultMessageMaxAttempts);
  task.max_attempts = 3;
  json wire = message_to_wire(task, kCreatedAtMs);
  EXPECT_EQ(wire["max_attempts"], 3);
  Message parsed = message_from_wire("RunTask", wire);
  EXPECT_FALSE(message_common(parsed).max_attempts.has_value());

  RunTask other = task;
  EXPECT_EQ(other, task);
  other.max_attempts = kDefaultMessageMaxAttempts;
  EXPECT_NE(other, task);
  other.max_attempts.reset();
  EXPECT_NE(other, task);
  EXPECT_NE(Message(other), Message(task));
}

TEST(MessageTest, EqualityComparesEveryFieldAndTheType) {
  JumpToStage a;
  a.jump_context["k"] = 1;
  JumpToStage b = a;
  EXPECT_EQ(a, b);
  b.jump_context["k"] = 2;
  EXPECT_NE(a, b);
  b = a;
  b.retry_count = 1;
  EXPECT_NE(a, b);
  b = a;
  b.last_error_type = "E";
  EXPECT_NE(a, b);

  CompleteTask c;
  CompleteTask d;
  d.original_status = WorkflowStatus::kSucceeded;
  EXPECT_NE(c, d);

  EXPECT_NE(Message(StartStage{}), Message(CompleteStage{}));
  EXPECT_EQ(Message(StartStage{}), Message(StartStage{}));
}

TEST(MessageTest, UnknownTypeNameIsRejected) {
  EXPECT_THAT([] { message_from_wire("StartWorkflows", json::object()); },
              ThrowsMessage<InvalidArgumentError>(HasSubstr("StartWorkflows")));
  EXPECT_THAT([] { message_from_wire("Message", json::object()); },
              ThrowsMessage<InvalidArgumentError>(HasSubstr("message type")));
  EXPECT_THAT([] { message_from_wire_text("StageLevel", "{}"); },
              ThrowsMessage<InvalidArgumentError>(HasSubstr("StageLevel")));
}

TEST(MessageTest, UnknownFieldIsRejected) {
  EXPECT_THAT(
      [] {
        message_from_wire(
            "StartWorkflow",
            json::parse(R"({"execution_id": "e", "stage_id": "s"})"));
      },
      ThrowsMessage<InvalidArgumentError>(HasSubstr("StartWorkflow.stage_id")));
  EXPECT_THAT(
      [] {
        message_from_wire("StartWaitingWorkflows",
                          json::parse(R"({"execution_id": ""})"));
      },
      ThrowsMessage<InvalidArgumentError>(
          HasSubstr("StartWaitingWorkflows.execution_id: unknown field")));
  EXPECT_THAT(
      [] {
        message_from_wire("RunTask", json::parse(R"({"type": "RunTask"})"));
      },
      ThrowsMessage<InvalidArgumentError>(HasSubstr("RunTask.type")));
}

TEST(MessageTest, WrongJsonTypeIsRejected) {
  struct Case {
    const char* type;
    const char* payload;
    const char* field;
  };
  const Case cases[] = {
      {"StartWorkflow", R"({"execution_id": 5})", "StartWorkflow.execution_id"},
      {"StartWorkflow", R"({"execution_id": null})",
       "StartWorkflow.execution_id"},
      {"StartWorkflow", R"({"last_error": 5})", "StartWorkflow.last_error"},
      {"StartStage", R"({"retry_count": "2"})", "StartStage.retry_count"},
      {"StartStage", R"({"retry_count": 2.5})", "StartStage.retry_count"},
      {"StartStage", R"({"retry_count": true})", "StartStage.retry_count"},
      {"StartStage", R"({"retry_count": 18446744073709551615})",
       "StartStage.retry_count"},
      {"CompleteWorkflow", R"({"retry_count": null})",
       "CompleteWorkflow.retry_count"},
      {"SignalStage", R"({"persistent": 1})", "SignalStage.persistent"},
      {"SignalStage", R"({"signal_data": []})", "SignalStage.signal_data"},
      {"JumpToStage", R"({"jump_context": "x"})", "JumpToStage.jump_context"},
      {"JumpToStage", R"({"jump_outputs": null})", "JumpToStage.jump_outputs"},
      {"AddMultiInstance", R"({"instance_context": 1})",
       "AddMultiInstance.instance_context"},
      {"CompleteTask", R"({"status": 4})", "CompleteTask.status"},
      {"CompleteTask", R"({"status": null})", "CompleteTask.status"},
      {"CompleteTask", R"({"original_status": 1})",
       "CompleteTask.original_status"},
      {"ContinueParentStage", R"({"phase": 0})", "ContinueParentStage.phase"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.payload);
    EXPECT_THAT([&] { message_from_wire(c.type, json::parse(c.payload)); },
                ThrowsMessage<InvalidArgumentError>(HasSubstr(c.field)));
  }
}

TEST(MessageTest, UnknownEnumNameIsRejected) {
  EXPECT_THAT(
      [] {
        message_from_wire("CompleteTask", json::parse(R"({"status": "DONE"})"));
      },
      ThrowsMessage<InvalidArgumentError>(
          HasSubstr("CompleteTask.status: unknown status 'DONE'")));
  EXPECT_THAT(
      [] {
        message_from_wire("CompleteTask",
                          json::parse(R"({"original_status": "succeeded"})"));
      },
      ThrowsMessage<InvalidArgumentError>(
          HasSubstr("CompleteTask.original_status")));
  EXPECT_THAT(
      [] {
        message_from_wire("ContinueParentStage",
                          json::parse(R"({"phase": "STAGE_DURING"})"));
      },
      ThrowsMessage<InvalidArgumentError>(
          HasSubstr("ContinueParentStage.phase")));
}

TEST(MessageTest, NonObjectPayloadIsRejected) {
  for (const char* text : {"[]", "null", "\"x\"", "3"}) {
    SCOPED_TRACE(text);
    EXPECT_THAT([&] { message_from_wire("StartTask", json::parse(text)); },
                ThrowsMessage<InvalidArgumentError>(
                    HasSubstr("StartTask: payload must be a JSON object")));
  }
}

TEST(MessageTest, MalformedJsonTextIsRejected) {
  for (const char* text :
       {"", "{", R"({"task_id": "t"} x)", R"({"a":NaN})", "{'task_id': 't'}"}) {
    SCOPED_TRACE(text);
    EXPECT_THAT([&] { message_from_wire_text("StartTask", text); },
                ThrowsMessage<InvalidArgumentError>(
                    HasSubstr("StartTask.payload: malformed JSON")));
  }
  EXPECT_THAT([] { message_from_wire_text("StartTask", "[1]"); },
              ThrowsMessage<InvalidArgumentError>(HasSubstr("StartTask")));
}

TEST(MessageTest, CreatedAtIsLocalIsoFormatWithMicroseconds) {
  ScopedTimeZone tz("UTC0");
  EXPECT_EQ(created_at(kCreatedAtMs), "2026-11-28T12:34:56.789000");
  EXPECT_EQ(created_at(kCreatedAtMs + 1), "2026-11-28T12:34:56.790000");
  EXPECT_EQ(created_at(kCreatedAtMs - 789), "2026-11-28T12:34:56");
  EXPECT_EQ(created_at(0), "1970-01-01T00:00:00");
  EXPECT_EQ(created_at(1), "1970-01-01T00:00:00.001000");
  EXPECT_EQ(created_at(-1), "1969-12-31T23:59:59.999000");
  EXPECT_EQ(created_at(-1000), "1969-12-31T23:59:59");
}

TEST(MessageTest, CreatedAtUsesTheLocalTimeZone) {
  {
    ScopedTimeZone tz("IST-5:30");
    EXPECT_EQ(created_at(kCreatedAtMs), "2026-11-28T18:04:56.789000");
  }
  {
    ScopedTimeZone tz("PST8");
    EXPECT_EQ(created_at(kCreatedAtMs - 789), "2026-11-28T04:34:56");
  }
}

TEST(MessageTest, CreatedAtOutsidePythonsRangeIsRejected) {
  ScopedTimeZone tz("UTC0");
  // 10000-01-01T00:00:00 UTC.
  constexpr std::int64_t kYear10000Ms = 253402300800000;
  EXPECT_EQ(created_at(kYear10000Ms - 1), "9999-12-31T23:59:59.999000");
  EXPECT_THAT([] { created_at(kYear10000Ms); },
              ThrowsMessage<InvalidArgumentError>(HasSubstr("created_at")));
  EXPECT_THAT([] { created_at(-62135596800001); },
              ThrowsMessage<InvalidArgumentError>(HasSubstr("created_at")));
  EXPECT_EQ(created_at(-62135596800000), "0001-01-01T00:00:00");
}

TEST(MessageTest, ValidFixturesPassValidation) {
  for (const auto& [type, fixture] : fixtures()) {
    SCOPED_TRACE(type);
    EXPECT_NO_THROW(validate_message(message_from_wire(type, fixture.wire)));
    EXPECT_NO_THROW(
        validate_message(message_from_wire(type, fixture.wire_defaults)));
  }
}

TEST(MessageTest, ValidateRejectsOverLongStrings) {
  RunTask task;
  task.task_id = std::string(kMaxStringBytes, 't');
  EXPECT_NO_THROW(validate_message(task));
  task.task_id.push_back('t');
  EXPECT_THAT(
      [&] { validate_message(task); },
      ThrowsMessage<InvalidArgumentError>(HasSubstr("RunTask.task_id")));

  CancelWorkflow cancel;
  cancel.reason = std::string(kMaxStringBytes + 1, 'r');
  EXPECT_THAT(
      [&] { validate_message(cancel); },
      ThrowsMessage<InvalidArgumentError>(HasSubstr("CancelWorkflow.reason")));

  StartWaitingWorkflows waiting;
  waiting.last_error = std::string(kMaxStringBytes + 1, 'e');
  EXPECT_THAT([&] { validate_message(waiting); },
              ThrowsMessage<InvalidArgumentError>(
                  HasSubstr("StartWaitingWorkflows.last_error")));
}

TEST(MessageTest, ValidateRejectsInvalidUtf8) {
  StartStage stage;
  stage.execution_id = "\xC3\x28";
  EXPECT_THAT([&] { validate_message(stage); },
              ThrowsMessage<InvalidArgumentError>(
                  HasSubstr("StartStage.execution_id")));
}

TEST(MessageTest, ValidateRejectsTooDeepDicts) {
  auto nested = [](std::size_t depth) {
    json value = json::object();
    for (std::size_t i = 1; i < depth; ++i) {
      json outer = json::object();
      outer["k"] = std::move(value);
      value = std::move(outer);
    }
    return value;
  };
  JumpToStage jump;
  // The wire object holding a dict is one level more.
  jump.jump_context = nested(kMaxJsonDepth - 1);
  EXPECT_NO_THROW(validate_message(jump));
  jump.jump_context = nested(kMaxJsonDepth + 1);
  EXPECT_THAT([&] { validate_message(jump); },
              ThrowsMessage<InvalidArgumentError>(
                  HasSubstr("JumpToStage.jump_context")));

  AddMultiInstance add;
  add.instance_context["x"] = std::numeric_limits<double>::quiet_NaN();
  EXPECT_THAT([&] { validate_message(add); },
              ThrowsMessage<InvalidArgumentError>(
                  HasSubstr("AddMultiInstance.instance_context")));

  SignalStage signal;
  signal.signal_data = json::array();
  EXPECT_THAT([&] { validate_message(signal); },
              ThrowsMessage<InvalidArgumentError>(
                  HasSubstr("SignalStage.signal_data")));
}

TEST(MessageTest, ValidateRejectsBadCounts) {
  StartWorkflow start;
  start.max_attempts = 0;
  EXPECT_THAT([&] { validate_message(start); },
              ThrowsMessage<InvalidArgumentError>(
                  HasSubstr("StartWorkflow.max_attempts")));
  start.max_attempts = 1;
  EXPECT_NO_THROW(validate_message(start));

  CompleteWorkflow complete;
  complete.retry_count = -1;
  EXPECT_THAT([&] { validate_message(complete); },
              ThrowsMessage<InvalidArgumentError>(
                  HasSubstr("CompleteWorkflow.retry_count")));
}

TEST(MessageTest, ValidateRejectsIntegersCastIntoEnumFieldsNamingTheField) {
  CompleteTask complete;
  complete.status = static_cast<WorkflowStatus>(50);
  EXPECT_THAT([&] { validate_message(complete); },
              ThrowsMessage<InvalidArgumentError>(
                  HasSubstr("CompleteTask.status: unknown status 50")));
  complete.status = WorkflowStatus::kTerminal;
  complete.original_status = static_cast<WorkflowStatus>(99);
  EXPECT_THAT([&] { validate_message(complete); },
              ThrowsMessage<InvalidArgumentError>(HasSubstr(
                  "CompleteTask.original_status: unknown status 99")));
  complete.original_status = static_cast<WorkflowStatus>(kWorkflowStatusCount);
  EXPECT_THAT([&] { validate_message(complete); },
              ThrowsMessage<InvalidArgumentError>(
                  HasSubstr("CompleteTask.original_status")));
  complete.original_status = WorkflowStatus::kBuffered;  // the last value
  EXPECT_NO_THROW(validate_message(complete));

  ContinueParentStage parent;
  parent.phase = static_cast<SyntheticStageOwner>(7);
  EXPECT_THAT(
      [&] { validate_message(parent); },
      ThrowsMessage<InvalidArgumentError>(HasSubstr(
          "ContinueParentStage.phase: unknown synthetic stage owner 7")));
  parent.phase = SyntheticStageOwner::kStageBefore;
  EXPECT_NO_THROW(validate_message(parent));
}

// message_to_wire() validates: an enum outside its enum was a raw
// std::out_of_range from the name lookup, and invalid UTF-8 or a non-object
// dict made a wire form that does not parse back.
TEST(MessageTest, MessageToWireRejectsInvalidMessagesWithInvalidArgumentError) {
  CompleteTask complete;
  complete.status = static_cast<WorkflowStatus>(50);
  EXPECT_THAT([&] { message_to_wire(complete, kCreatedAtMs); },
              ThrowsMessage<InvalidArgumentError>(
                  HasSubstr("CompleteTask.status: unknown status 50")));
  complete.status = WorkflowStatus::kSucceeded;
  complete.original_status = static_cast<WorkflowStatus>(99);
  EXPECT_THAT([&] { message_to_wire(complete, kCreatedAtMs); },
              ThrowsMessage<InvalidArgumentError>(
                  HasSubstr("CompleteTask.original_status")));
  ContinueParentStage parent;
  parent.phase = static_cast<SyntheticStageOwner>(7);
  EXPECT_THAT([&] { message_to_wire(parent, kCreatedAtMs); },
              ThrowsMessage<InvalidArgumentError>(
                  HasSubstr("ContinueParentStage.phase")));
  RunTask run;
  run.task_type = "\xED\xA0\x80";  // a surrogate
  EXPECT_THAT(
      [&] { message_to_wire(run, kCreatedAtMs); },
      ThrowsMessage<InvalidArgumentError>(HasSubstr("RunTask.task_type")));
  SignalStage signal;
  signal.signal_data = json::array();
  EXPECT_THAT([&] { message_to_wire(signal, kCreatedAtMs); },
              ThrowsMessage<InvalidArgumentError>(
                  HasSubstr("SignalStage.signal_data")));
}

// A message is stored as its wire object, which the log's decoder holds to the
// JSON limits as one value: a dict nested kMaxJsonDepth deep was accepted
// alone and made a MessagePushed record that no longer decoded.
TEST(MessageTest, DictsCountTheWireObjectTowardsTheJsonDepthLimit) {
  json value = json::object();
  for (std::size_t i = 1; i < kMaxJsonDepth; ++i) {
    value = json{{"k", std::move(value)}};
  }
  SignalStage signal;
  signal.signal_data = value;  // kMaxJsonDepth levels
  EXPECT_THAT([&] { validate_message(signal); },
              ThrowsMessage<InvalidArgumentError>(HasSubstr(fmt::format(
                  "SignalStage.signal_data: JSON nested deeper than {} levels",
                  kMaxJsonDepth - 1))));
  signal.signal_data = std::move(value["k"]);
  EXPECT_NO_THROW(validate_message(signal));
  EXPECT_EQ(message_from_wire("SignalStage",
                              json::from_cbor(json::to_cbor(
                                  message_to_wire(signal, kCreatedAtMs)))),
            Message(signal));
}

// All dict fields of a message share the one JSON size limit of its wire
// form: two dicts under the limit each, over it together, made a record that
// no longer decoded.
TEST(MessageTest, DictFieldsShareTheJsonSizeLimitOfTheWireForm) {
  const std::string half(kMaxJsonBytes / 2, 'x');
  JumpToStage jump;
  jump.jump_context = json{{"a", half}};
  EXPECT_NO_THROW(validate_message(jump));
  jump.jump_outputs = json{{"b", half}};
  EXPECT_THAT([&] { validate_message(jump); },
              ThrowsMessage<InvalidArgumentError>(
                  HasSubstr("JumpToStage: wire form of up to")));
  EXPECT_THAT([&] { message_to_wire(jump, kCreatedAtMs); },
              ThrowsMessage<InvalidArgumentError>(HasSubstr("JumpToStage")));
}

}  // namespace
}  // namespace wfstore
