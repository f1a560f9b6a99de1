// The check Json::from_cbor makes, for readers that borrow a JSON value's
// CBOR bytes instead of wrapping a copy of them.

#pragma once

#include <cstddef>
#include <string_view>

#include <nlohmann/json.hpp>

#include "wfstore/limits.h"

namespace wfstore::internal {

// Returns if `cbor` is what Json::from_cbor accepts (one well-formed CBOR item
// within the JSON limits, no binary or non-finite values, no indefinite
// lengths), so that nlohmann::json::from_cbor of it can neither fail nor
// exhaust memory; otherwise throws CorruptionError naming `field`. Allocates
// nothing beyond a stack of open containers.
void check_json_cbor(std::string_view cbor, std::string_view field);

// check_json_cbor and the parse in one pass: returns what
// nlohmann::json::from_cbor returns for the bytes check_json_cbor accepts
// (unsigned and negative integers, doubles, UTF-8 strings, arrays, objects in
// which the last of equal keys wins, booleans, null); throws CorruptionError
// naming `field` for the bytes it refuses. `max_bytes` replaces the size
// limit (kMaxJsonBytes) for a value assembled from several checked ones.
nlohmann::json decode_json_cbor(std::string_view cbor, std::string_view field,
                                std::size_t max_bytes = kMaxJsonBytes);

}  // namespace wfstore::internal
