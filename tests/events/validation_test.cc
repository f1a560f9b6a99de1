// Tests that every limit of README.md "Limits" and every model rule is
// rejected with an InvalidArgumentError naming the field, and that values at
// the limit are accepted.

#include <cmath>
#include <functional>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "wfstore/errors.h"
#include "wfstore/json.h"
#include "wfstore/limits.h"
#include "wfstore/model.h"

#include "tests/testutil/sample_workflows.h"

namespace wfstore {
namespace {

using nlohmann::json;
using ::testing::HasSubstr;
using ::testing::ThrowsMessage;

using StringSetter = std::function<void(Workflow&, const std::string&)>;
using JsonSetter = std::function<void(Workflow&, json)>;

// The diamond workflow "w" with one field changed.
Workflow with(const std::function<void(Workflow&)>& change) {
  Workflow w = testutil::diamond_workflow("w");
  change(w);
  return w;
}

void expect_rejected(const Workflow& w, const std::string& message) {
  EXPECT_THAT([&] { validate_workflow(w); },
              ThrowsMessage<InvalidArgumentError>(HasSubstr(message)));
}

// Every string field of the model, set through the diamond workflow (stage 0
// is "setup", stage 3 "deploy", stage 4 the synthetic "deploy_precheck").
std::vector<std::pair<std::string, StringSetter>> string_fields() {
  auto opt = [](std::optional<std::string> StageExecution::*member) {
    return [member](Workflow& w, const std::string& v) {
      w.stages[3].*member = v;
    };
  };
  auto mi = [](std::string MultiInstanceConfig::*member) {
    return [member](Workflow& w, const std::string& v) {
      w.stages[3].mi_config.emplace();
      (*w.stages[3].mi_config).*member = v;
    };
  };
  return {
      {"id",
       [](Workflow& w, const std::string& v) {
         w.id = v;
         for (StageExecution& s : w.stages) s.execution_id = v;
       }},
      {"application",
       [](Workflow& w, const std::string& v) { w.application = v; }},
      {"name", [](Workflow& w, const std::string& v) { w.name = v; }},
      {"trigger.type",
       [](Workflow& w, const std::string& v) { w.trigger.type = v; }},
      {"trigger.user",
       [](Workflow& w, const std::string& v) { w.trigger.user = v; }},
      {"canceled_by",
       [](Workflow& w, const std::string& v) { w.canceled_by = v; }},
      {"cancellation_reason",
       [](Workflow& w, const std::string& v) { w.cancellation_reason = v; }},
      {"paused.paused_by",
       [](Workflow& w, const std::string& v) {
         w.paused = PausedDetails{v, 1, std::nullopt, 0};
       }},
      {"pipeline_config_id",
       [](Workflow& w, const std::string& v) { w.pipeline_config_id = v; }},
      {"origin", [](Workflow& w, const std::string& v) { w.origin = v; }},
      {"stages[2].id",
       [](Workflow& w, const std::string& v) { w.stages[2].id = v; }},
      {"stages[2].ref_id",
       [](Workflow& w, const std::string& v) { w.stages[2].ref_id = v; }},
      {"stages[2].type",
       [](Workflow& w, const std::string& v) { w.stages[2].type = v; }},
      {"stages[2].name",
       [](Workflow& w, const std::string& v) { w.stages[2].name = v; }},
      {"stages[0].requisite_stage_ref_ids[0]",
       [](Workflow& w, const std::string& v) {
         w.stages[0].requisite_stage_ref_ids = {v};
       }},
      {"stages[4].parent_stage_id",
       [](Workflow& w, const std::string& v) {
         w.stages[4].parent_stage_id = v;
       }},
      {"stages[3].split_conditions[0].key",
       [](Workflow& w, const std::string& v) {
         w.stages[3].split_conditions = {{v, "True"}};
       }},
      {"stages[3].split_conditions[0].value",
       [](Workflow& w, const std::string& v) {
         w.stages[3].split_conditions = {{"next", v}};
       }},
      {"stages[3].mi_config.count_from_context",
       mi(&MultiInstanceConfig::count_from_context)},
      {"stages[3].mi_config.collection_from_context",
       mi(&MultiInstanceConfig::collection_from_context)},
      {"stages[3].deferred_choice_group",
       opt(&StageExecution::deferred_choice_group)},
      {"stages[3].milestone_ref_id", opt(&StageExecution::milestone_ref_id)},
      {"stages[3].milestone_status", opt(&StageExecution::milestone_status)},
      {"stages[3].mutex_key", opt(&StageExecution::mutex_key)},
      {"stages[3].cancel_region", opt(&StageExecution::cancel_region)},
      {"stages[1].tasks[1].id",
       [](Workflow& w, const std::string& v) { w.stages[1].tasks[1].id = v; }},
      {"stages[1].tasks[1].name",
       [](Workflow& w, const std::string& v) {
         w.stages[1].tasks[1].name = v;
       }},
      {"stages[1].tasks[1].implementing_class",
       [](Workflow& w, const std::string& v) {
         w.stages[1].tasks[1].implementing_class = v;
       }},
  };
}

// Every JSON field kind of the model.
std::vector<std::pair<std::string, JsonSetter>> json_fields() {
  return {
      {"context", [](Workflow& w, json v) { w.context = std::move(v); }},
      {"trigger.parameters",
       [](Workflow& w, json v) { w.trigger.parameters = std::move(v); }},
      {"trigger.artifacts",
       [](Workflow& w, json v) { w.trigger.artifacts = std::move(v); }},
      {"trigger.payload",
       [](Workflow& w, json v) { w.trigger.payload = std::move(v); }},
      {"stages[1].context",
       [](Workflow& w, json v) { w.stages[1].context = std::move(v); }},
      {"stages[1].outputs",
       [](Workflow& w, json v) { w.stages[1].outputs = std::move(v); }},
      {"stages[3].tasks[1].task_exception_details",
       [](Workflow& w, json v) {
         w.stages[3].tasks[1].task_exception_details = std::move(v);
       }},
  };
}

// Arrays nested `depth` deep ([] is depth 1).
json nested(std::size_t depth) {
  json value = json::array();
  for (std::size_t i = 1; i < depth; ++i) value = json::array({value});
  return value;
}

TEST(ValidationTest, SampleWorkflowsAreAccepted) {
  EXPECT_NO_THROW(validate_workflow(testutil::diamond_workflow("w")));
  EXPECT_NO_THROW(validate_workflow(testutil::full_workflow("w")));
}

TEST(ValidationTest, EmptyPrimaryKeysAreRejected) {
  expect_rejected(with([](Workflow& w) { w.id.clear(); }),
                  "id: must not be empty");
  expect_rejected(with([](Workflow& w) { w.stages[2].id.clear(); }),
                  "stages[2].id: must not be empty");
  expect_rejected(with([](Workflow& w) { w.stages[2].tasks[0].id.clear(); }),
                  "stages[2].tasks[0].id: must not be empty");
  expect_rejected(with([](Workflow& w) { w.stages[4].parent_stage_id = ""; }),
                  "stages[4].parent_stage_id: must not be empty");
  EXPECT_THAT([] { validate_key("", "message_id"); },
              ThrowsMessage<InvalidArgumentError>(
                  HasSubstr("message_id: must not be empty")));
  EXPECT_THAT([] { validate_task(TaskExecution{}); },
              ThrowsMessage<InvalidArgumentError>(HasSubstr("task.id")));
  StageExecution stage = testutil::diamond_workflow("w").stages[0];
  stage.execution_id.clear();
  EXPECT_THAT([&] { validate_stage(stage); },
              ThrowsMessage<InvalidArgumentError>(
                  HasSubstr("stage.execution_id: must not be empty")));
}

TEST(ValidationTest, EmptyNonKeyStringsAreAccepted) {
  // ref_id defaults to "" in the reference (NOT NULL, not a key).
  EXPECT_NO_THROW(validate_workflow(with([](Workflow& w) {
    w.stages[0].ref_id.clear();
    w.stages[0].name.clear();
    w.stages[0].type.clear();
    w.application.clear();
    w.name.clear();
    w.origin.clear();
  })));
}

TEST(ValidationTest, EveryStringFieldHasTheLengthLimit) {
  const std::string at_limit(kMaxStringBytes, 'k');
  const std::string over_limit(kMaxStringBytes + 1, 'k');
  // 1024 bytes made of 2-byte characters.
  std::string multibyte;
  while (multibyte.size() < kMaxStringBytes) multibyte += "é";
  for (const auto& entry : string_fields()) {
    const std::string& field = entry.first;
    const StringSetter& set = entry.second;
    SCOPED_TRACE(field);
    EXPECT_NO_THROW(
        validate_workflow(with([&](Workflow& w) { set(w, at_limit); })));
    EXPECT_NO_THROW(
        validate_workflow(with([&](Workflow& w) { set(w, multibyte); })));
    expect_rejected(with([&](Workflow& w) { set(w, over_limit); }),
                    field + ": string of 1025 bytes exceeds the limit of 1024");
    expect_rejected(with([&](Workflow& w) { set(w, multibyte + "é"); }),
                    field + ": string of 1026 bytes");
  }
}

TEST(ValidationTest, EveryStringFieldMustBeUtf8) {
  const std::vector<std::string> invalid = {
      "\xff",
      "abc\x80",
      "\xc0\xaf",          // lone continuation, overlong '/'
      "\xed\xa0\x80",      // surrogate U+D800
      "\xf4\x90\x80\x80",  // past U+10FFFF
      "\xe2\x82",          // truncated sequence
  };
  for (const auto& entry : string_fields()) {
    const std::string& field = entry.first;
    const StringSetter& set = entry.second;
    for (std::size_t i = 0; i < invalid.size(); ++i) {
      const std::string& bad = invalid[i];
      SCOPED_TRACE(field + " case " + std::to_string(i));
      expect_rejected(with([&](Workflow& w) { set(w, bad); }),
                      field + ": string is not valid UTF-8");
    }
  }
}

TEST(ValidationTest, ExecutionIdMustMatchTheWorkflow) {
  expect_rejected(with([](Workflow& w) { w.stages[1].execution_id = "x"; }),
                  "stages[1].execution_id: 'x' does not match workflow 'w'");
  const StageExecution stage = testutil::diamond_workflow("w").stages[0];
  EXPECT_NO_THROW(validate_stage(stage, "stage", "w"));
  EXPECT_NO_THROW(validate_stage(stage));
  EXPECT_THAT([&] { validate_stage(stage, "stage", "other"); },
              ThrowsMessage<InvalidArgumentError>(HasSubstr(
                  "stage.execution_id: 'w' does not match workflow 'other'")));
}

TEST(ValidationTest, JsonDepthLimit) {
  for (const auto& entry : json_fields()) {
    const std::string& field = entry.first;
    const JsonSetter& set = entry.second;
    SCOPED_TRACE(field);
    EXPECT_NO_THROW(validate_workflow(
        with([&](Workflow& w) { set(w, nested(kMaxJsonDepth)); })));
    expect_rejected(
        with([&](Workflow& w) { set(w, nested(kMaxJsonDepth + 1)); }),
        field + ": JSON nested deeper than 128 levels");
  }
  // Objects count as levels too.
  json deep_object = json::object();
  for (std::size_t i = 1; i <= kMaxJsonDepth; ++i) {
    deep_object = json{{"k", deep_object}};
  }
  expect_rejected(with([&](Workflow& w) { w.stages[2].outputs = deep_object; }),
                  "stages[2].outputs: JSON nested deeper");
}

TEST(ValidationTest, JsonSizeLimit) {
  // {"big": "x..."} whose CBOR encoding is `size` bytes: a string of n bytes
  // has a 5-byte header (4-byte length); the object adds 1 byte and the key
  // "big" 4. Built in place: these values are large.
  auto value_of_size = [](std::size_t size) {
    json value = json::object();
    value["big"] = std::string(size - 1 - 4 - 5, 'x');
    return value;
  };
  EXPECT_NO_THROW(validate_json(value_of_size(kMaxJsonBytes), "outputs"));
  for (const auto& entry : json_fields()) {
    const std::string& field = entry.first;
    const JsonSetter& set = entry.second;
    SCOPED_TRACE(field);
    expect_rejected(
        with([&](Workflow& w) { set(w, value_of_size(kMaxJsonBytes + 1)); }),
        field + ": JSON value of 16777217 bytes exceeds the limit");
  }
}

TEST(ValidationTest, JsonBinaryAndNonFiniteValuesAreRejected) {
  const std::vector<std::pair<json, std::string>> cases = {
      {json{{"blob", json::binary({1, 2, 3})}}, "binary values"},
      {json{{"x", std::nan("")}}, "NaN and infinity"},
      {json{{"x", std::numeric_limits<double>::infinity()}},
       "NaN and infinity"},
      {json{{"x", json::array({-std::numeric_limits<double>::infinity()})}},
       "NaN and infinity"},
      {json{{"x", "\xff"}}, "string is not valid UTF-8"},
      {json{{"\xc0\xaf", 1}}, "object key is not valid UTF-8"},
  };
  for (const auto& entry : json_fields()) {
    const std::string& field = entry.first;
    const JsonSetter& set = entry.second;
    for (const auto& bad : cases) {
      const std::string expected = fmt::format("{}: {}", field, bad.second);
      SCOPED_TRACE(expected);
      expect_rejected(with([&](Workflow& w) { set(w, bad.first); }), expected);
    }
  }
}

TEST(ValidationTest, UndecodedJsonIsNotDecodedByValidation) {
  Workflow w = testutil::diamond_workflow("w");
  w.stages[1].outputs = Json::from_cbor(w.stages[1].outputs.cbor());
  ASSERT_FALSE(w.stages[1].outputs.is_decoded());
  validate_workflow(w);
  EXPECT_FALSE(w.stages[1].outputs.is_decoded());
}

TEST(ValidationTest, NOfMJoinNeedsNonNegativeThreshold) {
  expect_rejected(with([](Workflow& w) {
                    w.stages[3].join_type = JoinType::kNOfM;
                    w.stages[3].join_threshold = -1;
                  }),
                  "stages[3].join_threshold: must not be negative");
  EXPECT_NO_THROW(validate_workflow(with([](Workflow& w) {
    w.stages[3].join_type = JoinType::kNOfM;
    w.stages[3].join_threshold = 0;
  })));
  // The reference constrains only N_OF_M joins.
  EXPECT_NO_THROW(validate_workflow(
      with([](Workflow& w) { w.stages[3].join_threshold = -1; })));
}

TEST(ValidationTest, OutOfRangeEnumsAreRejected) {
  expect_rejected(
      with([](Workflow& w) { w.status = static_cast<WorkflowStatus>(12); }),
      "status: unknown status 12");
  expect_rejected(
      with([](Workflow& w) { w.type = static_cast<WorkflowType>(2); }),
      "type: unknown workflow type 2");
  expect_rejected(with([](Workflow& w) {
                    w.stages[0].status = static_cast<WorkflowStatus>(200);
                  }),
                  "stages[0].status: unknown status 200");
  expect_rejected(with([](Workflow& w) {
                    w.stages[0].tasks[0].status =
                        static_cast<WorkflowStatus>(99);
                  }),
                  "stages[0].tasks[0].status");
  expect_rejected(with([](Workflow& w) {
                    w.stages[4].synthetic_stage_owner =
                        static_cast<SyntheticStageOwner>(2);
                  }),
                  "stages[4].synthetic_stage_owner");
  expect_rejected(with([](Workflow& w) {
                    w.stages[3].join_type = static_cast<JoinType>(5);
                  }),
                  "stages[3].join_type");
  expect_rejected(with([](Workflow& w) {
                    w.stages[3].split_type = static_cast<SplitType>(2);
                  }),
                  "stages[3].split_type");
}

TEST(ValidationTest, CriteriaPageSize) {
  WorkflowCriteria criteria;
  EXPECT_NO_THROW(validate_criteria(criteria));
  criteria.page_size = 0;
  EXPECT_NO_THROW(validate_criteria(criteria));
  criteria.page_size = -1;
  EXPECT_THAT([&] { validate_criteria(criteria); },
              ThrowsMessage<InvalidArgumentError>(
                  HasSubstr("page_size: must not be negative")));
  criteria.page_size = 5;
  criteria.statuses = {WorkflowStatus::kRunning,
                       static_cast<WorkflowStatus>(40)};
  EXPECT_THAT([&] { validate_criteria(criteria); },
              ThrowsMessage<InvalidArgumentError>(HasSubstr("statuses")));
}

TEST(ValidationTest, DirectStringChecks) {
  EXPECT_NO_THROW(validate_string("", "name"));
  EXPECT_NO_THROW(validate_key("k", "claim_key"));
  EXPECT_THAT(
      [] { validate_key(std::string(kMaxStringBytes + 1, 'a'), "claim_key"); },
      ThrowsMessage<InvalidArgumentError>(HasSubstr("claim_key")));
  EXPECT_THAT([] { validate_string("\xfe", "message_type"); },
              ThrowsMessage<InvalidArgumentError>(
                  HasSubstr("message_type: string is not valid UTF-8")));
}

// The name of an integer cast into an enum, which no encoder may be asked for
// once validation ran, is still a wfstore error rather than a raw
// std::out_of_range from a table lookup.
TEST(ValidationTest,
     EnumNamesOfIntegersOutsideTheEnumAreInvalidArgumentErrors) {
  EXPECT_THAT(
      [] { status_name(static_cast<WorkflowStatus>(50)); },
      ThrowsMessage<InvalidArgumentError>(HasSubstr("unknown status 50")));
  EXPECT_THAT(
      [] { is_complete(static_cast<WorkflowStatus>(kWorkflowStatusCount)); },
      ThrowsMessage<InvalidArgumentError>(HasSubstr("unknown status")));
  EXPECT_THAT(
      [] { synthetic_stage_owner_name(static_cast<SyntheticStageOwner>(7)); },
      ThrowsMessage<InvalidArgumentError>(
          HasSubstr("unknown synthetic stage owner 7")));
  EXPECT_THAT([] { workflow_type_name(static_cast<WorkflowType>(2)); },
              ThrowsMessage<InvalidArgumentError>(
                  HasSubstr("unknown workflow type 2")));
  EXPECT_THAT(
      [] { join_type_name(static_cast<JoinType>(kJoinTypeCount)); },
      ThrowsMessage<InvalidArgumentError>(HasSubstr("unknown join type")));
  EXPECT_THAT(
      [] { split_type_name(static_cast<SplitType>(255)); },
      ThrowsMessage<InvalidArgumentError>(HasSubstr("unknown split type 255")));
  // The last value of each enum has a name.
  EXPECT_EQ(status_name(static_cast<WorkflowStatus>(kWorkflowStatusCount - 1)),
            "BUFFERED");
  EXPECT_EQ(synthetic_stage_owner_name(static_cast<SyntheticStageOwner>(
                kSyntheticStageOwnerCount - 1)),
            "STAGE_AFTER");
  EXPECT_EQ(
      workflow_type_name(static_cast<WorkflowType>(kWorkflowTypeCount - 1)),
      "ORCHESTRATION");
  EXPECT_EQ(join_type_name(static_cast<JoinType>(kJoinTypeCount - 1)),
            "N_OF_M");
  EXPECT_EQ(split_type_name(static_cast<SplitType>(kSplitTypeCount - 1)), "OR");
}

// Every integer a one-byte enum field can hold is either one of the enum's
// values, which validation accepts, or rejected by validation naming the field.
TEST(ValidationTest,
     EveryByteCastIntoEveryModelEnumIsAcceptedOrRejectedByValidation) {
  for (int raw = 0; raw < 256; ++raw) {
    SCOPED_TRACE(raw);
    const auto check = [&](const std::function<void(Workflow&)>& change,
                           int count, const std::string& field) {
      const Workflow w = with(change);
      if (raw < count) {
        EXPECT_NO_THROW(validate_workflow(w));
      } else {
        expect_rejected(w, field + ": unknown");
      }
    };
    const auto status = static_cast<WorkflowStatus>(raw);
    check([&](Workflow& w) { w.status = status; }, kWorkflowStatusCount,
          "status");
    check([&](Workflow& w) { w.type = static_cast<WorkflowType>(raw); },
          kWorkflowTypeCount, "type");
    check([&](Workflow& w) { w.stages[1].status = status; },
          kWorkflowStatusCount, "stages[1].status");
    check([&](Workflow& w) { w.stages[1].tasks[0].status = status; },
          kWorkflowStatusCount, "stages[1].tasks[0].status");
    check(
        [&](Workflow& w) {
          w.stages[4].synthetic_stage_owner =
              static_cast<SyntheticStageOwner>(raw);
        },
        kSyntheticStageOwnerCount, "stages[4].synthetic_stage_owner");
    check(
        [&](Workflow& w) {
          w.stages[2].join_type = static_cast<JoinType>(raw);
          w.stages[2].join_threshold = 0;
        },
        kJoinTypeCount, "stages[2].join_type");
    check(
        [&](Workflow& w) {
          w.stages[2].split_type = static_cast<SplitType>(raw);
        },
        kSplitTypeCount, "stages[2].split_type");
  }
}

}  // namespace
}  // namespace wfstore
