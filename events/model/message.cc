// The message catalogue: one field table per type drives the wire form,
// parsing, validation and equality, so the four cannot disagree about which
// fields a type has.

#include "wfstore/message.h"

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

#include <fmt/format.h>
#include <time.h>

#include "wfstore/errors.h"
#include "wfstore/json.h"
#include "wfstore/limits.h"
#include "wfstore/model.h"

namespace wfstore {
namespace {

constexpr std::array<std::string_view, std::variant_size_v<Message>>
    kTypeNames = {
        "StartWorkflow",       "CompleteWorkflow",
        "CancelWorkflow",      "StartWaitingWorkflows",
        "StartStage",          "CompleteStage",
        "SkipStage",           "CancelStage",
        "RestartStage",        "ResumeStage",
        "ContinueParentStage", "JumpToStage",
        "SignalStage",         "CancelRegion",
        "AddMultiInstance",    "StartTask",
        "PauseTask",           "RunTask",
        "CompleteTask",        "InvalidWorkflowId",
        "InvalidStageId",      "InvalidTaskId",
        "InvalidTaskType",
};

// Keys the reference writes but pops before constructing a message.
constexpr std::array<std::string_view, 4> kIgnoredKeys = {
    "message_id", "created_at", "attempts", "max_attempts"};

// The wire fields of each level, as (name, pointer to member). `f` is called
// once per field in declaration order; pointers to base members apply to every
// derived type.
template <typename F>
void common_fields(F&& f) {
  f("last_error", &MessageCommon::last_error);
  f("last_error_type", &MessageCommon::last_error_type);
}

template <typename F>
void workflow_fields(F&& f) {
  common_fields(f);
  f("execution_type", &WorkflowLevel::execution_type);
  f("execution_id", &WorkflowLevel::execution_id);
}

template <typename F>
void stage_fields(F&& f) {
  workflow_fields(f);
  f("stage_id", &StageLevel::stage_id);
  f("retry_count", &StageLevel::retry_count);
}

template <typename F>
void task_fields(F&& f) {
  stage_fields(f);
  f("task_id", &TaskLevel::task_id);
}

// Calls f(name, member pointer) for every wire field of T.
template <typename T, typename F>
void for_each_field(F&& f) {
  if constexpr (std::is_same_v<T, StartWaitingWorkflows>) {
    common_fields(f);
    f("pipeline_config_id", &StartWaitingWorkflows::pipeline_config_id);
    f("purge_queue", &StartWaitingWorkflows::purge_queue);
  } else if constexpr (std::is_same_v<T, CompleteWorkflow>) {
    workflow_fields(f);
    f("retry_count", &CompleteWorkflow::retry_count);
  } else if constexpr (std::is_same_v<T, CancelWorkflow>) {
    workflow_fields(f);
    f("user", &CancelWorkflow::user);
    f("reason", &CancelWorkflow::reason);
  } else if constexpr (std::is_same_v<T, CancelRegion>) {
    workflow_fields(f);
    f("region", &CancelRegion::region);
  } else if constexpr (std::is_same_v<T, ContinueParentStage>) {
    stage_fields(f);
    f("phase", &ContinueParentStage::phase);
  } else if constexpr (std::is_same_v<T, JumpToStage>) {
    stage_fields(f);
    f("target_stage_ref_id", &JumpToStage::target_stage_ref_id);
    f("jump_context", &JumpToStage::jump_context);
    f("jump_outputs", &JumpToStage::jump_outputs);
  } else if constexpr (std::is_same_v<T, SignalStage>) {
    stage_fields(f);
    f("signal_name", &SignalStage::signal_name);
    f("signal_data", &SignalStage::signal_data);
    f("persistent", &SignalStage::persistent);
  } else if constexpr (std::is_same_v<T, AddMultiInstance>) {
    stage_fields(f);
    f("instance_context", &AddMultiInstance::instance_context);
  } else if constexpr (std::is_same_v<T, RunTask>) {
    task_fields(f);
    f("task_type", &RunTask::task_type);
  } else if constexpr (std::is_same_v<T, CompleteTask>) {
    task_fields(f);
    f("status", &CompleteTask::status);
    f("original_status", &CompleteTask::original_status);
  } else if constexpr (std::is_same_v<T, InvalidTaskType>) {
    task_fields(f);
    f("task_type_name", &InvalidTaskType::task_type_name);
  } else if constexpr (std::is_base_of_v<TaskLevel, T>) {
    task_fields(f);
  } else if constexpr (std::is_base_of_v<StageLevel, T>) {
    stage_fields(f);
  } else {
    static_assert(std::is_base_of_v<WorkflowLevel, T>);
    workflow_fields(f);
  }
}

// The index of alternative T in Message.
template <typename T, std::size_t I = 0>
constexpr std::size_t index_of() {
  if constexpr (std::is_same_v<T, std::variant_alternative_t<I, Message>>) {
    return I;
  } else {
    return index_of<T, I + 1>();
  }
}

template <typename T>
constexpr std::string_view type_name_of() {
  return kTypeNames[index_of<T>()];
}

nlohmann::json wire_value(const std::string& value) { return value; }
nlohmann::json wire_value(const std::optional<std::string>& value) {
  return value ? nlohmann::json(*value) : nlohmann::json(nullptr);
}
nlohmann::json wire_value(std::int64_t value) { return value; }
nlohmann::json wire_value(bool value) { return value; }
nlohmann::json wire_value(WorkflowStatus value) { return status_name(value); }
nlohmann::json wire_value(const std::optional<WorkflowStatus>& value) {
  return value ? wire_value(*value) : nlohmann::json(nullptr);
}
nlohmann::json wire_value(SyntheticStageOwner value) {
  return synthetic_stage_owner_name(value);
}
nlohmann::json wire_value(const nlohmann::json& value) { return value; }

[[noreturn]] void throw_wrong_type(std::string_view field,
                                   std::string_view expected,
                                   const nlohmann::json& value) {
  throw InvalidArgumentError(fmt::format("{}: expected {}, got {}", field,
                                         expected, value.type_name()));
}

const std::string& expect_string(const nlohmann::json& value,
                                 std::string_view field) {
  if (!value.is_string()) throw_wrong_type(field, "a string", value);
  return value.get_ref<const std::string&>();
}

void read_value(const nlohmann::json& value, std::string_view field,
                std::string& out) {
  out = expect_string(value, field);
}
void read_value(const nlohmann::json& value, std::string_view field,
                std::optional<std::string>& out) {
  if (value.is_null()) {
    out.reset();
  } else {
    out = expect_string(value, field);
  }
}
void read_value(const nlohmann::json& value, std::string_view field,
                std::int64_t& out) {
  if (value.is_number_unsigned()) {
    auto unsigned_value = value.get<std::uint64_t>();
    if (unsigned_value >
        static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
      throw InvalidArgumentError(
          fmt::format("{}: integer {} out of range", field, unsigned_value));
    }
    out = static_cast<std::int64_t>(unsigned_value);
  } else if (value.is_number_integer()) {
    out = value.get<std::int64_t>();
  } else {
    throw_wrong_type(field, "an integer", value);
  }
}
void read_value(const nlohmann::json& value, std::string_view field,
                bool& out) {
  if (!value.is_boolean()) throw_wrong_type(field, "a boolean", value);
  out = value.get<bool>();
}
void read_value(const nlohmann::json& value, std::string_view field,
                WorkflowStatus& out) {
  out = parse_status(expect_string(value, field), field);
}
void read_value(const nlohmann::json& value, std::string_view field,
                std::optional<WorkflowStatus>& out) {
  if (value.is_null()) {
    out.reset();
  } else {
    out = parse_status(expect_string(value, field), field);
  }
}
void read_value(const nlohmann::json& value, std::string_view field,
                SyntheticStageOwner& out) {
  out = parse_synthetic_stage_owner(expect_string(value, field), field);
}
void read_value(const nlohmann::json& value, std::string_view field,
                nlohmann::json& out) {
  if (!value.is_object()) throw_wrong_type(field, "an object", value);
  out = value;
}

template <typename T>
T parse_typed(std::string_view type_name, const nlohmann::json& payload) {
  if (!payload.is_object()) {
    throw InvalidArgumentError(
        fmt::format("{}: payload must be a JSON object, got {}", type_name,
                    payload.type_name()));
  }
  for (const auto& item : payload.items()) {
    const std::string& key = item.key();
    bool known = false;
    for (std::string_view ignored : kIgnoredKeys)
      known = known || key == ignored;
    for_each_field<T>(
        [&](std::string_view name, auto) { known = known || key == name; });
    if (!known) {
      throw InvalidArgumentError(
          fmt::format("{}.{}: unknown field", type_name, key));
    }
  }
  T message;
  for_each_field<T>([&](std::string_view name, auto member) {
    auto it = payload.find(name);
    if (it == payload.end()) return;
    read_value(*it, fmt::format("{}.{}", type_name, name), message.*member);
  });
  return message;
}

using Parser = Message (*)(std::string_view, const nlohmann::json&);

template <std::size_t... I>
constexpr std::array<Parser, sizeof...(I)> make_parsers(
    std::index_sequence<I...>) {
  return {
      [](std::string_view type_name, const nlohmann::json& payload) -> Message {
        return parse_typed<std::variant_alternative_t<I, Message>>(type_name,
                                                                   payload);
      }...};
}

constexpr auto kParsers =
    make_parsers(std::make_index_sequence<std::variant_size_v<Message>>{});

std::size_t type_index(std::string_view type_name) {
  for (std::size_t i = 0; i < kTypeNames.size(); ++i) {
    if (kTypeNames[i] == type_name) return i;
  }
  throw InvalidArgumentError(
      fmt::format("message_type: unknown message type '{}'", type_name));
}

template <typename T>
bool fields_equal(const T& a, const T& b) {
  bool equal = a.max_attempts == b.max_attempts;
  for_each_field<T>([&](std::string_view, auto member) {
    equal = equal && a.*member == b.*member;
  });
  return equal;
}

// Python's naive datetime.isoformat() of the local time at `ms`.
std::string local_iso_time(std::int64_t ms) {
  std::int64_t seconds = ms / 1000;
  std::int64_t millis = ms % 1000;
  if (millis < 0) {
    millis += 1000;
    seconds -= 1;
  }
  static_assert(sizeof(time_t) >= sizeof(std::int64_t));
  auto time = static_cast<time_t>(seconds);
  struct tm local {};
  if (localtime_r(&time, &local) == nullptr) {
    throw InvalidArgumentError(
        fmt::format("created_at: time {} ms out of range", ms));
  }
  long year = static_cast<long>(local.tm_year) + 1900;
  if (year < 1 || year > 9999) {
    throw InvalidArgumentError(
        fmt::format("created_at: year {} out of range", year));
  }
  std::string text = fmt::format("{:04d}-{:02d}-{:02d}T{:02d}:{:02d}:{:02d}",
                                 year, local.tm_mon + 1, local.tm_mday,
                                 local.tm_hour, local.tm_min, local.tm_sec);
  if (millis != 0) text += fmt::format(".{:06d}", millis * 1000);
  return text;
}

void validate_int_field(std::string_view type_name, std::string_view name,
                        std::int64_t value) {
  if (name == "retry_count" && value < 0) {
    throw InvalidArgumentError(fmt::format(
        "{}.{}: must not be negative, got {}", type_name, name, value));
  }
}

// An enum field may hold any integer after a cast; only the enum's own values
// have a wire name.
template <typename Enum>
void validate_enum_field(std::string_view type_name, std::string_view name,
                         Enum value) {
  constexpr int kCount = std::is_same_v<Enum, WorkflowStatus>
                             ? kWorkflowStatusCount
                             : kSyntheticStageOwnerCount;
  const int raw = static_cast<int>(value);
  if (raw < 0 || raw >= kCount) {
    throw InvalidArgumentError(fmt::format(
        "{}.{}: unknown {} {}", type_name, name,
        std::is_same_v<Enum, WorkflowStatus> ? "status"
                                             : "synthetic stage owner",
        raw));
  }
}

// Containers nested in `root`, itself included (0 for a scalar).
std::size_t json_depth(const nlohmann::json& root) {
  std::size_t deepest = 0;
  std::vector<std::pair<const nlohmann::json*, std::size_t>> stack{{&root, 0}};
  while (!stack.empty()) {
    const auto [value, above] = stack.back();
    stack.pop_back();
    if (!value->is_structured()) continue;
    deepest = std::max(deepest, above + 1);
    if (deepest > kMaxJsonDepth) break;
    for (const nlohmann::json& child : *value)
      stack.emplace_back(&child, above + 1);
  }
  return deepest;
}

// The stored form of a message is its wire object, one JSON value that the
// log's decoder holds to the JSON limits as a whole: each dict field sits one
// level inside it, and all of them share one size limit.
constexpr std::size_t kMaxDictDepth = kMaxJsonDepth - 1;
// Bytes of the wire object other than dict values: a bound on the CBOR of
// the map header, the ignored keys, created_at and the integers.
constexpr std::size_t kWireOverheadBytes = 256;
// CBOR of one field's name and a non-dict value, beyond the value's length.
constexpr std::size_t kFieldOverheadBytes = std::size_t{2} * 9;

template <typename T>
void validate_typed(const T& message) {
  std::string_view type_name = type_name_of<T>();
  std::size_t wire_bytes = kWireOverheadBytes;
  if (message.max_attempts && *message.max_attempts < 1) {
    throw InvalidArgumentError(
        fmt::format("{}.max_attempts: must be positive, got {}", type_name,
                    *message.max_attempts));
  }
  for_each_field<T>([&](std::string_view name, auto member) {
    const auto& value = message.*member;
    using V = std::decay_t<decltype(value)>;
    wire_bytes += name.size() + kFieldOverheadBytes;
    if constexpr (std::is_same_v<V, std::string>) {
      validate_string(value, fmt::format("{}.{}", type_name, name));
      wire_bytes += value.size();
    } else if constexpr (std::is_same_v<V, std::optional<std::string>>) {
      if (value) validate_string(*value, fmt::format("{}.{}", type_name, name));
      if (value) wire_bytes += value->size();
    } else if constexpr (std::is_same_v<V, std::int64_t>) {
      validate_int_field(type_name, name, value);
    } else if constexpr (std::is_same_v<V, bool>) {
      // Every bool value is valid.
    } else if constexpr (std::is_same_v<V, WorkflowStatus> ||
                         std::is_same_v<V, SyntheticStageOwner>) {
      validate_enum_field(type_name, name, value);
    } else if constexpr (std::is_same_v<V, std::optional<WorkflowStatus>>) {
      if (value) validate_enum_field(type_name, name, *value);
    } else if constexpr (std::is_same_v<V, nlohmann::json>) {
      std::string field = fmt::format("{}.{}", type_name, name);
      if (!value.is_object()) throw_wrong_type(field, "an object", value);
      const Json checked(value);
      validate_json(checked, field);
      if (json_depth(value) > kMaxDictDepth) {
        throw InvalidArgumentError(fmt::format(
            "{}: JSON nested deeper than {} levels (the message's wire "
            "object is one more)",
            field, kMaxDictDepth));
      }
      wire_bytes += checked.cbor().size();
    } else {
      // A field type without a rule here would reach the wire unchecked.
      static_assert(sizeof(V) == 0, "validate_typed: field type without rule");
    }
  });
  if (wire_bytes > kMaxJsonBytes) {
    throw InvalidArgumentError(
        fmt::format("{}: wire form of up to {} bytes exceeds the JSON limit of "
                    "{} bytes",
                    type_name, wire_bytes, kMaxJsonBytes));
  }
}

// The string member `Field` of `message` when its type derives from `Level`,
// else empty.
template <typename Level, std::string Level::*Field>
std::string_view level_field(const Message& message) {
  return std::visit(
      [](const auto& m) -> std::string_view {
        if constexpr (std::is_base_of_v<Level, std::decay_t<decltype(m)>>) {
          return static_cast<const Level&>(m).*Field;
        } else {
          return {};
        }
      },
      message);
}

}  // namespace

std::string_view message_type_name(const Message& message) {
  return kTypeNames[message.index()];
}

const std::vector<std::string_view>& message_type_names() {
  static const std::vector<std::string_view> kNames(kTypeNames.begin(),
                                                    kTypeNames.end());
  return kNames;
}

const MessageCommon& message_common(const Message& message) {
  return std::visit([](const auto& m) -> const MessageCommon& { return m; },
                    message);
}

MessageCommon& message_common(Message& message) {
  return std::visit([](auto& m) -> MessageCommon& { return m; }, message);
}

std::string_view message_execution_id(const Message& message) {
  return level_field<WorkflowLevel, &WorkflowLevel::execution_id>(message);
}

std::string_view message_stage_id(const Message& message) {
  return level_field<StageLevel, &StageLevel::stage_id>(message);
}

std::string_view message_task_id(const Message& message) {
  return level_field<TaskLevel, &TaskLevel::task_id>(message);
}

nlohmann::json message_to_wire(const Message& message,
                               std::int64_t created_at_ms) {
  // The wire form is only ever made of a valid message, so that whatever is
  // written parses back (message_from_wire) and every enum has a name.
  validate_message(message);
  nlohmann::json wire = nlohmann::json::object();
  std::visit(
      [&](const auto& m) {
        using T = std::decay_t<decltype(m)>;
        for_each_field<T>([&](std::string_view name, auto member) {
          wire[std::string(name)] = wire_value(m.*member);
        });
        wire["max_attempts"] =
            m.max_attempts.value_or(kDefaultMessageMaxAttempts);
      },
      message);
  wire["attempts"] = 0;
  wire["message_id"] = nullptr;
  wire["created_at"] = local_iso_time(created_at_ms);
  return wire;
}

Message message_from_wire(std::string_view type_name,
                          const nlohmann::json& payload) {
  return kParsers[type_index(type_name)](type_name, payload);
}

Message message_from_wire_text(std::string_view type_name,
                               std::string_view json_text) {
  std::size_t index = type_index(type_name);
  nlohmann::json payload;
  try {
    payload = nlohmann::json::parse(json_text);
  } catch (const nlohmann::json::exception& e) {
    // parse_error, and out_of_range for a number too large for a double.
    throw InvalidArgumentError(
        fmt::format("{}.payload: malformed JSON: {}", type_name, e.what()));
  }
  return kParsers[index](type_name, payload);
}

void validate_message(const Message& message) {
  std::visit([](const auto& m) { validate_typed(m); }, message);
}

bool operator==(const StartWorkflow& a, const StartWorkflow& b) {
  return fields_equal(a, b);
}
bool operator==(const CompleteWorkflow& a, const CompleteWorkflow& b) {
  return fields_equal(a, b);
}
bool operator==(const CancelWorkflow& a, const CancelWorkflow& b) {
  return fields_equal(a, b);
}
bool operator==(const StartWaitingWorkflows& a,
                const StartWaitingWorkflows& b) {
  return fields_equal(a, b);
}
bool operator==(const StartStage& a, const StartStage& b) {
  return fields_equal(a, b);
}
bool operator==(const CompleteStage& a, const CompleteStage& b) {
  return fields_equal(a, b);
}
bool operator==(const SkipStage& a, const SkipStage& b) {
  return fields_equal(a, b);
}
bool operator==(const CancelStage& a, const CancelStage& b) {
  return fields_equal(a, b);
}
bool operator==(const RestartStage& a, const RestartStage& b) {
  return fields_equal(a, b);
}
bool operator==(const ResumeStage& a, const ResumeStage& b) {
  return fields_equal(a, b);
}
bool operator==(const ContinueParentStage& a, const ContinueParentStage& b) {
  return fields_equal(a, b);
}
bool operator==(const JumpToStage& a, const JumpToStage& b) {
  return fields_equal(a, b);
}
bool operator==(const SignalStage& a, const SignalStage& b) {
  return fields_equal(a, b);
}
bool operator==(const CancelRegion& a, const CancelRegion& b) {
  return fields_equal(a, b);
}
bool operator==(const AddMultiInstance& a, const AddMultiInstance& b) {
  return fields_equal(a, b);
}
bool operator==(const StartTask& a, const StartTask& b) {
  return fields_equal(a, b);
}
bool operator==(const PauseTask& a, const PauseTask& b) {
  return fields_equal(a, b);
}
bool operator==(const RunTask& a, const RunTask& b) {
  return fields_equal(a, b);
}
bool operator==(const CompleteTask& a, const CompleteTask& b) {
  return fields_equal(a, b);
}
bool operator==(const InvalidWorkflowId& a, const InvalidWorkflowId& b) {
  return fields_equal(a, b);
}
bool operator==(const InvalidStageId& a, const InvalidStageId& b) {
  return fields_equal(a, b);
}
bool operator==(const InvalidTaskId& a, const InvalidTaskId& b) {
  return fields_equal(a, b);
}
bool operator==(const InvalidTaskType& a, const InvalidTaskType& b) {
  return fields_equal(a, b);
}

}  // namespace wfstore
