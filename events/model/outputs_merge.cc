// OutputsMerge: merge_outputs()'s rule over CBOR bytes. Each added object's
// top-level entries are walked as byte spans (key text, value item), the
// merged state keeps spans, and take() writes one CBOR map of them and decodes
// it once.

#include "wfstore_internal/outputs_merge.h"

#include <algorithm>
#include <cstdint>
#include <limits>
#include <utility>

#include <fmt/format.h>

#include "wfstore/errors.h"

#include "wfstore_internal/cbor_head.h"
#include "wfstore_internal/json_check.h"

namespace wfstore::internal {
namespace {

// From this many keys on, entries are found through a hash index.
constexpr std::size_t kIndexFrom = 16;

[[noreturn]] void malformed(std::string_view what) {
  throw CorruptionError(
      fmt::format("merging stage outputs: malformed CBOR value: {}", what));
}

const unsigned char* bytes_of(std::string_view s) {
  return reinterpret_cast<const unsigned char*>(s.data());
}

std::string_view span(const unsigned char* from, const unsigned char* to) {
  return {reinterpret_cast<const char*>(from),
          static_cast<std::size_t>(to - from)};
}

void head_or_throw(const unsigned char*& p, const unsigned char* end,
                   cbor::Head& head) {
  switch (cbor::read_head(p, end, head)) {
    case cbor::HeadStatus::kOk:
      return;
    case cbor::HeadStatus::kTruncated:
      malformed("truncated");
    case cbor::HeadStatus::kIndefinite:
      malformed("indefinite length or reserved value");
  }
}

// Skips the item at p (bounds-checked), returning whether its bytes decide
// nlohmann's ==: no float, map, binary or tag, every head minimal, no unsigned
// integer above INT64_MAX (nlohmann compares such a value with a negative
// integer after a cast to int64).
bool skip_item(const unsigned char*& p, const unsigned char* end) {
  bool canonical = true;
  std::uint64_t pending = 1;  // items still to skip
  while (pending > 0) {
    --pending;
    cbor::Head h;
    head_or_throw(p, end, h);
    const auto remaining = static_cast<std::uint64_t>(end - p);
    if (h.major != 7 && !cbor::is_minimal(h.info, h.argument)) {
      canonical = false;
    }
    switch (h.major) {
      case 0:
        if (h.argument > static_cast<std::uint64_t>(
                             std::numeric_limits<std::int64_t>::max())) {
          canonical = false;
        }
        break;
      case 1:
        break;
      case 2:
      case 3:
        if (h.argument > remaining) malformed("truncated string");
        p += h.argument;
        if (h.major == 2) canonical = false;
        break;
      case 4:
      case 5:
        // Every item takes at least one byte.
        if (h.argument > remaining ||
            (h.major == 5 && 2 * h.argument > remaining) ||
            pending > remaining) {
          malformed("container larger than its input");
        }
        pending += h.major == 5 ? 2 * h.argument : h.argument;
        if (h.major == 5) canonical = false;
        break;
      case 6:
        ++pending;  // the tagged item
        canonical = false;
        break;
      default:
        switch (h.info) {
          case 20:
          case 21:
          case 22:
            break;
          case 25:
          case 26:
          case 27:
            canonical = false;
            break;
          default:
            malformed("unsupported simple value");
        }
        break;
    }
  }
  return canonical;
}

// The JSON type an item decodes to, where types other than numbers never
// compare equal: 0 number, 1 string, 2 binary, 3 array, 4 object, 5 boolean,
// 6 null.
int kind_of(std::string_view item) {
  const std::uint8_t initial = bytes_of(item)[0];
  switch (initial >> 5) {
    case 0:
    case 1:
      return 0;
    case 2:
    case 6:
      return 2;
    case 3:
      return 1;
    case 4:
      return 3;
    case 5:
      return 4;
    default:
      if (initial == 0xf4 || initial == 0xf5) return 5;
      if (initial == 0xf6) return 6;
      return 0;
  }
}

void append_head(std::string& out, std::uint8_t major, std::uint64_t n) {
  const auto initial = static_cast<char>(major << 5);
  if (n < 24) {
    out.push_back(static_cast<char>(initial | static_cast<char>(n)));
    return;
  }
  int width = 8;
  char info = 27;
  if (n <= 0xff) {
    width = 1;
    info = 24;
  } else if (n <= 0xffff) {
    width = 2;
    info = 25;
  } else if (n <= 0xffffffff) {
    width = 4;
    info = 26;
  }
  out.push_back(static_cast<char>(initial | info));
  for (int i = width - 1; i >= 0; --i) {
    out.push_back(static_cast<char>((n >> (8 * i)) & 0xff));
  }
}

}  // namespace

nlohmann::json OutputsMerge::decode(std::string_view item, bool checked) {
  if (checked) {
    // The answer may exceed one value's size limit: each part was within it.
    return internal::decode_json_cbor(item, "stage outputs",
                                      std::numeric_limits<std::size_t>::max());
  }
  return nlohmann::json::from_cbor(item, /*strict=*/true,
                                   /*allow_exceptions=*/true,
                                   nlohmann::json::cbor_tag_handler_t::store);
}

OutputsMerge::Entry& OutputsMerge::entry(std::string_view key,
                                         std::string_view key_item) {
  if (index_.empty()) {
    for (Entry& e : entries_) {
      if (e.key == key) return e;
    }
  } else {
    const auto found = index_.find(key);
    if (found != index_.end()) return entries_[found->second];
  }
  Entry& added = entries_.emplace_back();
  added.key = key;
  added.key_item = key_item;
  if (!index_.empty()) {
    index_.emplace(key, entries_.size() - 1);
  } else if (entries_.size() >= kIndexFrom) {
    for (std::size_t i = 0; i < entries_.size(); ++i) {
      index_.emplace(entries_[i].key, i);
    }
  }
  return added;
}

void OutputsMerge::add_bytes(std::string_view cbor, bool unchecked) {
  checked_ |= unchecked;
  const unsigned char* p = bytes_of(cbor);
  const unsigned char* const end = p + cbor.size();
  cbor::Head h;
  head_or_throw(p, end, h);
  if (h.major != 5) {
    // Not an object: contributes nothing, but damage must not pass for that.
    if (unchecked) internal::check_json_cbor(cbor, "stage outputs");
    return;
  }
  if (h.argument > static_cast<std::uint64_t>(end - p) / 2) {
    malformed("container larger than its input");
  }
  pending_.clear();
  bool increasing = true;
  for (std::uint64_t i = 0; i < h.argument; ++i) {
    const unsigned char* const key_start = p;
    cbor::Head k;
    head_or_throw(p, end, k);
    if (k.major != 3) malformed("object key is not a string");
    if (k.argument > static_cast<std::uint64_t>(end - p)) {
      malformed("truncated string");
    }
    p += k.argument;
    const std::string_view key = span(p - k.argument, p);
    const unsigned char* const value_start = p;
    const bool canonical = skip_item(p, end);
    if (!pending_.empty() && !(pending_.back().key < key)) increasing = false;
    pending_.push_back(
        {key, span(key_start, value_start), {span(value_start, p), canonical}});
  }
  if (p != end) malformed("trailing bytes");
  if (!increasing) {
    // As nlohmann decodes it: of equal keys the last counts.
    std::stable_sort(
        pending_.begin(), pending_.end(),
        [](const Pending& a, const Pending& b) { return a.key < b.key; });
    std::size_t kept = 0;
    for (std::size_t i = 0; i < pending_.size(); ++i) {
      if (i + 1 < pending_.size() && pending_[i + 1].key == pending_[i].key) {
        continue;
      }
      pending_[kept++] = pending_[i];
    }
    pending_.resize(kept);
  }
  for (const Pending& next : pending_) {
    Entry& e = entry(next.key, next.key_item);
    const bool is_array = bytes_of(next.value.bytes)[0] >> 5 == 4;
    if (e.is_array && is_array) {
      merge_array(e, next.value);
    } else {
      e.value = next.value;
      e.is_array = is_array;
      e.expanded = false;
      e.items.clear();
      e.decoded.clear();
    }
  }
}

void OutputsMerge::merge_array(Entry& entry, const Item& array) {
  // Splits an array the walk already checked into its items.
  const auto split = [](std::string_view bytes, std::vector<Item>& items) {
    const unsigned char* p = bytes_of(bytes);
    const unsigned char* const end = p + bytes.size();
    cbor::Head h;
    head_or_throw(p, end, h);
    for (std::uint64_t i = 0; i < h.argument; ++i) {
      const unsigned char* const start = p;
      const bool canonical = skip_item(p, end);
      items.push_back({span(start, p), canonical});
    }
  };
  if (!entry.expanded) {
    entry.items.clear();
    entry.decoded.clear();
    split(entry.value.bytes, entry.items);
    entry.expanded = true;
  }
  // Each item is decoded at most once per merge, kept items across merges:
  // comparisons of n new items with m kept ones decode n + m items, not n * m.
  entry.decoded.resize(entry.items.size());
  added_.clear();
  split(array.bytes, added_);
  for (const Item& item : added_) {
    const int kind = kind_of(item.bytes);
    std::optional<nlohmann::json> decoded;  // `item`, once needed
    bool present = false;
    for (std::size_t j = 0; j < entry.items.size(); ++j) {
      const Item& have = entry.items[j];
      if (have.bytes == item.bytes) {
        present = true;
        break;
      }
      if ((have.canonical && item.canonical) || kind_of(have.bytes) != kind) {
        continue;
      }
      if (!decoded) decoded = decode(item.bytes, checked_);
      if (!entry.decoded[j]) entry.decoded[j] = decode(have.bytes, checked_);
      if (*entry.decoded[j] == *decoded) {
        present = true;
        break;
      }
    }
    if (!present) {
      entry.items.push_back(item);
      entry.decoded.push_back(std::move(decoded));
    }
  }
}

nlohmann::json OutputsMerge::take() {
  std::size_t size = 9;
  for (const Entry& e : entries_) {
    size += e.key_item.size() + 9;
    if (e.expanded) {
      for (const Item& item : e.items) size += item.bytes.size();
    } else {
      size += e.value.bytes.size();
    }
  }
  std::string out;
  out.reserve(size);
  append_head(out, 5, entries_.size());
  for (const Entry& e : entries_) {
    out += e.key_item;
    if (e.expanded) {
      append_head(out, 4, e.items.size());
      for (const Item& item : e.items) out += item.bytes;
    } else {
      out += e.value.bytes;
    }
  }
  entries_.clear();
  index_.clear();
  // The merge is empty from here on, whether or not the answer decodes.
  const bool checked = std::exchange(checked_, false);
  return decode(out, checked);
}

}  // namespace wfstore::internal
