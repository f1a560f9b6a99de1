// The documented JSON form of events (event_to_json): what the CLI prints and
// the Kafka exporter sends. A struct is an object with a member per entry of
// its field table (fields.h), named as there; enums by name, an empty optional
// as null, a Json value inline.

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "wfstore/event.h"
#include "wfstore/model.h"

#include "events/catalogue/fields.h"
#include "events/catalogue/type_traits.h"

namespace wfstore {
namespace {

template <typename T>
nlohmann::json to_json_value(const T& v);

// Collects a struct's fields, from its field table, as JSON members.
struct JsonFields {
  nlohmann::json& out;
  template <typename T>
  void operator()(std::string_view name, const T& value) {
    out[std::string(name)] = to_json_value(value);
  }
};

template <typename T>
nlohmann::json to_json_value(const T& v) {
  if constexpr (std::is_same_v<T, WorkflowStatus>) {
    return status_name(v);
  } else if constexpr (std::is_same_v<T, WorkflowType>) {
    return workflow_type_name(v);
  } else if constexpr (std::is_same_v<T, SyntheticStageOwner>) {
    return synthetic_stage_owner_name(v);
  } else if constexpr (std::is_same_v<T, JoinType>) {
    return join_type_name(v);
  } else if constexpr (std::is_same_v<T, SplitType>) {
    return split_type_name(v);
  } else if constexpr (std::is_same_v<T, Json>) {
    return v.value();
  } else if constexpr (IsOptional<T>::value) {
    if (!v) return nullptr;
    return to_json_value(*v);
  } else if constexpr (IsVector<T>::value ||
                       std::is_same_v<T, std::set<std::string>>) {
    nlohmann::json array = nlohmann::json::array();
    for (const auto& item : v) array.push_back(to_json_value(item));
    return array;
  } else if constexpr (std::is_same_v<T, std::map<std::string, std::string>>) {
    nlohmann::json object = nlohmann::json::object();
    for (const auto& [key, value] : v) object[key] = value;
    return object;
  } else if constexpr (fields::HasFieldTable<T>) {
    nlohmann::json object = nlohmann::json::object();
    JsonFields members{object};
    fields::visit_fields(members, v);
    return object;
  } else {
    static_assert(std::is_same_v<T, std::string> || std::is_same_v<T, bool> ||
                  std::is_same_v<T, std::int64_t> ||
                  std::is_same_v<T, std::uint64_t>);
    return v;
  }
}

}  // namespace

nlohmann::json payload_to_json(const EventPayload& payload) {
  return std::visit([](const auto& p) { return to_json_value(p); }, payload);
}

nlohmann::json workflow_to_json(const Workflow& workflow) {
  return to_json_value(workflow);
}

nlohmann::json event_to_json(const Event& event) {
  return {{"lsn", event.lsn},
          {"commit_id", event.commit_id},
          {"timestamp", event.timestamp_ms},
          {"type", event_type_name(event.type())},
          {"schema_version", event.schema_version()},
          {"workflow_id", event.workflow_id},
          {"audit", to_json_value(event.audit)},
          {"payload", payload_to_json(event.payload)}};
}

}  // namespace wfstore
