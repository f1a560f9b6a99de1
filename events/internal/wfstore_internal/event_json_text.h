// event_json_text: the JSON text of an event, written without the nlohmann tree.
#pragma once

#include <string>

#include "wfstore/event.h"

namespace wfstore {

// The bytes of event_to_json(event).dump(), written directly: the same members
// through the same field tables, in the order and with the escapes of
// nlohmann's dump(), without building the JSON tree (the Kafka exporter's
// record values). Decodes lazily held JSON values. Throws
// nlohmann::json::type_error (316), as dump() does, for a string that is not
// UTF-8 (the store admits none). Thread-safety: a const read of `event`.
std::string event_json_text(const Event& event);

}  // namespace wfstore
