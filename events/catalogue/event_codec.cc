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
#include "events/catalogue/value_codec.h"
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

// type, version, workflow_id length, payload length, endian tag.
constexpr std::size_t kMinEventBytes = 2 + 2 + 1 + 1 + 1;

// Decodes a current-version payload of type P from `r`, which holds exactly
// the payload.
template <typename P>
EventPayload decode_as(Reader& r) {
  P payload;
  codec::get_fields(r, payload);
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
  std::visit([&](const auto& p) { codec::put(w, p); }, payload);
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
  codec::put(w, audit);
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
    std::visit([&](const auto& p) { codec::put(*payload_writer, p); }, payload);
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
    codec::get_fields(r, commit.audit);
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
  codec::put(w, audit);
  w.varint(encoded_events.size());
  for (const std::string& event : encoded_events) body += event;
  return body;
}

}  // namespace wfstore
