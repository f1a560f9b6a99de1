// Tests of wfstore::Json: lazy decoding, decoding at most once, byte-exact
// re-encoding of values never mutated, the CBOR checker's rejections, and
// value semantics.

#include "wfstore/json.h"

#include <cstdint>
#include <limits>
#include <random>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "wfstore/errors.h"
#include "wfstore/limits.h"

#include "wfstore_internal/json_check.h"

namespace wfstore {
namespace {

using nlohmann::json;
using ::testing::HasSubstr;
using ::testing::ThrowsMessage;

// Bytes from a list of byte values.
std::string bytes(std::initializer_list<int> values) {
  std::string result;
  for (const int v : values) result.push_back(static_cast<char>(v));
  return result;
}

std::string encode(const json& value) {
  const std::vector<std::uint8_t> v = json::to_cbor(value);
  return std::string(v.begin(), v.end());
}

// {"abc": 5, "f": 1.5} written the long way: a map length in an extra byte, a
// string length in an extra byte, 5 as a uint16 and 1.5 as a float64. nlohmann
// writes a3-free minimal heads and 1.5 as a float32.
std::string non_canonical() {
  return bytes({
      0xb8, 0x02,                             // map, 2 pairs (1-byte len)
      0x78, 0x03, 'a',  'b', 'c',             // "abc" (1-byte len)
      0x19, 0x00, 0x05,                       // 5 as uint16
      0x61, 'f',                              // "f"
      0xfb, 0x3f, 0xf8, 0,   0,   0, 0, 0, 0  // 1.5 as float64
  });
}

TEST(JsonTest, DefaultIsEmptyObject) {
  const Json j;
  EXPECT_TRUE(j.is_decoded());
  EXPECT_EQ(j.value(), json::object());
  EXPECT_EQ(j.cbor(), bytes({0xa0}));
}

TEST(JsonTest, FromCborIsNotDecodedUntilAccessed) {
  const std::string encoded = encode({{"a", {1, 2, 3}}});
  const Json j = Json::from_cbor(encoded);
  EXPECT_FALSE(j.is_decoded());
  EXPECT_EQ(j.cbor(), encoded);
  EXPECT_FALSE(j.is_decoded());
  const Json copy = j;  // NOLINT(performance-unnecessary-copy-initialization)
  EXPECT_FALSE(copy.is_decoded());
  EXPECT_TRUE(copy == j);  // Equal bytes: no decode needed.
  EXPECT_FALSE(j.is_decoded());
  EXPECT_EQ(j.value(), (json{{"a", {1, 2, 3}}}));
  EXPECT_TRUE(j.is_decoded());
  // A copy shares the bytes and so the one decode.
  EXPECT_TRUE(copy.is_decoded());
}

// The address of the heap storage of value()["list"]: a second decode would
// build a new array while the old one is still alive, so it would differ.
const json::array_t* list_storage(const Json& j) {
  return j.value().at("list").get_ptr<const json::array_t*>();
}

TEST(JsonTest, DecodedAtMostOnce) {
  const Json j = Json::from_cbor(encode({{"list", {1, 2}}}));
  const json* first = &j.value();
  const json::array_t* storage = list_storage(j);
  EXPECT_EQ(&j.value(), first);
  EXPECT_EQ(list_storage(j), storage);
  (void)j.cbor();
  EXPECT_EQ(list_storage(j), storage);
  const Json copy = j;  // NOLINT(performance-unnecessary-copy-initialization)
  EXPECT_EQ(list_storage(j), storage);
  EXPECT_EQ(copy.value(), j.value());
}

TEST(JsonTest, ConcurrentFirstAccessDecodesOnce) {
  for (int round = 0; round < 20; ++round) {
    const Json j =
        Json::from_cbor(encode({{"round", round}, {"list", {1, 2}}}));
    std::vector<const json::array_t*> seen(4, nullptr);
    std::vector<std::thread> threads;
    for (std::size_t t = 0; t < seen.size(); ++t) {
      threads.emplace_back([&j, &seen, t] { seen[t] = list_storage(j); });
    }
    for (std::thread& t : threads) t.join();
    for (const json::array_t* p : seen) EXPECT_EQ(p, seen[0]);
    EXPECT_EQ(list_storage(j), seen[0]);
    EXPECT_EQ(j.value(), (json{{"round", round}, {"list", {1, 2}}}));
  }
}

TEST(JsonTest, ReadBackValueReencodesToIdenticalBytes) {
  const std::string original = non_canonical();
  const Json j = Json::from_cbor(original);
  EXPECT_EQ(j.value(), (json{{"abc", 5}, {"f", 1.5}}));
  // nlohmann would encode this value differently...
  ASSERT_NE(encode(j.value()), original);
  // ...but a value that was only read keeps its bytes, also in copies.
  EXPECT_EQ(j.cbor(), original);
  const Json copy = j;  // NOLINT(performance-unnecessary-copy-initialization)
  EXPECT_EQ(copy.cbor(), original);
  Json assigned;
  assigned = j;
  EXPECT_EQ(assigned.cbor(), original);
  Json moved = Json(j);
  EXPECT_EQ(moved.cbor(), original);
}

TEST(JsonTest, LongFloatIsKeptAsWritten) {
  // 1.0 as a float64: nlohmann would shorten it to a float32 (or smaller).
  const std::string original = bytes({0xfb, 0x3f, 0xf0, 0, 0, 0, 0, 0, 0});
  const Json j = Json::from_cbor(original);
  EXPECT_EQ(j.value(), json(1.0));
  ASSERT_NE(encode(j.value()), original);
  EXPECT_EQ(j.cbor(), original);
}

TEST(JsonTest, MutableValueGivesFreshEncoding) {
  Json j = Json::from_cbor(non_canonical());
  j.mutable_value();
  EXPECT_EQ(j.cbor(), encode(json{{"abc", 5}, {"f", 1.5}}));
  j.mutable_value()["new"] = true;
  EXPECT_EQ(j.cbor(), encode(json{{"abc", 5}, {"f", 1.5}, {"new", true}}));
  EXPECT_EQ(Json::from_cbor(j.cbor()).value(), j.value());
}

TEST(JsonTest, ParsedValueEncodesWithNlohmann) {
  const json value = {{"x", {1, "two", nullptr}}};
  const Json j = value;
  EXPECT_EQ(j.cbor(), encode(value));
  EXPECT_EQ(j.cbor(), j.cbor());
}

TEST(JsonTest, AcceptsEdgeValues) {
  const json value = {
      {"int64_min", std::numeric_limits<std::int64_t>::min()},
      {"uint64_max", std::numeric_limits<std::uint64_t>::max()},
      {"double", 0.1},
      {"unicode ключ", "値 🚀"},
      {"nul", std::string("a\0b", 3)},
      {"empty", {json::object(), json::array(), ""}},
  };
  const Json j = Json::from_cbor(encode(value));
  EXPECT_EQ(j.value(), value);
  // Half floats are finite JSON numbers too.
  EXPECT_EQ(Json::from_cbor(bytes({0xf9, 0x3c, 0x00})).value(), json(1.0));
  // The most negative int64, -1 - (2^63 - 1).
  EXPECT_EQ(Json::from_cbor(
                bytes({0x3b, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}))
                .value(),
            json(std::numeric_limits<std::int64_t>::min()));
}

// A random JSON value: integers across every width and sign, doubles that
// CBOR writes as half, single or double floats, strings with multi-byte
// characters, nested arrays and objects.
json random_value(std::mt19937_64& rng, int depth) {
  const auto pick = [&](std::uint64_t n) { return rng() % n; };
  switch (pick(depth > 3 ? 6 : 8)) {
    case 0:
      return json(rng() >> pick(64));  // unsigned, every width
    case 1:
      return json(-1 - static_cast<std::int64_t>(rng() >> (1 + pick(63))));
    case 2: {
      static const double kFloats[] = {0.0,   -0.0,  0.5,    1.5, -2.25,
                                       65504, 6e-8,  1e-300, 0.1, 3.4e38,
                                       1e308, -1e-7, 123.456};
      return json(kFloats[pick(std::size(kFloats))]);
    }
    case 3: {
      static const char* const kStrings[] = {"", "a", "ключ", "値 🚀",
                                             "a longer string of 32+ bytes .."};
      return json(kStrings[pick(std::size(kStrings))]);
    }
    case 4:
      return json(pick(2) == 0);
    case 5:
      return json(nullptr);
    case 6: {
      json array = json::array();
      for (std::uint64_t i = pick(5); i > 0; --i) {
        array.push_back(random_value(rng, depth + 1));
      }
      return array;
    }
    default: {
      json object = json::object();
      for (std::uint64_t i = pick(5); i > 0; --i) {
        object["k" + std::to_string(pick(6))] = random_value(rng, depth + 1);
      }
      return object;
    }
  }
}

// The one-pass check and decode gives what nlohmann's parser gives: the same
// value, the same number types, the same text.
TEST(JsonTest, OnePassDecodeEqualsNlohmannsParse) {
  std::mt19937_64 rng(20261206);
  for (int i = 0; i < 2000; ++i) {
    const std::string cbor = encode(random_value(rng, 0));
    const json theirs = json::from_cbor(cbor);
    const json ours = internal::decode_json_cbor(cbor, "value");
    ASSERT_EQ(ours, theirs) << theirs.dump();
    ASSERT_EQ(ours.dump(), theirs.dump());
    ASSERT_EQ(Json::from_cbor(cbor).value().dump(), theirs.dump());
  }
  // Written the long way, half floats (a subnormal one too) and a repeated
  // key, of which nlohmann keeps the last.
  for (const std::string& cbor :
       {non_canonical(), bytes({0xf9, 0x00, 0x01}), bytes({0xf9, 0xc5, 0x00}),
        bytes({0xa2, 0x61, 'a', 0x01, 0x61, 'a', 0x82, 0x02, 0x03})}) {
    const json theirs = json::from_cbor(cbor);
    EXPECT_EQ(internal::decode_json_cbor(cbor, "value").dump(), theirs.dump());
  }
  EXPECT_THAT(
      [] {
        internal::decode_json_cbor(bytes({0x63, 'a'}), "f");
      },
      ThrowsMessage<CorruptionError>(HasSubstr("f: malformed")));
}

TEST(JsonTest, NestingAtTheLimitIsAccepted) {
  std::string deep(kMaxJsonDepth - 1, static_cast<char>(0x81));
  deep.push_back(static_cast<char>(0x80));
  const Json j = Json::from_cbor(deep);
  const json* v = &j.value();
  std::size_t depth = 1;
  while (!v->empty()) {
    v = &v->at(0);
    ++depth;
  }
  EXPECT_EQ(depth, kMaxJsonDepth);
}

struct BadCbor {
  const char* name;
  std::string data;
  const char* reason;
};

TEST(JsonTest, FromCborRejectsMalformedInput) {
  std::string too_deep(kMaxJsonDepth, static_cast<char>(0x81));
  too_deep.push_back(static_cast<char>(0x80));
  const std::vector<BadCbor> cases = {
      {"empty", "", "empty"},
      {"truncated array", bytes({0x82, 0x61, 'a'}), "truncated"},
      {"array longer than input", bytes({0x82, 0x01}), "larger than its input"},
      {"truncated string", bytes({0x63, 'a', 'b'}), "truncated string"},
      {"truncated head", bytes({0x19, 0x00}), "truncated"},
      {"truncated map", bytes({0xa1, 0x61, 'k'}), "truncated"},
      {"trailing bytes", bytes({0x01, 0x02}), "trailing bytes"},
      {"binary", bytes({0x43, 1, 2, 3}), "binary"},
      {"binary in map", bytes({0xa1, 0x61, 'b', 0x41, 0x00}), "binary"},
      {"tag", bytes({0xc1, 0x01}), "tagged"},
      {"tag 2-byte", bytes({0xd8, 0x20, 0x60}), "tagged"},
      {"indefinite array", bytes({0x9f, 0x01, 0xff}), "indefinite"},
      {"indefinite map", bytes({0xbf, 0x61, 'a', 0x01, 0xff}), "indefinite"},
      {"indefinite string", bytes({0x7f, 0x61, 'a', 0xff}), "indefinite"},
      {"indefinite bytes", bytes({0x5f, 0xff}), "binary"},
      {"reserved info", bytes({0x1c}), "reserved"},
      {"half NaN", bytes({0xf9, 0x7e, 0x00}), "non-finite"},
      {"half +inf", bytes({0xf9, 0x7c, 0x00}), "non-finite"},
      {"half -inf", bytes({0xf9, 0xfc, 0x00}), "non-finite"},
      {"float NaN", bytes({0xfa, 0x7f, 0xc0, 0x00, 0x00}), "non-finite"},
      {"float +inf", bytes({0xfa, 0x7f, 0x80, 0x00, 0x00}), "non-finite"},
      {"double NaN", bytes({0xfb, 0x7f, 0xf8, 0, 0, 0, 0, 0, 0}), "non-finite"},
      {"double -inf", bytes({0xfb, 0xff, 0xf0, 0, 0, 0, 0, 0, 0}),
       "non-finite"},
      {"undefined", bytes({0xf7}), "unsupported simple"},
      {"simple value", bytes({0xf8, 0x20}), "unsupported simple"},
      {"lone break", bytes({0xff}), "unsupported simple"},
      {"integer key", bytes({0xa1, 0x01, 0x02}), "not a string"},
      {"array key", bytes({0xa1, 0x80, 0x02}), "not a string"},
      {"invalid UTF-8", bytes({0x61, 0xff}), "UTF-8"},
      {"invalid UTF-8 key", bytes({0xa1, 0x62, 0xc0, 0xaf, 0x01}), "UTF-8"},
      {"surrogate", bytes({0x63, 0xed, 0xa0, 0x80}), "UTF-8"},
      {"nesting 129 deep", too_deep, "nesting deeper"},
      // 2^60 items declared in 9 bytes: must fail before allocating.
      {"huge array", bytes({0x9b, 0x10, 0, 0, 0, 0, 0, 0, 0}),
       "larger than its input"},
      {"huge map",
       bytes({0xbb, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}),
       "larger than its input"},
      {"map count overflowing", bytes({0xbb, 0x80, 0, 0, 0, 0, 0, 0, 1, 0x60}),
       "larger than its input"},
      {"huge string",
       bytes({0x7b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}),
       "truncated string"},
      {"negative below int64",
       bytes({0x3b, 0x80, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00}),
       "negative integer out of range"},
      {"negative -2^64",
       bytes({0x3b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}),
       "negative integer out of range"},
  };
  for (const BadCbor& c : cases) {
    SCOPED_TRACE(c.name);
    EXPECT_THAT([&] { Json::from_cbor(c.data, "stages[0].outputs"); },
                ThrowsMessage<CorruptionError>(HasSubstr("stages[0].outputs")));
    EXPECT_THAT([&] { Json::from_cbor(c.data, "stages[0].outputs"); },
                ThrowsMessage<CorruptionError>(HasSubstr(c.reason)));
  }
}

TEST(JsonTest, FromCborRejectsInputOverTheSizeLimit) {
  std::string oversized = bytes({0x7a, 0x01, 0x00, 0x00, 0x00});
  oversized.append(kMaxJsonBytes, 'x');
  EXPECT_THAT([&] { Json::from_cbor(std::move(oversized), "context"); },
              ThrowsMessage<CorruptionError>(
                  HasSubstr("context: malformed JSON encoding at byte 0: "
                            "value exceeds the JSON size limit")));
}

TEST(JsonTest, EveryTruncationOfAValidEncodingIsRejected) {
  const std::string encoded = encode({{"list", {1, -2, 3.25, "four", nullptr}},
                                      {"nested", {{"k", {true, false}}}}});
  for (std::size_t n = 0; n < encoded.size(); ++n) {
    EXPECT_THROW(Json::from_cbor(encoded.substr(0, n)), CorruptionError) << n;
  }
  EXPECT_NO_THROW(Json::from_cbor(encoded));
}

TEST(JsonTest, EqualityComparesValues) {
  const json value = {{"abc", 5}, {"f", 1.5}};
  EXPECT_EQ(Json(value), Json::from_cbor(non_canonical()));
  EXPECT_EQ(Json::from_cbor(encode(value)), Json::from_cbor(non_canonical()));
  EXPECT_NE(Json(value), Json(json{{"abc", 5}}));
  EXPECT_NE(Json::from_cbor(encode(value)), Json::from_cbor(encode({1})));
  EXPECT_EQ(Json(), Json(json::object()));
  EXPECT_NE(Json(), Json(json::array()));
  EXPECT_NE(Json(), Json(nullptr));
}

TEST(JsonTest, CopiesAreIndependent) {
  Json original = json{{"a", 1}};
  Json copy = original;
  copy.mutable_value()["a"] = 2;
  EXPECT_EQ(original.value(), (json{{"a", 1}}));
  EXPECT_EQ(copy.value(), (json{{"a", 2}}));

  const std::string encoded = non_canonical();
  Json lazy = Json::from_cbor(encoded);
  Json lazy_copy = lazy;
  lazy_copy.mutable_value()["abc"] = 6;
  EXPECT_FALSE(lazy.is_decoded());
  EXPECT_EQ(lazy.cbor(), encoded);
  EXPECT_EQ(lazy.value()["abc"], 5);

  Json assigned;
  assigned = original;
  original.mutable_value()["b"] = 3;
  EXPECT_EQ(assigned.value(), (json{{"a", 1}}));
}

TEST(JsonTest, CopiesShareTheParsedValueUntilOneIsChanged) {
  const Json original = json{{"list", {1, 2, 3}}};
  const Json copy =
      original;  // NOLINT(performance-unnecessary-copy-initialization)
  // Copy-on-write: a copy holds the same parsed value, not a clone of it.
  EXPECT_EQ(&copy.value(), &original.value());
  EXPECT_EQ(&copy.cbor(), &original.cbor());
  Json changed = original;
  changed.mutable_value()["list"].push_back(4);
  EXPECT_NE(&changed.value(), &original.value());
  EXPECT_EQ(original.value(), (json{{"list", {1, 2, 3}}}));
  EXPECT_EQ(copy.value(), (json{{"list", {1, 2, 3}}}));
  EXPECT_EQ(copy.cbor(), encode(json{{"list", {1, 2, 3}}}));
  EXPECT_EQ(changed.cbor(), encode(json{{"list", {1, 2, 3, 4}}}));
}

TEST(JsonTest, AReferenceFromMutableValueNeverReachesACopy) {
  Json j = json{{"a", 1}};
  json& ref = j.mutable_value();
  const Json before = j;  // taken while `ref` is held
  ref["a"] = 2;
  EXPECT_EQ(before.value(), (json{{"a", 1}}));
  EXPECT_EQ(j.value(), (json{{"a", 2}}));
  const Json after = j;
  ref["a"] = 3;
  EXPECT_EQ(after.value(), (json{{"a", 2}}));
  EXPECT_EQ(j.cbor(), encode(json{{"a", 3}}));
}

TEST(JsonTest, ConcurrentCopiesAndReadsOfSharedValues) {
  const Json lazy = Json::from_cbor(encode(json{{"k", "v"}, {"n", 7}}));
  const Json parsed = json{{"k", "w"}};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 200; ++i) {
        Json a = lazy;
        Json b = parsed;
        EXPECT_EQ(a.value().at("n"), 7);
        EXPECT_EQ(b.cbor(), encode(json{{"k", "w"}}));
        if ((i + t) % 2 == 0) {
          a.mutable_value()["n"] = i;
          EXPECT_EQ(a.value().at("n"), i);
        }
      }
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(lazy.value(), (json{{"k", "v"}, {"n", 7}}));
  EXPECT_EQ(parsed.value(), (json{{"k", "w"}}));
}

TEST(JsonTest, MovedFromJsonIsUsable) {
  Json source = Json::from_cbor(non_canonical());
  const Json target = std::move(source);
  EXPECT_EQ(target.cbor(), non_canonical());
  // NOLINTBEGIN(bugprone-use-after-move): a moved-from Json is a valid {}.
  EXPECT_TRUE(source.is_decoded());
  EXPECT_EQ(source.value(), json::object());
  EXPECT_EQ(source.cbor(), bytes({0xa0}));
  EXPECT_EQ(source, Json());
  const Json copy_of_moved = source;
  EXPECT_EQ(copy_of_moved.value(), json::object());
  EXPECT_NO_THROW(validate_json(source, "moved"));
  source.mutable_value()["again"] = 1;
  EXPECT_EQ(source.value(), (json{{"again", 1}}));
  Json other = json{{"x", 1}};
  Json sink = std::move(other);
  other = json{{"y", 2}};
  EXPECT_EQ(other.value(), (json{{"y", 2}}));
  // NOLINTEND(bugprone-use-after-move)
}

TEST(JsonTest, ValidateJsonNamesTheField) {
  EXPECT_THAT(
      [] {
        validate_json(Json(json{{"x", json::binary({1})}}), "ctx");
      },
      ThrowsMessage<InvalidArgumentError>(
          HasSubstr("ctx: binary values are not allowed")));
  EXPECT_NO_THROW(validate_json(Json::from_cbor(non_canonical()), "ctx"));
}

}  // namespace
}  // namespace wfstore
