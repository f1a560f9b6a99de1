// The event codec's value encodings (the grammar's "value" rules in
// wfstore_internal/event_codec.h): put() writes and get() reads one value of a
// model or payload type, a struct as its fields in the order of its field table
// (fields.h). Private to the codec and its tests.

#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "wfstore/json.h"
#include "wfstore/model.h"

#include "events/catalogue/codec_primitives.h"
#include "events/catalogue/fields.h"
#include "events/catalogue/type_traits.h"

namespace wfstore::codec {

// The smallest encoding of a list item: no item is shorter than one byte.
inline constexpr std::size_t kMinItemBytes = 1;

template <typename Enum>
std::optional<Enum> enum_from_int(std::uint8_t value) {
  if constexpr (std::is_same_v<Enum, WorkflowStatus>) {
    return status_from_int(value);
  } else {
    constexpr std::uint8_t kCount = [] {
      if constexpr (std::is_same_v<Enum, WorkflowType>) return 2;
      if constexpr (std::is_same_v<Enum, SyntheticStageOwner>) return 2;
      if constexpr (std::is_same_v<Enum, JoinType>) return 5;
      if constexpr (std::is_same_v<Enum, SplitType>) return 2;
    }();
    if (value >= kCount) return std::nullopt;
    return static_cast<Enum>(value);
  }
}

// The names of T's fields in corruption messages, in table order:
// "<prefix>.<name>" for a model struct, the bare name for a payload. Built once
// per type.
template <typename T>
const std::vector<std::string>& field_names() {
  static const std::vector<std::string> kNames = [] {
    std::vector<std::string> out;
    const T probe{};
    auto collect = [&](std::string_view name, const auto&) {
      out.push_back(fields::kFieldPrefix<T>.empty()
                        ? std::string(name)
                        : fmt::format("{}.{}", fields::kFieldPrefix<T>, name));
    };
    fields::visit_fields(collect, probe);
    return out;
  }();
  return kNames;
}

template <typename T>
void put(Writer& w, const T& v);

// Writes each field of a table.
struct Out {
  Writer& w;
  template <typename T>
  void operator()(std::string_view, const T& v) {
    put(w, v);
  }
};

template <typename T>
void put(Writer& w, const T& v) {
  if constexpr (std::is_same_v<T, std::string>) {
    w.bytes(v);
  } else if constexpr (std::is_same_v<T, bool>) {
    w.boolean(v);
  } else if constexpr (std::is_same_v<T, std::int64_t>) {
    w.i64(v);
  } else if constexpr (std::is_same_v<T, std::uint64_t>) {
    w.u64(v);
  } else if constexpr (std::is_enum_v<T>) {
    static_assert(sizeof(T) == 1);
    w.u8(static_cast<std::uint8_t>(v));
  } else if constexpr (std::is_same_v<T, Json>) {
    w.json(v);
  } else if constexpr (IsOptional<T>::value) {
    w.boolean(v.has_value());
    if (v.has_value()) put(w, *v);
  } else if constexpr (IsVector<T>::value ||
                       std::is_same_v<T, std::set<std::string>>) {
    w.varint(v.size());
    for (const auto& item : v) put(w, item);
  } else if constexpr (std::is_same_v<T, std::map<std::string, std::string>>) {
    w.varint(v.size());
    for (const auto& [key, value] : v) {
      w.bytes(key);
      w.bytes(value);
    }
  } else {
    Out out{w};
    fields::visit_fields(out, v);
  }
}

template <typename T>
void get(Reader& r, std::string_view field, T& v);

// Reads each field of T's table, naming it as field_names<T>() does.
template <typename T>
struct In {
  Reader& r;
  const std::vector<std::string>& names = field_names<T>();
  std::size_t next = 0;
  template <typename U>
  void operator()(std::string_view, U& v) {
    get(r, names[next++], v);
  }
};

// Reads a struct with a field table.
template <typename T>
void get_fields(Reader& r, T& v) {
  In<T> in{r};
  fields::visit_fields(in, v);
}

template <typename T>
void get(Reader& r, std::string_view field, T& v) {
  if constexpr (std::is_same_v<T, std::string>) {
    v = r.str(field);
  } else if constexpr (std::is_same_v<T, bool>) {
    v = r.boolean(field);
  } else if constexpr (std::is_same_v<T, std::int64_t>) {
    v = r.i64(field);
  } else if constexpr (std::is_same_v<T, std::uint64_t>) {
    v = r.u64(field);
  } else if constexpr (std::is_enum_v<T>) {
    const std::uint8_t raw = r.u8(field);
    const std::optional<T> value = enum_from_int<T>(raw);
    if (!value) r.fail(field, fmt::format("unknown enum value {}", raw));
    v = *value;
  } else if constexpr (std::is_same_v<T, Json>) {
    v = r.json(field);
  } else if constexpr (IsOptional<T>::value) {
    if (r.boolean(field)) {
      v.emplace();
      get(r, field, *v);
    } else {
      v.reset();
    }
  } else if constexpr (IsVector<T>::value) {
    const std::size_t n = r.count(field, kMinItemBytes);
    v.clear();
    // No reserve(n): n is bounded by the input, but not by the item size.
    for (std::size_t i = 0; i < n; ++i) get(r, field, v.emplace_back());
  } else if constexpr (std::is_same_v<T, std::set<std::string>>) {
    const std::size_t n = r.count(field, kMinItemBytes);
    v.clear();
    for (std::size_t i = 0; i < n; ++i) {
      std::string item = r.str(field);
      // Sorted and unique, so that re-encoding gives the same bytes.
      if (!v.empty() && !(*v.rbegin() < item)) r.fail(field, "not sorted");
      v.emplace_hint(v.end(), std::move(item));
    }
  } else if constexpr (std::is_same_v<T, std::map<std::string, std::string>>) {
    const std::size_t n = r.count(field, 2 * kMinItemBytes);
    v.clear();
    for (std::size_t i = 0; i < n; ++i) {
      std::string key = r.str(field);
      if (!v.empty() && !(v.rbegin()->first < key)) {
        r.fail(field, "keys not sorted");
      }
      std::string value = r.str(field);
      v.emplace_hint(v.end(), std::move(key), std::move(value));
    }
  } else {
    get_fields(r, v);
  }
}

}  // namespace wfstore::codec
