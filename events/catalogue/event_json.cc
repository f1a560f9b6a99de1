// The documented JSON form of events (event_to_json): what the CLI prints and
// the Kafka exporter sends. A struct is an object with a member per entry of
// its field table (fields.h), named as there; enums by name, an empty optional
// as null, a Json value inline. event_from_json reads it back through the same
// tables.

#include <cstddef>
#include <cstdint>
#include <limits>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

#include <fmt/format.h>

#include "wfstore/errors.h"
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

[[noreturn]] void malformed(const std::string& path, std::string_view reason) {
  throw CorruptionError(fmt::format("JSON event: {}: {}", path, reason));
}

template <typename T>
void from_json_value(const nlohmann::json& j, const std::string& path, T& out);

// The enum named by the string `j`, through the model's parser.
template <typename T, typename Parse>
void enum_from_json(const nlohmann::json& j, const std::string& path, T& out,
                    Parse parse) {
  if (!j.is_string()) malformed(path, "expected a name string");
  try {
    out = parse(j.get_ref<const std::string&>(), path);
  } catch (const InvalidArgumentError& e) {
    malformed(path, e.what());
  }
}

// Reads a struct's members, from its field table; every member must be
// present and no other may be.
struct JsonMembers {
  const nlohmann::json& in;
  const std::string& path;
  std::size_t seen = 0;
  template <typename T>
  void operator()(std::string_view name, T& value) {
    const std::string member =
        path.empty() ? std::string(name) : fmt::format("{}.{}", path, name);
    const auto it = in.find(name);
    if (it == in.end()) malformed(member, "missing");
    from_json_value(*it, member, value);
    ++seen;
  }
};

// Fails naming the first member of `j` outside `known` (event_to_json writes
// no other).
template <typename Known>
void reject_unknown_members(const nlohmann::json& j, const std::string& path,
                            Known&& known) {
  for (const auto& item : j.items()) {
    if (!known(item.key())) {
      malformed(
          path.empty() ? item.key() : fmt::format("{}.{}", path, item.key()),
          "unknown member");
    }
  }
}

template <typename T>
void struct_from_json(const nlohmann::json& j, const std::string& path,
                      T& out) {
  if (!j.is_object()) malformed(path, "expected an object");
  JsonMembers members{j, path};
  fields::visit_fields(members, out);
  if (members.seen != j.size()) {
    reject_unknown_members(j, path, [&out](const std::string& key) {
      bool found = false;
      auto probe = [&](std::string_view name, const auto&) {
        if (name == key) found = true;
      };
      fields::visit_fields(probe, std::as_const(out));
      return found;
    });
  }
}

template <typename T>
void from_json_value(const nlohmann::json& j, const std::string& path, T& out) {
  if constexpr (std::is_same_v<T, WorkflowStatus>) {
    enum_from_json(j, path, out, parse_status);
  } else if constexpr (std::is_same_v<T, WorkflowType>) {
    enum_from_json(j, path, out, parse_workflow_type);
  } else if constexpr (std::is_same_v<T, SyntheticStageOwner>) {
    enum_from_json(j, path, out, parse_synthetic_stage_owner);
  } else if constexpr (std::is_same_v<T, JoinType>) {
    enum_from_json(j, path, out, parse_join_type);
  } else if constexpr (std::is_same_v<T, SplitType>) {
    enum_from_json(j, path, out, parse_split_type);
  } else if constexpr (std::is_same_v<T, Json>) {
    Json value(j);
    try {
      validate_json(value, path);
    } catch (const InvalidArgumentError& e) {
      malformed(path, e.what());
    }
    out = std::move(value);
  } else if constexpr (IsOptional<T>::value) {
    if (j.is_null()) {
      out.reset();
    } else {
      out.emplace();
      from_json_value(j, path, *out);
    }
  } else if constexpr (IsVector<T>::value) {
    if (!j.is_array()) malformed(path, "expected an array");
    out.clear();
    out.resize(j.size());
    for (std::size_t i = 0; i < j.size(); ++i) {
      from_json_value(j[i], fmt::format("{}[{}]", path, i), out[i]);
    }
  } else if constexpr (std::is_same_v<T, std::set<std::string>>) {
    if (!j.is_array()) malformed(path, "expected an array");
    out.clear();
    for (std::size_t i = 0; i < j.size(); ++i) {
      std::string item;
      from_json_value(j[i], fmt::format("{}[{}]", path, i), item);
      if (!out.insert(std::move(item)).second) {
        malformed(fmt::format("{}[{}]", path, i), "repeated set member");
      }
    }
  } else if constexpr (std::is_same_v<T, std::map<std::string, std::string>>) {
    if (!j.is_object()) malformed(path, "expected an object");
    out.clear();
    for (const auto& item : j.items()) {
      from_json_value(item.value(), fmt::format("{}.{}", path, item.key()),
                      out[item.key()]);
    }
  } else if constexpr (fields::HasFieldTable<T>) {
    struct_from_json(j, path, out);
  } else if constexpr (std::is_same_v<T, std::string>) {
    if (!j.is_string()) malformed(path, "expected a string");
    out = j.get<std::string>();
  } else if constexpr (std::is_same_v<T, bool>) {
    if (!j.is_boolean()) malformed(path, "expected true or false");
    out = j.get<bool>();
  } else if constexpr (std::is_same_v<T, std::int64_t>) {
    if (j.is_number_unsigned()) {
      if (j.get<std::uint64_t>() >
          static_cast<std::uint64_t>(
              std::numeric_limits<std::int64_t>::max())) {
        malformed(path, "integer out of range");
      }
    } else if (!j.is_number_integer()) {
      malformed(path, "expected an integer");
    }
    out = j.get<std::int64_t>();
  } else {
    static_assert(std::is_same_v<T, std::uint64_t>);
    if (!j.is_number_integer() ||
        (!j.is_number_unsigned() && j.get<std::int64_t>() < 0)) {
      malformed(path, "expected a non-negative integer");
    }
    out = j.get<std::uint64_t>();
  }
}

// The payload alternative named `type`, read from `j`; nullopt when no
// alternative has that name.
template <std::size_t I = 0>
std::optional<EventPayload> payload_from_json(std::string_view type,
                                              std::uint64_t schema_version,
                                              const nlohmann::json& j) {
  if constexpr (I == std::variant_size_v<EventPayload>) {
    return std::nullopt;
  } else {
    using Payload = std::variant_alternative_t<I, EventPayload>;
    if (event_type_name(Payload::kType) != type) {
      return payload_from_json<I + 1>(type, schema_version, j);
    }
    if (schema_version != Payload::kVersion) {
      malformed("schema_version",
                fmt::format("{} has schema version {} in this build, not {}",
                            type, Payload::kVersion, schema_version));
    }
    Payload payload;
    struct_from_json(j, "payload", payload);
    return EventPayload(std::move(payload));
  }
}

constexpr std::string_view kEnvelopeMembers[] = {
    "lsn",         "commit_id", "timestamp", "type", "schema_version",
    "workflow_id", "audit",     "payload"};

const nlohmann::json& envelope_member(const nlohmann::json& j,
                                      std::string_view name) {
  const auto it = j.find(name);
  if (it == j.end()) malformed(std::string(name), "missing");
  return *it;
}

}  // namespace

Event event_from_json(const nlohmann::json& json) {
  if (!json.is_object()) malformed("event", "expected an object");
  reject_unknown_members(json, "", [](const std::string& key) {
    for (std::string_view name : kEnvelopeMembers) {
      if (name == key) return true;
    }
    return false;
  });
  Event event;
  from_json_value(envelope_member(json, "lsn"), "lsn", event.lsn);
  from_json_value(envelope_member(json, "commit_id"), "commit_id",
                  event.commit_id);
  from_json_value(envelope_member(json, "timestamp"), "timestamp",
                  event.timestamp_ms);
  std::string type;
  from_json_value(envelope_member(json, "type"), "type", type);
  std::uint64_t schema_version = 0;
  from_json_value(envelope_member(json, "schema_version"), "schema_version",
                  schema_version);
  from_json_value(envelope_member(json, "workflow_id"), "workflow_id",
                  event.workflow_id);
  from_json_value(envelope_member(json, "audit"), "audit", event.audit);
  std::optional<EventPayload> payload =
      payload_from_json(type, schema_version, envelope_member(json, "payload"));
  if (!payload) malformed("type", fmt::format("unknown event type '{}'", type));
  event.payload = std::move(*payload);
  if (event.commit_id == 0 || event.commit_id > event.lsn) {
    malformed("commit_id", fmt::format("{} is not in 1..lsn {}",
                                       event.commit_id, event.lsn));
  }
  if (const std::string derived = event_workflow_id(event.payload);
      derived != event.workflow_id) {
    malformed("workflow_id", fmt::format("'{}' differs from the payload's '{}'",
                                         event.workflow_id, derived));
  }
  return event;
}

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
