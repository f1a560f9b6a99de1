// wfstore::Json, the value type of every JSON field of the model (contexts,
// outputs, exception details, trigger parts, message payloads).
//
// A Json holds either CBOR bytes (as read from the log or the views) or a
// parsed nlohmann::json value, and decodes the bytes on first access, so
// reading a workflow does not pay for JSON nobody looks at. A value that was
// never accessed re-encodes to exactly the bytes it was created from.
//
// Copies are cheap: they share the bytes and the parsed value until one of
// them is changed through mutable_value(), which then takes a private copy
// (copy-on-write). A copy taken after mutable_value() is a deep copy, so a
// reference from mutable_value() only ever changes its own Json.
//
// Thread-safety: like a standard value type. Concurrent const access to one
// Json (including the first, decoding access) is safe; any non-const access
// requires external synchronization.

#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace wfstore {

class Json {
 public:
  // An empty JSON object, {}. Allocates nothing.
  Json();
  // Holds `value` as parsed. Not validated here: entry points call
  // validate_json().
  Json(nlohmann::json value);  // NOLINT(google-explicit-constructor): a JSON
                               // literal is a Json
  Json(const Json& other);
  Json(Json&& other) noexcept;
  Json& operator=(const Json& other);
  Json& operator=(Json&& other) noexcept;
  ~Json();

  // Wraps CBOR bytes without decoding them. Checks that `cbor` is one
  // well-formed CBOR item within the limits (kMaxJsonBytes, kMaxJsonDepth, no
  // binary or non-finite values, no indefinite lengths, sizes bounded by the
  // input) in one pass that allocates nothing beyond `cbor`, so a later decode
  // can neither fail nor exhaust memory. Throws CorruptionError naming `field`
  // when it is not.
  static Json from_cbor(std::string cbor, std::string_view field = "json");

  // The parsed value; decodes the CBOR bytes on the first call. The reference
  // is valid until the next non-const access.
  const nlohmann::json& value() const;
  // The parsed value for modification; decodes first and forgets the original
  // bytes.
  nlohmann::json& mutable_value();

  // The CBOR encoding: the original bytes if the value was never mutably
  // accessed, otherwise a fresh encoding (made once, then kept). The
  // reference is valid until the next non-const access.
  const std::string& cbor() const;

  // True once the value has been decoded (or was constructed parsed).
  bool is_decoded() const noexcept;

  // Compares values (decoding both if needed).
  friend bool operator==(const Json& a, const Json& b);
  friend bool operator!=(const Json& a, const Json& b) { return !(a == b); }

 private:
  struct State;
  // A private copy of `other`'s bytes and value.
  static std::shared_ptr<State> deep_copy(const State& other);
  // Null means {}. Shared between copies; see State in json.cc.
  std::shared_ptr<State> state_;
};

// Throws InvalidArgumentError naming `field` if `value` is nested deeper than
// kMaxJsonDepth, encodes to more than kMaxJsonBytes of CBOR, or holds a binary,
// NaN or infinite value.
void validate_json(const Json& value, std::string_view field);

}  // namespace wfstore
