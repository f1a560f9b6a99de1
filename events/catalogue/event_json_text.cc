// event_json_text: the text of event_to_json(event).dump() written straight
// into one string, without building the nlohmann tree first. It walks the same
// field tables (fields.h) with the same rules as event_json.cc's
// to_json_value, and reproduces nlohmann's serializer byte for byte: object
// members in std::string order of their names (nlohmann keeps objects in a
// std::map), no whitespace, its string escapes, integers in decimal. JSON
// values (contexts, outputs, ...) are dumped by nlohmann itself.

#include "wfstore_internal/event_json_text.h"

#include <algorithm>
#include <array>
#include <charconv>
#include <cstddef>
#include <cstdint>
#include <map>
#include <numeric>
#include <set>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <variant>
#include <vector>

#include <nlohmann/json.hpp>

#include "wfstore/event.h"
#include "wfstore/model.h"

#include "events/catalogue/fields.h"
#include "events/catalogue/type_traits.h"

namespace wfstore {
namespace {

// Thrown by append_string for a string that is not UTF-8; event_json_text
// then lets nlohmann's dump() report it the way it does (type_error 316).
struct NotUtf8 {};

// The length of the well-formed UTF-8 sequence starting at the lead byte
// p[0] >= 0x80 (Unicode Table 3-7, what nlohmann's decoder accepts: no
// overlong forms, no surrogates, nothing above U+10FFFF), or 0 if there is
// none.
std::size_t utf8_sequence_length(const unsigned char* p,
                                 const unsigned char* end) {
  const auto avail = static_cast<std::size_t>(end - p);
  const unsigned char lead = p[0];
  const auto cont = [](unsigned char c) { return c >= 0x80 && c <= 0xBF; };
  if (lead >= 0xC2 && lead <= 0xDF) {
    return avail >= 2 && cont(p[1]) ? 2 : 0;
  }
  if (lead >= 0xE0 && lead <= 0xEF) {
    if (avail < 3) return 0;
    const unsigned char lo = lead == 0xE0 ? 0xA0 : 0x80;
    const unsigned char hi = lead == 0xED ? 0x9F : 0xBF;
    return p[1] >= lo && p[1] <= hi && cont(p[2]) ? 3 : 0;
  }
  if (lead >= 0xF0 && lead <= 0xF4) {
    if (avail < 4) return 0;
    const unsigned char lo = lead == 0xF0 ? 0x90 : 0x80;
    const unsigned char hi = lead == 0xF4 ? 0x8F : 0xBF;
    return p[1] >= lo && p[1] <= hi && cont(p[2]) && cont(p[3]) ? 4 : 0;
  }
  return 0;
}

// Per byte: 0 copied as is, 1 escaped, 2 the lead of a multi-byte sequence.
constexpr std::array<std::uint8_t, 256> kByteClass = [] {
  std::array<std::uint8_t, 256> table{};
  for (std::size_t c = 0; c < 0x20; ++c) table[c] = 1;
  table['"'] = 1;
  table['\\'] = 1;
  for (std::size_t c = 0x80; c < 0x100; ++c) table[c] = 2;
  return table;
}();

// Appends `s` as a JSON string the way nlohmann's dump() writes it with its
// defaults (ensure_ascii off): \" \\ \b \f \n \r \t, other control characters
// as \u00xx in lowercase hex, everything else (0x7f, multi-byte UTF-8) as is.
// Throws NotUtf8 for a string that is not UTF-8.
void append_string(std::string& out, std::string_view s) {
  static constexpr char kHex[] = "0123456789abcdef";
  out.push_back('"');
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const auto* const end = p + s.size();
  const auto* run = p;  // the start of the bytes not yet appended
  while (p != end) {
    const std::uint8_t cls = kByteClass[*p];
    if (cls == 0) {
      ++p;
      continue;
    }
    if (cls == 2) {
      const std::size_t n = utf8_sequence_length(p, end);
      if (n == 0) throw NotUtf8{};
      p += n;
      continue;
    }
    out.append(reinterpret_cast<const char*>(run),
               static_cast<std::size_t>(p - run));
    switch (*p) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\b':
        out += "\\b";
        break;
      case '\f':
        out += "\\f";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default: {
        const char escape[] = {'\\', 'u',           '0',
                               '0',  kHex[*p >> 4], kHex[*p & 0xF]};
        out.append(escape, sizeof escape);
        break;
      }
    }
    run = ++p;
  }
  out.append(reinterpret_cast<const char*>(run),
             static_cast<std::size_t>(p - run));
  out.push_back('"');
}

template <typename Int>
void append_integer(std::string& out, Int v) {
  char buffer[24];
  const auto result = std::to_chars(buffer, buffer + sizeof buffer, v);
  out.append(buffer, result.ptr);
}

template <typename T>
void append_value(std::string& out, const T& v);

// The most fields a struct's table holds (StageExecution has 27).
constexpr std::size_t kMaxFields = 40;

// A struct's members in the order nlohmann's object keeps them: the i-th
// member written is field index[i] of the field table, introduced by
// keys[i] ("name":). Made once per type.
struct MemberOrder {
  std::vector<std::string> keys;
  std::vector<std::size_t> index;
};

template <typename T>
const MemberOrder& member_order(const T& v) {
  // Field names do not depend on the value; `v` only gives visit_fields
  // something to walk.
  static const MemberOrder kOrder = [&v] {
    std::vector<std::string_view> names;
    auto collect = [&names](std::string_view name, const auto&) {
      names.push_back(name);
    };
    fields::visit_fields(collect, v);
    if (names.size() > kMaxFields) {
      throw std::logic_error("event_json_text: a field table over kMaxFields");
    }
    MemberOrder result;
    result.index.resize(names.size());
    std::iota(result.index.begin(), result.index.end(), std::size_t{0});
    std::stable_sort(
        result.index.begin(), result.index.end(),
        [&names](std::size_t a, std::size_t b) { return names[a] < names[b]; });
    for (std::size_t i : result.index) {
      std::string key;
      append_string(key, names[i]);
      key.push_back(':');
      result.keys.push_back(std::move(key));
    }
    return result;
  }();
  return kOrder;
}

// One field of a struct being written: its value and the writer for its type.
struct FieldRef {
  const void* value = nullptr;
  void (*append)(std::string&, const void*) = nullptr;
};

template <typename T>
void append_erased(std::string& out, const void* v) {
  append_value(out, *static_cast<const T*>(v));
}

template <typename T>
void append_struct(std::string& out, const T& v) {
  const MemberOrder& order = member_order(v);
  std::array<FieldRef, kMaxFields> refs;
  std::size_t count = 0;
  auto collect = [&refs, &count](std::string_view, const auto& value) {
    using U = std::remove_cv_t<std::remove_reference_t<decltype(value)>>;
    refs[count++] = {&value, &append_erased<U>};
  };
  fields::visit_fields(collect, v);
  out.push_back('{');
  for (std::size_t i = 0; i < count; ++i) {
    if (i != 0) out.push_back(',');
    out += order.keys[i];
    const FieldRef& ref = refs[order.index[i]];
    ref.append(out, ref.value);
  }
  out.push_back('}');
}

template <typename T>
void append_value(std::string& out, const T& v) {
  if constexpr (std::is_same_v<T, WorkflowStatus>) {
    append_string(out, status_name(v));
  } else if constexpr (std::is_same_v<T, WorkflowType>) {
    append_string(out, workflow_type_name(v));
  } else if constexpr (std::is_same_v<T, SyntheticStageOwner>) {
    append_string(out, synthetic_stage_owner_name(v));
  } else if constexpr (std::is_same_v<T, JoinType>) {
    append_string(out, join_type_name(v));
  } else if constexpr (std::is_same_v<T, SplitType>) {
    append_string(out, split_type_name(v));
  } else if constexpr (std::is_same_v<T, Json>) {
    out += v.value().dump();
  } else if constexpr (IsOptional<T>::value) {
    if (v) {
      append_value(out, *v);
    } else {
      out += "null";
    }
  } else if constexpr (IsVector<T>::value ||
                       std::is_same_v<T, std::set<std::string>>) {
    out.push_back('[');
    bool first = true;
    for (const auto& item : v) {
      if (!first) out.push_back(',');
      first = false;
      append_value(out, item);
    }
    out.push_back(']');
  } else if constexpr (std::is_same_v<T, std::map<std::string, std::string>>) {
    // std::map orders its keys as nlohmann's object does.
    out.push_back('{');
    bool first = true;
    for (const auto& [key, value] : v) {
      if (!first) out.push_back(',');
      first = false;
      append_string(out, key);
      out.push_back(':');
      append_string(out, value);
    }
    out.push_back('}');
  } else if constexpr (fields::HasFieldTable<T>) {
    append_struct(out, v);
  } else if constexpr (std::is_same_v<T, std::string>) {
    append_string(out, v);
  } else if constexpr (std::is_same_v<T, bool>) {
    out += v ? "true" : "false";
  } else {
    static_assert(std::is_same_v<T, std::int64_t> ||
                  std::is_same_v<T, std::uint64_t>);
    append_integer(out, v);
  }
}

}  // namespace

std::string event_json_text(const Event& event) {
  std::string out;
  out.reserve(1024);
  try {
    // The envelope's members in std::string order of their names.
    out += "{\"audit\":";
    append_value(out, event.audit);
    out += ",\"commit_id\":";
    append_integer(out, event.commit_id);
    out += ",\"lsn\":";
    append_integer(out, event.lsn);
    out += ",\"payload\":";
    std::visit([&out](const auto& payload) { append_struct(out, payload); },
               event.payload);
    out += ",\"schema_version\":";
    append_integer(out, event.schema_version());
    out += ",\"timestamp\":";
    append_integer(out, event.timestamp_ms);
    out += ",\"type\":";
    append_string(out, event_type_name(event.type()));
    out += ",\"workflow_id\":";
    append_string(out, event.workflow_id);
    out.push_back('}');
  } catch (const NotUtf8&) {
    // dump() throws its own error (type_error 316) for such a string.
    return event_to_json(event).dump();
  }
  return out;
}

}  // namespace wfstore
