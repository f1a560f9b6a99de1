// The parts of the event codec that its files share: the registry behind
// register_upcaster() and register_event_type_for_testing()
// (event_registry.cc), and payload decoding with a reused reader
// (payload_codec.cc), which the commit body codec (commit_body.cc) calls.
// Private to the catalogue.

#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "wfstore/event.h"

#include "events/catalogue/codec_primitives.h"
#include "wfstore_internal/event_codec.h"

namespace wfstore::catalogue {

// A test-only event type: its current schema version and its decoder.
struct TestType {
  std::uint16_t version = 0;
  PayloadDecoder decode;
};

// The name of `type` in messages: "WorkflowStored", or "type 65281" for a
// type without a name.
std::string describe_event_type(EventType type);

// The upcaster registered for `type` from schema version `from` to `from` + 1,
// or nullopt. Thread-safe.
std::optional<Upcaster> registered_upcaster(EventType type, std::uint16_t from);

// The registered test-only type `type`, or nullopt. Thread-safe.
std::optional<TestType> registered_test_type(EventType type);

// The schema version this build writes for a built-in type; 0 for any other
// type.
std::uint16_t builtin_schema_version(EventType type);

// decode_payload(), decoding a built-in type with `reader` (restarted over the
// payload) if it holds one, else with a new reader left in it.
EventPayload decode_payload_with(EventType type, std::uint16_t schema_version,
                                 std::string_view payload,
                                 std::optional<codec::Reader>& reader);

}  // namespace wfstore::catalogue
