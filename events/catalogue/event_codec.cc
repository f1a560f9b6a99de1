// The event codec: commit bodies, payload encodings, and the registry of
// upcasters and test-only types. The grammar is in
// wfstore_internal/event_codec.h.

#include "wfstore_internal/event_codec.h"

#include <algorithm>
#include <map>
#include <memory>
#include <mutex>
#include <new>
#include <optional>
#include <set>
#include <type_traits>
#include <utility>

#include <cereal/details/helpers.hpp>
#include <fmt/format.h>

#include "wfstore/errors.h"
#include "wfstore/limits.h"
#include "wfstore/model.h"

#include "events/catalogue/codec_primitives.h"
#include "events/catalogue/type_traits.h"
#include "events/model/utf8.h"

namespace wfstore {

namespace codec {

std::string Reader::str(std::string_view field) {
  const std::string_view value = bytes(field);
  if (!utf8::is_valid(value)) fail(field, "invalid UTF-8");
  return std::string(value);
}

}  // namespace codec

namespace {

using codec::Reader;
using codec::Writer;

// The smallest encoding of a list item: no item is shorter than one byte.
constexpr std::size_t kMinItemBytes = 1;
// type, version, workflow_id length, payload length, endian tag.
constexpr std::size_t kMinEventBytes = 2 + 2 + 1 + 1 + 1;

template <typename Enum>
std::optional<Enum> enum_from_int(std::uint8_t value) {
  if constexpr (std::is_same_v<Enum, WorkflowStatus>) {
    return status_from_int(value);
  } else {
    constexpr std::uint8_t kCount = [] {
      if constexpr (std::is_same_v<Enum, WorkflowType>) return 2;
      if constexpr (std::is_same_v<Enum, SyntheticStageOwner>) return 2;
      if constexpr (std::is_same_v<Enum, JoinType>) return 5;
      if constexpr (std::is_same_v<Enum, SplitType>) return 2;
    }();
    if (value >= kCount) return std::nullopt;
    return static_cast<Enum>(value);
  }
}

// Each model and payload struct lists its fields once, in encoding order, as
// calls io(name, member); Out writes them and In reads them.

template <typename Io, typename T>
requires std::is_same_v<std::remove_const_t<T>, Trigger>
void visit_fields(Io& io, T& v) {
  io("trigger.type", v.type);
  io("trigger.user", v.user);
  io("trigger.parameters", v.parameters);
  io("trigger.artifacts", v.artifacts);
  io("trigger.payload", v.payload);
}

template <typename Io, typename T>
requires std::is_same_v<std::remove_const_t<T>, PausedDetails>
void visit_fields(Io& io, T& v) {
  io("paused.paused_by", v.paused_by);
  io("paused.pause_time", v.pause_time);
  io("paused.resume_time", v.resume_time);
  io("paused.paused_ms", v.paused_ms);
}

template <typename Io, typename T>
requires std::is_same_v<std::remove_const_t<T>, MultiInstanceConfig>
void visit_fields(Io& io, T& v) {
  io("mi_config.count", v.count);
  io("mi_config.count_from_context", v.count_from_context);
  io("mi_config.sync_on_complete", v.sync_on_complete);
  io("mi_config.allow_dynamic", v.allow_dynamic);
  io("mi_config.collection_from_context", v.collection_from_context);
  io("mi_config.join_threshold", v.join_threshold);
  io("mi_config.cancel_remaining", v.cancel_remaining);
}

template <typename Io, typename T>
requires std::is_same_v<std::remove_const_t<T>, TaskExecution>
void visit_fields(Io& io, T& v) {
  io("task.id", v.id);
  io("task.name", v.name);
  io("task.implementing_class", v.implementing_class);
  io("task.status", v.status);
  io("task.start_time", v.start_time);
  io("task.end_time", v.end_time);
  io("task.stage_start", v.stage_start);
  io("task.stage_end", v.stage_end);
  io("task.loop_start", v.loop_start);
  io("task.loop_end", v.loop_end);
  io("task.task_exception_details", v.task_exception_details);
  io("task.version", v.version);
}

template <typename Io, typename T>
requires std::is_same_v<std::remove_const_t<T>, StageExecution>
void visit_fields(Io& io, T& v) {
  io("stage.id", v.id);
  io("stage.execution_id", v.execution_id);
  io("stage.ref_id", v.ref_id);
  io("stage.type", v.type);
  io("stage.name", v.name);
  io("stage.status", v.status);
  io("stage.context", v.context);
  io("stage.outputs", v.outputs);
  io("stage.tasks", v.tasks);
  io("stage.requisite_stage_ref_ids", v.requisite_stage_ref_ids);
  io("stage.parent_stage_id", v.parent_stage_id);
  io("stage.synthetic_stage_owner", v.synthetic_stage_owner);
  io("stage.start_time", v.start_time);
  io("stage.end_time", v.end_time);
  io("stage.start_time_expiry", v.start_time_expiry);
  io("stage.scheduled_time", v.scheduled_time);
  io("stage.version", v.version);
  io("stage.join_type", v.join_type);
  io("stage.join_threshold", v.join_threshold);
  io("stage.split_type", v.split_type);
  io("stage.split_conditions", v.split_conditions);
  io("stage.mi_config", v.mi_config);
  io("stage.deferred_choice_group", v.deferred_choice_group);
  io("stage.milestone_ref_id", v.milestone_ref_id);
  io("stage.milestone_status", v.milestone_status);
  io("stage.mutex_key", v.mutex_key);
  io("stage.cancel_region", v.cancel_region);
}

template <typename Io, typename T>
requires std::is_same_v<std::remove_const_t<T>, Workflow>
void visit_fields(Io& io, T& v) {
  io("workflow.id", v.id);
  io("workflow.type", v.type);
  io("workflow.application", v.application);
  io("workflow.name", v.name);
  io("workflow.status", v.status);
  io("workflow.stages", v.stages);
  io("workflow.context", v.context);
  io("workflow.trigger", v.trigger);
  io("workflow.start_time", v.start_time);
  io("workflow.end_time", v.end_time);
  io("workflow.start_time_expiry", v.start_time_expiry);
  io("workflow.is_canceled", v.is_canceled);
  io("workflow.canceled_by", v.canceled_by);
  io("workflow.cancellation_reason", v.cancellation_reason);
  io("workflow.paused", v.paused);
  io("workflow.pipeline_config_id", v.pipeline_config_id);
  io("workflow.is_limit_concurrent", v.is_limit_concurrent);
  io("workflow.max_concurrent_executions", v.max_concurrent_executions);
  io("workflow.keep_waiting_pipelines", v.keep_waiting_pipelines);
  io("workflow.origin", v.origin);
}

template <typename Io, typename T>
requires std::is_same_v<std::remove_const_t<T>, ClaimId>
void visit_fields(Io& io, T& v) {
  io("claim.execution_id", v.execution_id);
  io("claim.claim_key", v.claim_key);
}

template <typename Io, typename T>
requires std::is_same_v<std::remove_const_t<T>, WorkflowStored>
void visit_fields(Io& io, T& v) { io("workflow", v.workflow); }

template <typename Io, typename T>
requires std::is_same_v<std::remove_const_t<T>, WorkflowStatusUpdated>
void visit_fields(Io& io, T& v) {
  io("workflow_id", v.workflow_id);
  io("status", v.status);
  io("start_time", v.start_time);
  io("end_time", v.end_time);
  io("is_canceled", v.is_canceled);
  io("canceled_by", v.canceled_by);
  io("cancellation_reason", v.cancellation_reason);
  io("paused", v.paused);
}

template <typename Io, typename T>
requires std::is_same_v<std::remove_const_t<T>, WorkflowStatusSet>
void visit_fields(Io& io, T& v) {
  io("workflow_id", v.workflow_id);
  io("status", v.status);
  io("start_time", v.start_time);
  io("end_time", v.end_time);
}

template <typename Io, typename T>
requires std::is_same_v<std::remove_const_t<T>, WorkflowPaused>
void visit_fields(Io& io, T& v) {
  io("workflow_id", v.workflow_id);
  io("paused_by", v.paused_by);
  io("pause_time", v.pause_time);
}

template <typename Io, typename T>
requires std::is_same_v<std::remove_const_t<T>, WorkflowResumed>
void visit_fields(Io& io, T& v) {
  io("workflow_id", v.workflow_id);
  io("resume_time", v.resume_time);
}

template <typename Io, typename T>
requires std::is_same_v<std::remove_const_t<T>, WorkflowCancelRequested>
void visit_fields(Io& io, T& v) {
  io("workflow_id", v.workflow_id);
  io("canceled_by", v.canceled_by);
  io("reason", v.reason);
}

template <typename Io, typename T>
requires std::is_same_v<std::remove_const_t<T>, WorkflowDeleted>
void visit_fields(Io& io, T& v) { io("workflow_id", v.workflow_id); }

template <typename Io, typename T>
requires std::is_same_v<std::remove_const_t<T>, StageAdded>
void visit_fields(Io& io, T& v) { io("stage", v.stage); }

template <typename Io, typename T>
requires std::is_same_v<std::remove_const_t<T>, StageUpdated>
void visit_fields(Io& io, T& v) {
  io("execution_id", v.execution_id);
  io("stage_id", v.stage_id);
  io("version", v.version);
  io("status", v.status);
  io("context", v.context);
  io("outputs", v.outputs);
  io("start_time", v.start_time);
  io("end_time", v.end_time);
  io("tasks", v.tasks);
}

template <typename Io, typename T>
requires std::is_same_v<std::remove_const_t<T>, StageRemoved>
void visit_fields(Io& io, T& v) {
  io("execution_id", v.execution_id);
  io("stage_id", v.stage_id);
}

template <typename Io, typename T>
requires std::is_same_v<std::remove_const_t<T>, MessageProcessed>
void visit_fields(Io& io, T& v) {
  io("message_id", v.message_id);
  io("handler_type", v.handler_type);
  io("execution_id", v.execution_id);
  io("processed_at", v.processed_at);
}

template <typename Io, typename T>
requires std::is_same_v<std::remove_const_t<T>, ProcessedMessagesPurged>
void visit_fields(Io& io, T& v) {
  io("cutoff", v.cutoff);
  io("count", v.count);
}

template <typename Io, typename T>
requires std::is_same_v<std::remove_const_t<T>, ClaimAcquired>
void visit_fields(Io& io, T& v) {
  io("execution_id", v.execution_id);
  io("claim_key", v.claim_key);
  io("stage_id", v.stage_id);
  io("claimed_at", v.claimed_at);
}

template <typename Io, typename T>
requires std::is_same_v<std::remove_const_t<T>, ClaimTransferred>
void visit_fields(Io& io, T& v) {
  io("execution_id", v.execution_id);
  io("claim_key", v.claim_key);
  io("from_stage_id", v.from_stage_id);
  io("to_stage_id", v.to_stage_id);
  io("claimed_at", v.claimed_at);
}

template <typename Io, typename T>
requires std::is_same_v<std::remove_const_t<T>, ClaimsPurged>
void visit_fields(Io& io, T& v) { io("claims", v.claims); }

template <typename Io, typename T>
requires std::is_same_v<std::remove_const_t<T>, MessagePushed>
void visit_fields(Io& io, T& v) {
  io("delivery_id", v.delivery_id);
  io("execution_id", v.execution_id);
  io("message_type", v.message_type);
  io("payload", v.payload);
  io("deliver_at", v.deliver_at);
  io("max_attempts", v.max_attempts);
}

template <typename Io, typename T>
requires std::is_same_v<std::remove_const_t<T>, MessageLeased>
void visit_fields(Io& io, T& v) {
  io("delivery_id", v.delivery_id);
  io("execution_id", v.execution_id);
  io("attempt", v.attempt);
  io("lease_until", v.lease_until);
}

template <typename Io, typename T>
requires std::is_same_v<std::remove_const_t<T>, MessageAcked>
void visit_fields(Io& io, T& v) {
  io("delivery_id", v.delivery_id);
  io("execution_id", v.execution_id);
}

template <typename Io, typename T>
requires std::is_same_v<std::remove_const_t<T>, MessageRescheduled>
void visit_fields(Io& io, T& v) {
  io("delivery_id", v.delivery_id);
  io("execution_id", v.execution_id);
  io("deliver_at", v.deliver_at);
}

template <typename Io, typename T>
requires std::is_same_v<std::remove_const_t<T>, MessageLeaseExtended>
void visit_fields(Io& io, T& v) {
  io("delivery_id", v.delivery_id);
  io("execution_id", v.execution_id);
  io("lease_until", v.lease_until);
}

template <typename Io, typename T>
requires std::is_same_v<std::remove_const_t<T>, MessageDeadLettered>
void visit_fields(Io& io, T& v) {
  io("delivery_id", v.delivery_id);
  io("execution_id", v.execution_id);
  io("error", v.error);
  io("moved_at", v.moved_at);
}

template <typename Io, typename T>
requires std::is_same_v<std::remove_const_t<T>, DeadLetterReplayed>
void visit_fields(Io& io, T& v) {
  io("delivery_id", v.delivery_id);
  io("new_delivery_id", v.new_delivery_id);
  io("execution_id", v.execution_id);
  io("deliver_at", v.deliver_at);
}

template <typename Io, typename T>
requires(std::is_same_v<std::remove_const_t<T>, QueueCleared> ||
         std::is_same_v<std::remove_const_t<T>,
                        DeadLetterQueueCleared>) void visit_fields(Io&, T&) {}

template <typename T>
void put(Writer& w, const T& v);

struct Out {
  Writer& w;
  template <typename T>
  void operator()(std::string_view, const T& v) {
    put(w, v);
  }
};

template <typename T>
void put(Writer& w, const T& v) {
  if constexpr (std::is_same_v<T, std::string>) {
    w.bytes(v);
  } else if constexpr (std::is_same_v<T, bool>) {
    w.boolean(v);
  } else if constexpr (std::is_same_v<T, std::int64_t>) {
    w.i64(v);
  } else if constexpr (std::is_same_v<T, std::uint64_t>) {
    w.u64(v);
  } else if constexpr (std::is_enum_v<T>) {
    static_assert(sizeof(T) == 1);
    w.u8(static_cast<std::uint8_t>(v));
  } else if constexpr (std::is_same_v<T, Json>) {
    w.json(v);
  } else if constexpr (IsOptional<T>::value) {
    w.boolean(v.has_value());
    if (v.has_value()) put(w, *v);
  } else if constexpr (IsVector<T>::value ||
                       std::is_same_v<T, std::set<std::string>>) {
    w.varint(v.size());
    for (const auto& item : v) put(w, item);
  } else if constexpr (std::is_same_v<T, std::map<std::string, std::string>>) {
    w.varint(v.size());
    for (const auto& [key, value] : v) {
      w.bytes(key);
      w.bytes(value);
    }
  } else {
    Out out{w};
    visit_fields(out, v);
  }
}

template <typename T>
void get(Reader& r, std::string_view field, T& v);

struct In {
  Reader& r;
  template <typename T>
  void operator()(std::string_view field, T& v) {
    get(r, field, v);
  }
};

template <typename T>
void get(Reader& r, std::string_view field, T& v) {
  if constexpr (std::is_same_v<T, std::string>) {
    v = r.str(field);
  } else if constexpr (std::is_same_v<T, bool>) {
    v = r.boolean(field);
  } else if constexpr (std::is_same_v<T, std::int64_t>) {
    v = r.i64(field);
  } else if constexpr (std::is_same_v<T, std::uint64_t>) {
    v = r.u64(field);
  } else if constexpr (std::is_enum_v<T>) {
    const std::uint8_t raw = r.u8(field);
    const std::optional<T> value = enum_from_int<T>(raw);
    if (!value) r.fail(field, fmt::format("unknown enum value {}", raw));
    v = *value;
  } else if constexpr (std::is_same_v<T, Json>) {
    v = r.json(field);
  } else if constexpr (IsOptional<T>::value) {
    if (r.boolean(field)) {
      v.emplace();
      get(r, field, *v);
    } else {
      v.reset();
    }
  } else if constexpr (IsVector<T>::value) {
    const std::size_t n = r.count(field, kMinItemBytes);
    v.clear();
    // No reserve(n): n is bounded by the input, but not by the item size.
    for (std::size_t i = 0; i < n; ++i) get(r, field, v.emplace_back());
  } else if constexpr (std::is_same_v<T, std::set<std::string>>) {
    const std::size_t n = r.count(field, kMinItemBytes);
    v.clear();
    for (std::size_t i = 0; i < n; ++i) {
      std::string item = r.str(field);
      // Sorted and unique, so that re-encoding gives the same bytes.
      if (!v.empty() && !(*v.rbegin() < item)) r.fail(field, "not sorted");
      v.emplace_hint(v.end(), std::move(item));
    }
  } else if constexpr (std::is_same_v<T, std::map<std::string, std::string>>) {
    const std::size_t n = r.count(field, 2 * kMinItemBytes);
    v.clear();
    for (std::size_t i = 0; i < n; ++i) {
      std::string key = r.str(field);
      if (!v.empty() && !(v.rbegin()->first < key)) {
        r.fail(field, "keys not sorted");
      }
      std::string value = r.str(field);
      v.emplace_hint(v.end(), std::move(key), std::move(value));
    }
  } else {
    In in{r};
    visit_fields(in, v);
  }
}

// Decodes a current-version payload of type P from `r`, which holds exactly
// the payload.
template <typename P>
EventPayload decode_as(Reader& r) {
  P payload;
  In in{r};
  visit_fields(in, payload);
  r.expect_end();
  return payload;
}

// The catalogue's decoder for `type`, or nullptr.
using BuiltinDecoder = EventPayload (*)(Reader&);

struct BuiltinType {
  std::uint16_t version = 0;
  BuiltinDecoder decode = nullptr;
};

template <std::size_t... I>
BuiltinType find_builtin(EventType type, std::index_sequence<I...>) {
  BuiltinType found;
  (void)((std::variant_alternative_t<I, EventPayload>::kType == type
              ? (found =
                     {std::variant_alternative_t<I, EventPayload>::kVersion,
                      &decode_as<std::variant_alternative_t<I, EventPayload>>},
                 true)
              : false) ||
         ...);
  return found;
}

BuiltinType find_builtin(EventType type) {
  return find_builtin(
      type, std::make_index_sequence<std::variant_size_v<EventPayload>>());
}

struct TestType {
  std::uint16_t version = 0;
  PayloadDecoder decode;
};

class Registry {
 public:
  static Registry& instance() {
    static Registry registry;
    return registry;
  }

  void add_upcaster(EventType type, std::uint16_t from_version,
                    Upcaster upcaster) {
    const std::uint16_t current = current_schema_version(type);
    if (current == 0) {
      throw InvalidArgumentError(fmt::format(
          "register_upcaster: unknown event type {}", static_cast<int>(type)));
    }
    if (from_version == 0 || from_version >= current) {
      throw InvalidArgumentError(fmt::format(
          "register_upcaster: from_version {} of {} must lie in 1..{}",
          from_version, describe(type), current - 1));
    }
    std::scoped_lock lock(mu_);
    if (!upcasters_.emplace(std::pair(type, from_version), std::move(upcaster))
             .second) {
      throw InvalidArgumentError(fmt::format(
          "register_upcaster: {} already has an upcaster from version {}",
          describe(type), from_version));
    }
  }

  std::optional<Upcaster> upcaster(EventType type, std::uint16_t from) const {
    std::scoped_lock lock(mu_);
    const auto it = upcasters_.find(std::pair(type, from));
    if (it == upcasters_.end()) return std::nullopt;
    return it->second;
  }

  void add_test_type(EventType type, std::uint16_t version,
                     PayloadDecoder decode) {
    if (static_cast<std::uint16_t>(type) < kFirstTestEventType) {
      throw InvalidArgumentError(fmt::format(
          "register_event_type_for_testing: type {} is outside the test range",
          static_cast<int>(type)));
    }
    if (version == 0) {
      throw InvalidArgumentError(
          "register_event_type_for_testing: version must be at least 1");
    }
    std::scoped_lock lock(mu_);
    if (!test_types_.emplace(type, TestType{version, std::move(decode)})
             .second) {
      throw InvalidArgumentError(fmt::format(
          "register_event_type_for_testing: type {} is already registered",
          static_cast<int>(type)));
    }
  }

  std::optional<TestType> test_type(EventType type) const {
    std::scoped_lock lock(mu_);
    const auto it = test_types_.find(type);
    if (it == test_types_.end()) return std::nullopt;
    return it->second;
  }

  void reset() {
    std::scoped_lock lock(mu_);
    upcasters_.clear();
    test_types_.clear();
  }

  static std::string describe(EventType type) {
    const std::string_view name = event_type_name(type);
    if (name == "Unknown") {
      return fmt::format("type {}", static_cast<int>(type));
    }
    return std::string(name);
  }

 private:
  mutable std::mutex mu_;
  std::map<std::pair<EventType, std::uint16_t>, Upcaster> upcasters_;
  std::map<EventType, TestType> test_types_;
};

// Runs one upcaster step; any failure is the payload's corruption.
std::string run_upcaster(const Upcaster& upcaster, std::string_view payload,
                         EventType type, std::uint16_t from) {
  try {
    return upcaster(payload);
  } catch (const std::bad_alloc&) {
    throw;
  } catch (const CorruptionError&) {
    throw;
  } catch (const std::exception& e) {
    throw CorruptionError(fmt::format("upcasting {} from version {}: {}",
                                      Registry::describe(type), from,
                                      e.what()));
  }
}

void write_event(Writer& w, EventType type, std::uint16_t version,
                 std::string_view workflow_id, std::string_view payload) {
  w.u16(static_cast<std::uint16_t>(type));
  w.u16(version);
  w.bytes(workflow_id);
  w.bytes(payload);
}

void write_audit(Writer& w, const AuditMetadata& audit) {
  w.bytes(audit.actor);
  w.bytes(audit.correlation_id);
  w.bytes(audit.causation_id);
  w.bytes(audit.source);
}

}  // namespace

std::uint16_t current_schema_version(EventType type) {
  const BuiltinType builtin = find_builtin(type);
  if (builtin.version != 0) return builtin.version;
  const std::optional<TestType> test = Registry::instance().test_type(type);
  return test ? test->version : 0;
}

void register_upcaster(EventType type, std::uint16_t from_version,
                       Upcaster to_next_version_payload) {
  Registry::instance().add_upcaster(type, from_version,
                                    std::move(to_next_version_payload));
}

void register_event_type_for_testing(EventType type,
                                     std::uint16_t current_version,
                                     PayloadDecoder decode) {
  Registry::instance().add_test_type(type, current_version, std::move(decode));
}

void reset_event_registry_for_testing() { Registry::instance().reset(); }

std::string encode_payload(const EventPayload& payload) {
  std::string out;
  Writer w(out);
  std::visit([&](const auto& p) { put(w, p); }, payload);
  return out;
}

namespace {

// Runs a built-in decoder over `payload`, reusing `reader` when it holds one.
EventPayload run_builtin(BuiltinDecoder decode, std::string_view payload,
                         std::optional<Reader>& reader) {
  try {
    if (reader) {
      reader->restart(payload);
    } else {
      reader.emplace(payload, "payload");
    }
    return decode(*reader);
  } catch (const cereal::Exception& e) {
    throw CorruptionError(fmt::format("payload: {}", e.what()));
  }
}

EventPayload decode_payload_with(EventType type, std::uint16_t schema_version,
                                 std::string_view payload,
                                 std::optional<Reader>& reader) {
  const BuiltinType builtin = find_builtin(type);
  if (builtin.version != 0 && schema_version == builtin.version) {
    return run_builtin(builtin.decode, payload, reader);
  }
  std::optional<TestType> test;
  std::uint16_t current = builtin.version;
  if (current == 0) {
    test = Registry::instance().test_type(type);
    if (!test) {
      throw CorruptionError(
          fmt::format("unknown event type {}", static_cast<int>(type)));
    }
    current = test->version;
  }
  if (schema_version == 0) {
    throw CorruptionError(
        fmt::format("{}: invalid schema version 0", Registry::describe(type)));
  }
  if (schema_version > current) {
    throw CorruptionError(
        fmt::format("{}: schema version {} is newer than supported version {}",
                    Registry::describe(type), schema_version, current));
  }
  std::string upcast;
  std::string_view bytes = payload;
  for (std::uint16_t v = schema_version; v < current; ++v) {
    const std::optional<Upcaster> step = Registry::instance().upcaster(type, v);
    if (!step) {
      throw CorruptionError(
          fmt::format("{}: no upcaster from schema version {} to {}",
                      Registry::describe(type), v, v + 1));
    }
    upcast = run_upcaster(*step, bytes, type, v);
    bytes = upcast;
  }
  if (builtin.decode != nullptr) {
    return run_builtin(builtin.decode, bytes, reader);
  }
  try {
    return test->decode(bytes);
  } catch (const std::bad_alloc&) {
    throw;
  } catch (const CorruptionError&) {
    throw;
  } catch (const std::exception& e) {
    throw CorruptionError(
        fmt::format("decoding {}: {}", Registry::describe(type), e.what()));
  }
}

}  // namespace

EventPayload decode_payload(EventType type, std::uint16_t schema_version,
                            std::string_view payload) {
  std::optional<Reader> reader;
  return decode_payload_with(type, schema_version, payload, reader);
}

std::string encode_commit_body(const AuditMetadata& audit,
                               const std::vector<EventPayload>& payloads) {
  if (payloads.empty()) {
    throw InvalidArgumentError("commit: must hold at least one event");
  }
  if (payloads.size() > kMaxCommitEvents) {
    throw InvalidArgumentError(
        fmt::format("commit: {} events exceed the limit of {}", payloads.size(),
                    kMaxCommitEvents));
  }
  std::string body;
  body.push_back(static_cast<char>(kCommitBodyFormatVersion));
  Writer w(body);
  write_audit(w, audit);
  w.varint(payloads.size());
  std::string bytes;
  std::optional<Writer> payload_writer;
  for (const EventPayload& payload : payloads) {
    bytes.clear();
    if (payload_writer) {
      payload_writer->restart(bytes);
    } else {
      payload_writer.emplace(bytes);
    }
    std::visit([&](const auto& p) { put(*payload_writer, p); }, payload);
    write_event(w, event_type(payload),
                std::visit([](const auto& p) { return p.kVersion; }, payload),
                event_workflow_id(payload), bytes);
  }
  if (body.size() > kMaxCommitBytes) {
    throw InvalidArgumentError(
        fmt::format("commit: {} bytes exceed the limit of {} bytes",
                    body.size(), kMaxCommitBytes));
  }
  return body;
}

DecodedCommit decode_commit_body(std::uint64_t first_lsn,
                                 std::int64_t timestamp_ms,
                                 std::size_t event_count,
                                 std::string_view body) {
  if (body.empty()) {
    throw CorruptionError("commit body: empty");
  }
  const auto format = static_cast<std::uint8_t>(body[0]);
  if (format != kCommitBodyFormatVersion) {
    throw CorruptionError(fmt::format(
        "commit body: format version {} is {} (supported: {})", format,
        format > kCommitBodyFormatVersion ? "newer than supported" : "invalid",
        kCommitBodyFormatVersion));
  }
  DecodedCommit commit;
  std::optional<Reader> payload_reader;
  try {
    Reader r(body.substr(1), "commit body", 1);
    commit.audit.actor = r.str("audit.actor");
    commit.audit.correlation_id = r.str("audit.correlation_id");
    commit.audit.causation_id = r.str("audit.causation_id");
    commit.audit.source = r.str("audit.source");
    const std::size_t count = r.count("event_count", kMinEventBytes);
    if (count != event_count) {
      r.fail("event_count", fmt::format("holds {} events, the log says {}",
                                        count, event_count));
    }
    if (count == 0) r.fail("event_count", "a commit holds at least one event");
    if (count > kMaxCommitEvents) {
      r.fail("event_count", fmt::format("{} events exceed the limit of {}",
                                        count, kMaxCommitEvents));
    }
    commit.events.reserve(count);
    for (std::size_t i = 0; i < count; ++i) {
      const std::size_t offset = body.size() - r.remaining();
      std::string context = fmt::format("event {}", i);
      try {
        const auto type = static_cast<EventType>(r.u16("event.type"));
        const std::uint16_t version = r.u16("event.schema_version");
        context = fmt::format("event {} ({} v{})", i, Registry::describe(type),
                              version);
        std::string workflow_id = r.str("event.workflow_id");
        const std::string_view payload = r.bytes("event.payload");
        EventPayload decoded =
            decode_payload_with(type, version, payload, payload_reader);
        std::string derived = event_workflow_id(decoded);
        if (derived != workflow_id) {
          throw CorruptionError(
              fmt::format("envelope workflow_id '{}' differs from the "
                          "payload's '{}'",
                          workflow_id, derived));
        }
        commit.events.push_back(Event{first_lsn + i, first_lsn, timestamp_ms,
                                      std::move(workflow_id), commit.audit,
                                      std::move(decoded)});
      } catch (const CorruptionError& e) {
        throw CorruptionError(fmt::format("commit body byte {}: {}: {}", offset,
                                          context, e.what()));
      }
    }
    r.expect_end();
  } catch (const cereal::Exception& e) {
    throw CorruptionError(fmt::format("commit body: {}", e.what()));
  }
  return commit;
}

std::string encode_event_for_testing(EventType type,
                                     std::uint16_t schema_version,
                                     std::string_view workflow_id,
                                     std::string_view payload) {
  std::string out;
  Writer w(out);
  write_event(w, type, schema_version, workflow_id, payload);
  return out.substr(1);
}

std::string encode_body_for_testing(
    const AuditMetadata& audit,
    const std::vector<std::string>& encoded_events) {
  std::string body;
  body.push_back(static_cast<char>(kCommitBodyFormatVersion));
  Writer w(body);
  write_audit(w, audit);
  w.varint(encoded_events.size());
  for (const std::string& event : encoded_events) body += event;
  return body;
}

}  // namespace wfstore
