// Fuzz target `cbor`: the stored-JSON decoder, wfstore::Json over arbitrary
// CBOR bytes (what the log and the views hold for every JSON field).
//
// Input: the CBOR bytes. A CorruptionError from Json::from_cbor is an accepted
// answer. Properties checked (a violation aborts), for bytes from_cbor
// accepts: the lazy decode does not throw and gives what nlohmann's parser
// gives; the bytes come back unchanged while the value is untouched; the
// value passes validate_json, the check every entry point applies to JSON a
// caller sends (the limits on the two paths agree); its fresh encoding is
// accepted by from_cbor again and decodes to an equal value; copies are
// copy-on-write (mutating one leaves the others' bytes and value alone).

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "wfstore/errors.h"
#include "wfstore/json.h"

#include "tests/fuzz/fuzz_check.h"

namespace wfstore {

void fuzz_string(std::string_view bytes) {
  Json json;
  try {
    json = Json::from_cbor(std::string(bytes), "fuzz");
  } catch (const CorruptionError&) {
    return;
  }
  FUZZ_CHECK(!json.is_decoded(), "from_cbor does not decode");
  const Json copy = json;
  FUZZ_CHECK(json.cbor() == bytes, "undecoded bytes come back unchanged");
  const nlohmann::json& value = json.value();
  FUZZ_CHECK(json.cbor() == bytes, "decoded bytes come back unchanged");
  // The checker's own decode (Json::value()) gives nlohmann's parse exactly.
  const nlohmann::json theirs = nlohmann::json::from_cbor(bytes);
  FUZZ_CHECK(theirs == value && theirs.dump() == value.dump() &&
                 theirs.type() == value.type(),
             "the one-pass decode equals nlohmann's parse");
  FUZZ_CHECK(copy == json, "a copy equals its original");

  // What a caller could send: the same value, parsed.
  const Json parsed(value);
  validate_json(parsed, "fuzz");
  std::string fresh;
  nlohmann::json::to_cbor(value, fresh);
  const Json reread = Json::from_cbor(fresh, "fuzz");
  FUZZ_CHECK(reread.value() == value,
             "a fresh encoding decodes to the same value");
  FUZZ_CHECK(parsed.cbor() == fresh, "a parsed Json encodes as to_cbor");
  (void)value.dump(-1, ' ', false, nlohmann::json::error_handler_t::strict);

  Json mutated = copy;
  mutated.mutable_value() = nlohmann::json::array({value, "changed"});
  FUZZ_CHECK(copy.cbor() == bytes && json.cbor() == bytes,
             "mutating a copy leaves the other copies' bytes alone");
  FUZZ_CHECK(copy.value() == value,
             "mutating a copy leaves the other copies' value alone");
  FUZZ_CHECK(mutated.value()[0] == value, "a mutated copy holds its change");
}

}  // namespace wfstore
