// Tests of OutputsMerge, merge_outputs()'s rule over CBOR bytes: it agrees
// with the rule written over nlohmann values (here, as the reference) on many
// random outputs, encoded the way nlohmann does and the long way (keys out of
// order, repeated keys, wider heads and floats than needed), and it rejects
// damaged bytes.

#include "wfstore_internal/outputs_merge.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "wfstore/errors.h"
#include "wfstore/json.h"
#include "wfstore/limits.h"
#include "wfstore/model.h"

namespace wfstore::internal {
namespace {

using nlohmann::json;

// The merge rule as written over nlohmann values: for each key of `next`,
// when both values are arrays append each item of `next`'s not yet present
// (the array grows as it goes); otherwise replace. A non-object `next` is
// skipped.
void reference_merge(json& into, const json& next) {
  if (!next.is_object()) return;
  if (!into.is_object()) into = json::object();
  for (const auto& [key, value] : next.items()) {
    const auto existing = into.find(key);
    if (existing != into.end() && existing->is_array() && value.is_array()) {
      for (const json& item : value) {
        bool present = false;
        for (const json& have : *existing) {
          if (have == item) {
            present = true;
            break;
          }
        }
        if (!present) existing->push_back(item);
      }
    } else {
      into[key] = value;
    }
  }
}

std::string to_cbor(const json& value) {
  std::string out;
  json::to_cbor(value, out);
  return out;
}

// Random values drawn from a small pool, so that equal items meet often:
// integers and the floats equal to them, -0.0 and 0.0, an unsigned integer
// above INT64_MAX and -1 (nlohmann compares them equal), strings, booleans,
// null, arrays and maps.
class Values {
 public:
  explicit Values(std::uint32_t seed) : rng_(seed) {}

  int below(int n) {
    return std::uniform_int_distribution<int>(0, n - 1)(rng_);
  }

  json scalar() {
    switch (below(12)) {
      case 0:
        return below(4);
      case 1:
        return static_cast<double>(below(4));
      case 2:
        return -below(3);
      case 3:
        return below(2) == 0 ? -0.0 : 0.0;
      case 4:
        return std::numeric_limits<std::uint64_t>::max();
      case 5:
        return -1;
      case 6:
        return 2.5;
      case 7:
        return json(std::string(1, static_cast<char>('a' + below(3))));
      case 8:
        return below(2) == 0;
      case 9:
        return nullptr;
      case 10:
        return 300 + below(2);  // a two-byte head
      default:
        return "item-" + std::to_string(below(3));
    }
  }

  json value(int depth) {
    const int pick = depth > 2 ? 0 : below(5);
    if (pick == 1 || pick == 2) {
      json array = json::array();
      const int n = below(4);
      for (int i = 0; i < n; ++i) array.push_back(value(depth + 1));
      return array;
    }
    if (pick == 3) {
      json map = json::object();
      const int n = below(3);
      for (int i = 0; i < n; ++i) {
        map[std::string(1, static_cast<char>('p' + below(3)))] =
            value(depth + 1);
      }
      return map;
    }
    return scalar();
  }

  // An outputs value: mostly an object over a few keys, sometimes empty,
  // sometimes not an object at all.
  json outputs() {
    const int pick = below(10);
    if (pick == 0) return value(1);  // often not an object
    if (pick == 1) return json::object();
    json map = json::object();
    const int n = 1 + below(4);
    for (int i = 0; i < n; ++i) {
      const std::string key(1, static_cast<char>('k' + below(4)));
      map[key] = below(3) == 0 ? value(1) : array();
    }
    return map;
  }

  json array() {
    json array = json::array();
    const int n = below(4);
    for (int i = 0; i < n; ++i) array.push_back(value(1));
    return array;
  }

  // `value` encoded the long way at random: map keys shuffled, heads wider
  // than needed, floats as doubles.
  void encode_loose(const json& value, std::string& out) {
    switch (value.type()) {
      case json::value_t::object: {
        std::vector<std::pair<std::string, const json*>> entries;
        for (const auto& [k, v] : value.items()) entries.emplace_back(k, &v);
        std::shuffle(entries.begin(), entries.end(), rng_);
        head(5, entries.size(), out);
        for (const auto& [k, v] : entries) {
          head(3, k.size(), out);
          out += k;
          encode_loose(*v, out);
        }
        return;
      }
      case json::value_t::array:
        head(4, value.size(), out);
        for (const json& item : value) encode_loose(item, out);
        return;
      case json::value_t::string: {
        const auto& s = value.get_ref<const std::string&>();
        head(3, s.size(), out);
        out += s;
        return;
      }
      case json::value_t::number_unsigned:
        head(0, value.get<std::uint64_t>(), out);
        return;
      case json::value_t::number_integer: {
        const auto v = value.get<std::int64_t>();
        if (v >= 0) {
          head(0, static_cast<std::uint64_t>(v), out);
        } else {
          head(1, static_cast<std::uint64_t>(-1 - v), out);
        }
        return;
      }
      case json::value_t::number_float:
        if (below(2) == 0) {
          out += to_cbor(value);
        } else {
          const auto d = value.get<double>();
          std::uint64_t bits = 0;
          std::memcpy(&bits, &d, sizeof bits);
          out.push_back(static_cast<char>(0xfb));
          for (int i = 7; i >= 0; --i) {
            out.push_back(static_cast<char>((bits >> (8 * i)) & 0xff));
          }
        }
        return;
      default:
        out += to_cbor(value);
        return;
    }
  }

  // An object's encoding with a key given twice (the first value is dropped
  // by nlohmann's decoder, so by the merge too).
  std::string with_repeated_key(const json& object) {
    std::string out;
    head(5, object.size() + 1, out);
    const std::string key = object.begin().key();
    head(3, key.size(), out);
    out += key;
    out += to_cbor(value(1));
    for (const auto& [k, v] : object.items()) {
      head(3, k.size(), out);
      out += k;
      encode_loose(v, out);
    }
    return out;
  }

 private:
  // A head, minimal or (at random) one or more sizes wider.
  void head(int major, std::uint64_t n, std::string& out) {
    int width = n < 24            ? 0
                : n <= 0xff       ? 1
                : n <= 0xffff     ? 2
                : n <= 0xffffffff ? 4
                                  : 8;
    if (width < 8 && below(4) == 0) width = width == 0 ? 1 : width * 2;
    const auto initial = static_cast<char>(major << 5);
    if (width == 0) {
      out.push_back(static_cast<char>(initial | static_cast<char>(n)));
      return;
    }
    const char info = width == 1 ? 24 : width == 2 ? 25 : width == 4 ? 26 : 27;
    out.push_back(static_cast<char>(initial | info));
    for (int i = width - 1; i >= 0; --i) {
      out.push_back(static_cast<char>((n >> (8 * i)) & 0xff));
    }
  }

  std::mt19937 rng_;
};

TEST(OutputsMergeTest, AgreesWithTheNlohmannRuleOnRandomOutputs) {
  Values values(20240611);
  int nontrivial = 0;
  for (int round = 0; round < 3000; ++round) {
    SCOPED_TRACE(round);
    const int n = values.below(6);
    std::vector<std::string> encodings;
    json expected = json::object();
    std::string trace;
    for (int i = 0; i < n; ++i) {
      const json outputs = values.outputs();
      std::string bytes;
      const int how = values.below(3);
      if (how == 0) {
        bytes = to_cbor(outputs);
      } else if (how == 1 || !outputs.is_object() || outputs.empty()) {
        values.encode_loose(outputs, bytes);
      } else {
        bytes = values.with_repeated_key(outputs);
      }
      const json decoded = json::from_cbor(bytes);
      trace += decoded.dump() + "\n";
      reference_merge(expected, decoded);
      encodings.push_back(std::move(bytes));
    }
    OutputsMerge merge;
    for (const std::string& bytes : encodings) merge.add_cbor(bytes);
    const json merged = merge.take();
    // dump() also tells -0.0 from 0.0: the same item must have been kept.
    EXPECT_EQ(merged.dump(), expected.dump()) << trace;
    EXPECT_EQ(merged, expected) << trace;
    if (expected.size() > 1) ++nontrivial;
  }
  EXPECT_GT(nontrivial, 1000);
}

TEST(OutputsMergeTest, MergeOutputsAgreesWithTheNlohmannRule) {
  Values values(7);
  for (int round = 0; round < 2000; ++round) {
    SCOPED_TRACE(round);
    json into = values.below(8) == 0 ? values.value(1) : values.outputs();
    json expected = into;
    const json next = values.outputs();
    reference_merge(expected, next);
    merge_outputs(into, next);
    EXPECT_EQ(into.dump(), expected.dump())
        << "next: " << next.dump() << " expected: " << expected.dump();
  }
}

TEST(OutputsMergeTest, ComparesItemsAsNlohmannDoes) {
  OutputsMerge merge;
  const Json a(json{{"l", {1, -0.0, json{{"a", 1}, {"b", 2}}, "x"}},
                    {"big", {std::numeric_limits<std::uint64_t>::max()}}});
  // 1.0 == 1, 0.0 == -0.0, the same map: none is added; -1 == 2^64-1 for
  // nlohmann.
  const Json b(json{{"l", {1.0, 0.0, json{{"b", 2}, {"a", 1}}, "y", "y"}},
                    {"big", {-1}}});
  merge.add(a);
  merge.add(b);
  EXPECT_EQ(
      merge.take().dump(),
      R"({"big":[18446744073709551615],"l":[1,-0.0,{"a":1,"b":2},"x","y"]})");
  EXPECT_EQ(merge.take(), json::object());
}

TEST(OutputsMergeTest, NonObjectsAndNothingGiveAnEmptyObject) {
  OutputsMerge merge;
  EXPECT_EQ(merge.take(), json::object());
  const Json list(json{1, 2});
  const Json text(json("s"));
  merge.add(list);
  merge.add(text);
  EXPECT_EQ(merge.take(), json::object());
}

// Values merged in memory (merge_outputs, get_context) are not stored
// values: NaN, a string that is not UTF-8, binary and a merged object larger
// than one stored value may allowed are merged as nlohmann decodes them. Bytes
// from the views (add_stored) are checked where decoded: the same NaN is refused.
TEST(OutputsMergeTest, InMemoryValuesAreNotHeldToTheStoredLimits) {
  json into = {{"n", {std::nan("")}}};
  merge_outputs(into, json{{"n", {1}}, {"s", "\xff"}});
  merge_outputs(into, json{{"b", json::binary({1, 2, 3})}});
  EXPECT_TRUE(std::isnan(into["n"][0].get<double>()));
  EXPECT_EQ(into["n"][1], 1);
  EXPECT_EQ(into["s"].get<std::string>(), "\xff");
  EXPECT_TRUE(into["b"].is_binary());

  const std::string big(kMaxJsonBytes / 2 + 1024, 'x');
  json large = {{"a", big}};
  merge_outputs(large, json{{"b", big}});
  EXPECT_EQ(large.size(), 2u);

  OutputsMerge merge;
  const std::string stored = to_cbor(json{{"n", std::nan("")}});
  merge.add_stored(stored);  // borrowed until take()
  EXPECT_THROW(merge.take(), CorruptionError);
}

TEST(OutputsMergeTest, RejectsDamagedBytesWithoutReadingPastThem) {
  const std::string encoded = to_cbor(
      json{{"a", {1, 2.5, "three", json{{"x", nullptr}}}}, {"b", true}});
  for (std::size_t n = 0; n < encoded.size(); ++n) {
    SCOPED_TRACE(n);
    // A copy of exactly n bytes, so a read past them is a heap overflow.
    const std::string prefix = encoded.substr(0, n);
    OutputsMerge merge;
    EXPECT_THROW(merge.add_cbor(prefix), CorruptionError);
  }
  for (const std::string& bad :
       {std::string("\xa1\x01\x02", 3), std::string("\xa1\x61k\xff", 4),
        std::string("\xa1\x61k\x9f\xff", 5), std::string("\xa1\x61k\xf7", 4),
        std::string("\xa1\x61k\x9b\xff\xff\xff\xff\xff\xff\xff\xff", 12),
        std::string("\xa1\x61k\x01\x02", 5)}) {
    OutputsMerge merge;
    EXPECT_THROW(merge.add_cbor(bad), CorruptionError);
  }
}

}  // namespace
}  // namespace wfstore::internal
