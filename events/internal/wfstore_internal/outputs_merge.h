// The merge rule of merge_outputs() (model.h) worked on CBOR bytes: stage
// outputs are added in merge order without being decoded, and the result is
// assembled as one CBOR map and decoded once.

#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <nlohmann/json.hpp>

#include "wfstore/json.h"

namespace wfstore::internal {

// Merges outputs objects with merge_outputs()'s rule: for each top-level key
// of the next object, when the merged value and the new value are both arrays,
// each new item not already in the merged array (nlohmann's ==, the array
// growing as it goes) is appended; otherwise the new value replaces the old.
// A next value that is not an object is skipped.
//
// Items are compared by their bytes; where the bytes differ and either item
// holds something whose bytes do not decide nlohmann's == (a float, a map, a
// non-minimal head, an unsigned integer above INT64_MAX), both are decoded and
// compared with ==.
//
// The added bytes are borrowed, not copied: they must stay valid and unchanged
// until take(). Not thread-safe.
class OutputsMerge {
 public:
  // Adds the CBOR encoding of `outputs` (Json::cbor(): the Json must not be
  // changed before take()).
  void add(const Json& outputs) { add_cbor(outputs.cbor()); }
  // Adds one CBOR item as nlohmann::json::to_cbor writes it (a Json's bytes):
  // what the merge decodes is decoded as nlohmann::json::from_cbor decodes
  // it. Throws CorruptionError where the bytes end early or hold something
  // other than the items to_cbor writes, and never reads outside `cbor`.
  void add_cbor(std::string_view cbor) { add_bytes(cbor, false); }
  // Adds one CBOR item read from the views and not checked, with add_cbor's
  // walk. From then on what the merge decodes (items compared as values, the
  // answer) is checked as it is decoded, as Json::from_cbor checks (but for
  // the size limit, which each stored value had), and an item that is not an
  // object is checked whole.
  void add_stored(std::string_view cbor) { add_bytes(cbor, true); }

  // The merged object ({} if nothing was added), decoded once. Throws
  // CorruptionError where bytes added by add_stored that reach it are not a
  // JSON value's (invalid UTF-8, binary, tags, too deep, ...). Leaves the
  // merge empty.
  nlohmann::json take();

 private:
  struct Item {
    std::string_view bytes;
    // Whether equal values have equal bytes (see above).
    bool canonical = true;
  };
  struct Entry {
    std::string_view key;       // the key's text
    std::string_view key_item;  // the key's whole CBOR item
    Item value;                 // the last value, while `items` is unused
    bool is_array = false;
    // The array's items once the array took a merge; then `value` is stale.
    bool expanded = false;
    std::vector<Item> items;
    // items[i] decoded, once a comparison needed it (parallel to items).
    std::vector<std::optional<nlohmann::json>> decoded;
  };

  void add_bytes(std::string_view cbor, bool unchecked);
  Entry& entry(std::string_view key, std::string_view key_item);
  void merge_array(Entry& entry, const Item& array);
  // An item (or the answer) as a value, checked as it is decoded when
  // `checked` (add_stored was used).
  static nlohmann::json decode(std::string_view item, bool checked);

  // Whether add_stored added bytes since the last take().
  bool checked_ = false;

  std::vector<Entry> entries_;
  // key -> index in entries_, kept once there are many keys.
  std::unordered_map<std::string_view, std::size_t> index_;
  // The next object's entries (reused between add_cbor calls).
  struct Pending {
    std::string_view key;
    std::string_view key_item;
    Item value;
  };
  std::vector<Pending> pending_;
  // The items of the array being merged (reused between merge_array calls).
  std::vector<Item> added_;
};

}  // namespace wfstore::internal
