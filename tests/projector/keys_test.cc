// Tests of the key encoders (order preservation, composite keys, decoding
// errors) and of string interning through the ids table (collisions,
// deterministic surrogates).

#include "wfstore_internal/keys.h"

#include <limits>
#include <random>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "wfstore/errors.h"

#include "tests/testutil/temp_dir.h"
#include "wfstore_internal/lmdb_views.h"
#include "wfstore_internal/memory_view_store.h"

namespace wfstore::keys {
namespace {

using ::testing::HasSubstr;
using ::testing::ThrowsMessage;

// Checks that every value of `values` decodes back from its encoding, and
// that encodings compare like the values, against a random partner drawn
// from `rng` for each.
template <typename T, typename Encode, typename Decode>
void expect_round_trip_in_order(const std::vector<T>& values, Encode encode,
                                Decode decode, std::mt19937_64& rng,
                                std::uint32_t seed) {
  for (T a : values) {
    EXPECT_EQ(decode(encode(a)), a);
    const T b = values[rng() % values.size()];
    ASSERT_EQ(a < b, encode(a) < encode(b))
        << "seed " << seed << ": " << a << " " << b;
  }
}

TEST(KeysTest, U64EncodingIsBigEndianAndOrderPreserving) {
  EXPECT_EQ(encode_u64(0x0102030405060708),
            std::string("\x01\x02\x03\x04\x05\x06\x07\x08"));
  const std::uint32_t seed = testutil::random_seed();
  std::mt19937_64 rng(seed);
  std::vector<std::uint64_t> values = {
      0,
      1,
      255,
      256,
      std::numeric_limits<std::uint64_t>::max(),
      std::uint64_t{1} << 63};
  for (int i = 0; i < 2000; ++i) values.push_back(rng() >> (rng() % 64));
  expect_round_trip_in_order(values, encode_u64, decode_u64, rng, seed);
}

TEST(KeysTest, I64EncodingFlipsTheSignBitAndPreservesOrder) {
  EXPECT_EQ(encode_i64(0), std::string("\x80\0\0\0\0\0\0\0", 8));
  EXPECT_EQ(encode_i64(-1),
            std::string(8, '\x7f').replace(1, 7, std::string(7, '\xff')));
  const std::uint32_t seed = testutil::random_seed();
  std::mt19937_64 rng(seed);
  std::vector<std::int64_t> values = {0, -1, 1,
                                      std::numeric_limits<std::int64_t>::min(),
                                      std::numeric_limits<std::int64_t>::max()};
  for (int i = 0; i < 2000; ++i) {
    values.push_back(static_cast<std::int64_t>(rng()) >> (rng() % 64));
  }
  expect_round_trip_in_order(values, encode_i64, decode_i64, rng, seed);
}

TEST(KeysTest, CompositeKeysOrderLikeTuples) {
  const std::uint32_t seed = testutil::random_seed();
  std::mt19937_64 rng(seed);
  for (int i = 0; i < 2000; ++i) {
    const std::uint64_t a1 = rng() % 4, a2 = rng() >> (rng() % 64);
    const std::uint64_t b1 = rng() % 4, b2 = rng() >> (rng() % 64);
    ASSERT_EQ(std::tie(a1, a2) < std::tie(b1, b2),
              make_key({a1, a2}) < make_key({b1, b2}))
        << "seed " << seed;
  }
  const std::string key = make_key({7, descending(9)}) + encode_i64(-3);
  KeyReader reader(key);
  EXPECT_EQ(reader.u64(), 7u);
  EXPECT_EQ(descending(reader.u64()), 9u);
  EXPECT_FALSE(reader.done());
  EXPECT_EQ(reader.i64(), -3);
  EXPECT_TRUE(reader.done());
  EXPECT_NO_THROW(reader.expect_done());
  EXPECT_LT(encode_u64(descending(9)), encode_u64(descending(8)));
}

TEST(KeysTest, ShortOrLongKeysAreCorruption) {
  EXPECT_THAT(
      [] { decode_u64("abc"); },
      ThrowsMessage<CorruptionError>(HasSubstr("616263: 3 bytes, expected 8")));
  EXPECT_THROW(decode_i64(std::string(9, 'x')), CorruptionError);
  const std::string key = encode_u64(1) + "xy";
  KeyReader reader(key);
  reader.u64();
  EXPECT_THROW(reader.expect_done(), CorruptionError);
  EXPECT_THAT([&] { reader.u64(); }, ThrowsMessage<CorruptionError>(HasSubstr(
                                         "needs 8 more bytes at byte 8")));
}

TEST(KeysTest, PrefixEndBoundsEveryKeyWithThePrefix) {
  EXPECT_EQ(prefix_end("ab"), "ac");
  EXPECT_EQ(prefix_end(std::string("a\xff", 2)), "b");
  EXPECT_EQ(prefix_end(std::string("\xff\xff", 2)), "");
  EXPECT_EQ(prefix_end(""), "");
  const std::string prefix = encode_u64(41);
  EXPECT_LT(prefix + std::string(8, '\xff'), prefix_end(prefix));
  EXPECT_EQ(prefix_end(prefix), encode_u64(42));
}

TEST(InternTest, IdHashIsTheFirstEightBytesOfSha256) {
  // SHA-256("abc") = ba7816bf8f01cfea 414140de5dae2223 ...
  EXPECT_EQ(id_hash("abc"), 0xba7816bf8f01cfeaULL);
}

TEST(InternTest, AssignsDenseSurrogatesInInternOrderAndFindsThem) {
  MemoryViewStore views;
  EXPECT_EQ(lookup_id(views, "wf-1"), std::nullopt);
  EXPECT_EQ(intern_id(views, "wf-1"), 1u);
  EXPECT_EQ(intern_id(views, "stage-1"), 2u);
  EXPECT_EQ(intern_id(views, "wf-1"), 1u);
  EXPECT_EQ(intern_id(views, ""), 3u);
  EXPECT_EQ(lookup_id(views, "stage-1"), 2u);
  EXPECT_EQ(lookup_id(views, "stage-2"), std::nullopt);
  EXPECT_EQ(views.get(Table::kMeta, kMetaNextId), encode_u64(4));
  EXPECT_EQ(views.size(Table::kIds), 3u);
}

std::uint64_t colliding_hash(std::string_view) { return 42; }

TEST(InternTest, ForcedCollisionsShareOneKeyAndResolveByString) {
  MemoryViewStore views;
  ScopedIdHashForTesting collide(colliding_hash);
  EXPECT_EQ(intern_id(views, "a"), 1u);
  EXPECT_EQ(intern_id(views, "b"), 2u);
  EXPECT_EQ(intern_id(views, "ab"), 3u);
  EXPECT_EQ(intern_id(views, "b"), 2u);
  EXPECT_EQ(lookup_id(views, "a"), 1u);
  EXPECT_EQ(lookup_id(views, "ab"), 3u);
  EXPECT_EQ(lookup_id(views, "c"), std::nullopt);
  ASSERT_EQ(views.size(Table::kIds), 1u);
  EXPECT_EQ(views.get(Table::kIds, encode_u64(42)), encode_u64(1) +
                                                        std::string("\0\0\0\x01"
                                                                    "a",
                                                                    5) +
                                                        encode_u64(2) +
                                                        std::string("\0\0\0\x01"
                                                                    "b",
                                                                    5) +
                                                        encode_u64(3) +
                                                        std::string("\0\0\0\x02"
                                                                    "ab",
                                                                    6));
}

TEST(InternTest, MalformedIdsValueIsCorruption) {
  MemoryViewStore views;
  views.put(Table::kIds, encode_u64(id_hash("x")),
            encode_u64(1) + std::string("\0\0\0\x09x", 5));
  EXPECT_THAT([&] { lookup_id(views, "x"); },
              ThrowsMessage<CorruptionError>(HasSubstr("views table ids key")));
  views.put(Table::kIds, encode_u64(id_hash("x")), "short");
  EXPECT_THROW(intern_id(views, "x"), CorruptionError);
}

TEST(InternTest, SameInternSequenceGivesIdenticalTablesInMemoryAndLmdb) {
  const std::uint32_t seed = testutil::random_seed();
  std::mt19937 rng(seed);
  std::vector<std::string> strings;
  for (int i = 0; i < 300; ++i)
    strings.push_back("id-" + std::to_string(rng() % 120));
  auto intern_all = [&](ViewStore& views) {
    std::vector<std::uint64_t> ids;
    for (const std::string& s : strings) ids.push_back(intern_id(views, s));
    return ids;
  };
  MemoryViewStore first;
  MemoryViewStore second;
  const auto ids = intern_all(first);
  EXPECT_EQ(intern_all(second), ids);
  testutil::TempDir dir;
  auto lmdb =
      LmdbViews::open(dir / "views", LmdbViewsOptions{std::uint64_t{64} << 20});
  // In LMDB, in several transactions.
  std::vector<std::uint64_t> lmdb_ids;
  for (std::size_t begin = 0; begin < strings.size(); begin += 50) {
    lmdb->write([&](LmdbViews::WriteTxn& txn) {
      for (std::size_t i = begin; i < begin + 50; ++i)
        lmdb_ids.push_back(intern_id(txn, strings[i]));
    });
  }
  EXPECT_EQ(lmdb_ids, ids) << "seed " << seed;
  for (Table table : {Table::kIds, Table::kMeta}) {
    EXPECT_EQ(dump_table(first, table), dump_table(second, table));
    EXPECT_EQ(lmdb->dump(table), dump_table(first, table)) << table_name(table);
  }
}

}  // namespace
}  // namespace wfstore::keys
