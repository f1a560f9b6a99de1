// The payload codec: encodes a payload from its field table and decodes one of
// any schema version, upcasting an old one step by step. The grammar is in
// wfstore_internal/event_codec.h.

#include <cstddef>
#include <cstdint>
#include <exception>
#include <new>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

#include <cereal/details/helpers.hpp>
#include <fmt/format.h>

#include "wfstore/errors.h"
#include "wfstore/event.h"

#include "events/catalogue/codec_primitives.h"
#include "events/catalogue/event_registry.h"
#include "events/catalogue/value_codec.h"
#include "events/model/utf8.h"
#include "wfstore_internal/event_codec.h"

namespace wfstore {

namespace codec {

std::string Reader::str(std::string_view field) {
  const std::string_view value = bytes(field);
  if (!utf8::is_valid(value)) fail(field, "invalid UTF-8");
  return std::string(value);
}

}  // namespace codec

namespace catalogue {
namespace {

using codec::Reader;

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
                                      describe_event_type(type), from,
                                      e.what()));
  }
}

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

}  // namespace

std::uint16_t builtin_schema_version(EventType type) {
  return find_builtin(type).version;
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
    test = registered_test_type(type);
    if (!test) {
      throw CorruptionError(
          fmt::format("unknown event type {}", static_cast<int>(type)));
    }
    current = test->version;
  }
  if (schema_version == 0) {
    throw CorruptionError(
        fmt::format("{}: invalid schema version 0", describe_event_type(type)));
  }
  if (schema_version > current) {
    throw CorruptionError(
        fmt::format("{}: schema version {} is newer than supported version {}",
                    describe_event_type(type), schema_version, current));
  }
  std::string upcast;
  std::string_view bytes = payload;
  for (std::uint16_t v = schema_version; v < current; ++v) {
    const std::optional<Upcaster> step = registered_upcaster(type, v);
    if (!step) {
      throw CorruptionError(
          fmt::format("{}: no upcaster from schema version {} to {}",
                      describe_event_type(type), v, v + 1));
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
        fmt::format("decoding {}: {}", describe_event_type(type), e.what()));
  }
}

}  // namespace catalogue

std::string encode_payload(const EventPayload& payload) {
  std::string out;
  codec::Writer w(out);
  std::visit([&](const auto& p) { codec::put(w, p); }, payload);
  return out;
}

EventPayload decode_payload(EventType type, std::uint16_t schema_version,
                            std::string_view payload) {
  std::optional<codec::Reader> reader;
  return catalogue::decode_payload_with(type, schema_version, payload, reader);
}

}  // namespace wfstore
