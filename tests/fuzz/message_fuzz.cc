// Fuzz target `message`: the queue message wire-JSON parser.
//
// Input: JSON text. It goes through message_from_wire_text() under a type name
// the input's size selects (the text entry point: anything but a
// wfstore::Error is a finding), and, when nlohmann parses it, through
// message_from_wire() under every type name, both as a whole and, for the
// fixture shape
// {"type": .., "wire": .., "wire_defaults": ..} of
// tests/data/fixtures/messages/, as its wire payloads. Any wfstore::Error is an
// accepted answer.
//
// Properties checked (a violation aborts): a parsed message's wire form
// (message_to_wire) renders as JSON text and parses back, under the same type
// name, to an equal message; the type name a message reports is the one it
// was parsed under.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "wfstore/errors.h"
#include "wfstore/message.h"

#include "tests/fuzz/fuzz_check.h"

namespace wfstore {
namespace {

void check_parsed(std::string_view type_name, const Message& message) {
  FUZZ_CHECK(message_type_name(message) == type_name,
             "a message reports the type it was parsed under");
  try {
    validate_message(message);
  } catch (const Error&) {
  }
  nlohmann::json wire;
  try {
    wire = message_to_wire(message, 1700000000123);
  } catch (const Error&) {
    return;
  }
  const std::string text = wire.dump();
  const Message back = message_from_wire_text(type_name, text);
  FUZZ_CHECK(back == message, "a message survives its wire form");
}

void parse_as_every_type(const nlohmann::json& payload) {
  for (std::string_view type_name : message_type_names()) {
    Message message;
    try {
      message = message_from_wire(type_name, payload);
    } catch (const Error&) {
      continue;
    }
    check_parsed(type_name, message);
  }
}

}  // namespace

void fuzz_string(std::string_view text) {
  // The text entry point differs from message_from_wire() only in its parse,
  // so one type name (chosen by the input) is enough there.
  const std::vector<std::string_view>& names = message_type_names();
  try {
    message_from_wire_text(names[text.size() % names.size()], text);
  } catch (const Error&) {
  }
  const nlohmann::json json = nlohmann::json::parse(text, nullptr, false);
  if (json.is_discarded()) return;
  parse_as_every_type(json);
  if (!json.is_object()) return;
  for (const char* key : {"wire", "wire_defaults"}) {
    const auto it = json.find(key);
    if (it != json.end()) parse_as_every_type(*it);
  }
}

}  // namespace wfstore
