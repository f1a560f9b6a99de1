// event_json_text: the JSON text of an event, written without the nlohmann
// tree, from the event's encoding (wfstore_internal/event_codec.h).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "wfstore/event.h"

namespace wfstore {

// The bytes of event_to_json(event).dump(), written directly: the same members
// through the same field tables, in the order and with the escapes of
// nlohmann's dump(), without building the JSON tree (the Kafka exporter's
// record values). Transcodes the event's encoding (encode_payload) and its
// JSON values' CBOR. Throws nlohmann::json::type_error (316), as dump() does,
// for a string that is not UTF-8 (the store admits none). Thread-safety: a
// const read of `event`.
std::string event_json_text(const Event& event);

// One event of a commit as JSON text.
struct EventJsonText {
  std::uint64_t lsn = 0;
  EventType type{};
  std::uint16_t schema_version = 0;  // as Event::schema_version()
  std::string workflow_id;
  // event_json_text() of the decoded event, byte for byte.
  std::string json;
};

// Appends to `out` the events of the commit body `body` (the arguments of
// decode_commit_body) whose LSNs lie in [from_lsn, to_lsn], in LSN order,
// as event_json_text() of each decoded event gives them, byte for byte. The
// body's bytes are transcoded straight to text (the audit once per commit),
// checking what decode_commit_body checks (of the events outside the range,
// only the envelope: their payloads are skipped); a commit the transcoding
// does not take whole (damage, an older schema version to upcast, a
// test-only type, a JSON value whose object keys are out of order) is
// decoded and written through event_json_text() instead. Returns the number
// of events written that way. Throws CorruptionError as decode_commit_body
// does (nothing is appended then). Thread-safety: reads `body` only.
std::size_t append_commit_json_texts(
    std::uint64_t first_lsn, std::int64_t timestamp_ms, std::size_t event_count,
    std::string_view body, std::uint64_t from_lsn, std::uint64_t to_lsn,
    std::vector<EventJsonText>& out);

}  // namespace wfstore
