// The view-store contract run against every implementation (memory, an LMDB
// write transaction, an overlay over an empty and over a populated base), then
// the overlay's merging and the checksum decorator.

#include "wfstore_internal/view_store.h"

#include <map>
#include <random>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <openssl/sha.h>

#include "wfstore/errors.h"

#include "projector/lmdb.h"
#include "tests/testutil/temp_dir.h"
#include "wfstore_internal/checksum_view_store.h"
#include "wfstore_internal/keys.h"
#include "wfstore_internal/lmdb_views.h"
#include "wfstore_internal/memory_view_store.h"
#include "wfstore_internal/overlay_view_store.h"

namespace wfstore {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Pair;
using ::testing::ThrowsMessage;
using Rows = std::vector<std::pair<std::string, std::string>>;

struct MemoryFixture {
  ViewStore& store() { return memory; }
  MemoryViewStore memory;
};

struct LmdbFixture {
  LmdbFixture()
      : views(LmdbViews::open(dir / "views",
                              LmdbViewsOptions{std::uint64_t{64} << 20})),
        txn(views->begin_write()) {}
  ViewStore& store() { return txn; }
  testutil::TempDir dir;
  std::unique_ptr<LmdbViews> views;
  LmdbViews::WriteTxn txn;
};

struct OverlayFixture {
  ViewStore& store() { return overlay; }
  MemoryViewStore base;
  OverlayViewStore overlay{base};
};

// Keys of the overlay base's decoys: after every key the typed tests use.
constexpr std::string_view kDecoyPrefix = "\xff\xff";
bool is_decoy(std::string_view key) { return key.substr(0, 2) == kDecoyPrefix; }

// An overlay whose base holds a decoy key in every table, plus a decoy deleted
// in the overlay, so merging with base keys is exercised throughout.
struct OverlayOverDataFixture {
  OverlayOverDataFixture() {
    for (Table table : kAllTables) {
      base.put(table, std::string(kDecoyPrefix) + "base", "b");
      base.put(table, std::string(kDecoyPrefix) + "gone", "g");
    }
    for (Table table : kAllTables)
      overlay.del(table, std::string(kDecoyPrefix) + "gone");
  }
  ViewStore& store() { return overlay; }
  MemoryViewStore base;
  OverlayViewStore overlay{base};
};

// The checksumming decorator over memory: reads are forwarded.
struct ChecksumFixture {
  ViewStore& store() { return checksum; }
  MemoryViewStore inner;
  ChecksumViewStore checksum{inner};
};

template <typename Fixture>
class ViewStoreTest : public ::testing::Test {
 protected:
  ViewStore& store() { return fixture_.store(); }

  // Keys of `table` in [from, to) in scan order, without the "~" keys of the
  // overlay base.
  std::string scan_keys(Table table, std::string_view from, std::string_view to,
                        bool reverse = false, std::size_t limit = 1000) {
    std::string keys;
    std::size_t seen = 0;
    store().scan(
        table, from, to,
        [&](std::string_view key, std::string_view) {
          if (is_decoy(key)) return true;
          if (!keys.empty()) keys += ",";
          keys += key;
          return ++seen < limit;
        },
        reverse);
    return keys;
  }

  void put_all(Table table, std::initializer_list<const char*> keys) {
    for (const char* key : keys)
      store().put(table, key, std::string("v") + key);
  }

  Fixture fixture_;
};

using Implementations =
    ::testing::Types<MemoryFixture, LmdbFixture, OverlayFixture,
                     OverlayOverDataFixture, ChecksumFixture>;
TYPED_TEST_SUITE(ViewStoreTest, Implementations);

TYPED_TEST(ViewStoreTest, PutGetOverwriteAndMissing) {
  ViewStore& store = this->store();
  EXPECT_EQ(store.get(Table::kWorkflows, "a"), std::nullopt);
  store.put(Table::kWorkflows, "a", "1");
  EXPECT_EQ(store.get(Table::kWorkflows, "a"), "1");
  store.put(Table::kWorkflows, "a", "");
  EXPECT_EQ(store.get(Table::kWorkflows, "a"), "");
  store.put(Table::kWorkflows, "a", std::string("\0x\xff", 3));
  EXPECT_EQ(store.get(Table::kWorkflows, "a"), std::string("\0x\xff", 3));
}

// get_with and contains answer as get() does: present, absent, empty values,
// a base key seen through an overlay and one the overlay deleted.
TYPED_TEST(ViewStoreTest, GetWithAndContainsAnswerAsGetDoes) {
  ViewStore& store = this->store();
  this->put_all(Table::kStages, {"b", "d"});
  store.put(Table::kStages, "e", "");
  store.put(Table::kStages, "d", "vd2");
  store.del(Table::kStages, "b");
  for (const std::string& key :
       {std::string("a"), std::string("b"), std::string("d"), std::string("e"),
        std::string(kDecoyPrefix) + "base",
        std::string(kDecoyPrefix) + "gone"}) {
    const std::optional<std::string> expected = store.get(Table::kStages, key);
    int calls = 0;
    store.get_with(Table::kStages, key,
                   [&](std::optional<std::string_view> value) {
                     ++calls;
                     EXPECT_EQ(value, expected) << key;
                   });
    EXPECT_EQ(calls, 1) << key;
    EXPECT_EQ(store.contains(Table::kStages, key), expected.has_value()) << key;
  }
  EXPECT_FALSE(store.contains(Table::kStages, "b"));
  EXPECT_TRUE(store.contains(Table::kStages, "e"));
}

TYPED_TEST(ViewStoreTest, DelRemovesAndIgnoresMissingKeys) {
  ViewStore& store = this->store();
  store.put(Table::kStages, "a", "1");
  store.del(Table::kStages, "a");
  store.del(Table::kStages, "never");
  EXPECT_EQ(store.get(Table::kStages, "a"), std::nullopt);
  EXPECT_EQ(this->scan_keys(Table::kStages, {}, {}), "");
  store.put(Table::kStages, "a", "2");
  EXPECT_EQ(store.get(Table::kStages, "a"), "2");
}

TYPED_TEST(ViewStoreTest, TablesAreSeparate) {
  ViewStore& store = this->store();
  for (Table table : kAllTables) store.put(table, "k", table_name(table));
  for (Table table : kAllTables)
    EXPECT_EQ(store.get(table, "k"), table_name(table));
  store.del(Table::kClaims, "k");
  EXPECT_EQ(store.get(Table::kClaims, "k"), std::nullopt);
  EXPECT_EQ(store.get(Table::kMeta, "k"), "meta");
}

TYPED_TEST(ViewStoreTest, ScanRangesAreHalfOpen) {
  this->put_all(Table::kQueueReady, {"d", "b", "a", "c", "e"});
  EXPECT_EQ(this->scan_keys(Table::kQueueReady, {}, {}), "a,b,c,d,e");
  EXPECT_EQ(this->scan_keys(Table::kQueueReady, "b", "d"), "b,c");
  EXPECT_EQ(this->scan_keys(Table::kQueueReady, "bb", "dd"), "c,d");
  EXPECT_EQ(this->scan_keys(Table::kQueueReady, "c", {}), "c,d,e");
  EXPECT_EQ(this->scan_keys(Table::kQueueReady, {}, "c"), "a,b");
  EXPECT_EQ(this->scan_keys(Table::kQueueReady, "d", "b"), "");
  EXPECT_EQ(this->scan_keys(Table::kQueueReady, "c", "c"), "");
  EXPECT_EQ(this->scan_keys(Table::kQueueReady, "f", {}), "");
  EXPECT_EQ(this->scan_keys(Table::kQueueLeases, {}, {}), "");
}

TYPED_TEST(ViewStoreTest, ReverseScans) {
  this->put_all(Table::kQueueReady, {"d", "b", "a", "c", "e"});
  EXPECT_EQ(this->scan_keys(Table::kQueueReady, {}, {}, true), "e,d,c,b,a");
  EXPECT_EQ(this->scan_keys(Table::kQueueReady, "b", "d", true), "c,b");
  EXPECT_EQ(this->scan_keys(Table::kQueueReady, "bb", "dd", true), "d,c");
  EXPECT_EQ(this->scan_keys(Table::kQueueReady, {}, "c", true), "b,a");
  EXPECT_EQ(this->scan_keys(Table::kQueueReady, "c", {}, true), "e,d,c");
  EXPECT_EQ(this->scan_keys(Table::kQueueReady, "a", "z", true), "e,d,c,b,a");
  EXPECT_EQ(this->scan_keys(Table::kQueueReady, "0", "a", true), "");
  EXPECT_EQ(this->scan_keys(Table::kQueueLeases, {}, {}, true), "");
}

TYPED_TEST(ViewStoreTest, ScanStopsWhenFnReturnsFalse) {
  this->put_all(Table::kClaims, {"a", "b", "c", "d"});
  EXPECT_EQ(this->scan_keys(Table::kClaims, {}, {}, false, 2), "a,b");
  EXPECT_EQ(this->scan_keys(Table::kClaims, {}, {}, true, 3), "d,c,b");
  EXPECT_EQ(this->scan_keys(Table::kClaims, "b", {}, false, 1), "b");
}

TYPED_TEST(ViewStoreTest, KeysOrderBytewiseUnsigned) {
  ViewStore& store = this->store();
  for (std::string key :
       {std::string("\xff"), std::string("\x80"), std::string("\x7f"),
        std::string("\x01"), std::string("ab"), std::string("a"),
        std::string("\x00", 1), std::string("\x00\x00", 2)}) {
    store.put(Table::kIds, key, "v");
  }
  const Rows rows = dump_table(store, Table::kIds);
  std::vector<std::string> keys;
  for (const auto& row : rows) {
    if (!is_decoy(row.first)) keys.push_back(row.first);
  }
  EXPECT_EQ(keys, (std::vector<std::string>{
                      std::string("\x00", 1), std::string("\x00\x00", 2),
                      "\x01", "a", "ab", "\x7f", "\x80", "\xff"}));
}

TYPED_TEST(ViewStoreTest, RejectsEmptyAndOversizedKeys) {
  ViewStore& store = this->store();
  EXPECT_THAT([&] { store.put(Table::kStages, "", "v"); },
              ThrowsMessage<InvalidArgumentError>(
                  HasSubstr("view table stages: key of 0 bytes")));
  EXPECT_THROW(
      store.put(Table::kStages, std::string(kMaxKeySize + 1, 'k'), "v"),
      InvalidArgumentError);
  EXPECT_THROW(store.del(Table::kStages, ""), InvalidArgumentError);
  store.put(Table::kStages, std::string(kMaxKeySize, 'k'), "v");
  EXPECT_EQ(store.get(Table::kStages, std::string(kMaxKeySize, 'k')), "v");
  EXPECT_EQ(this->scan_keys(Table::kStages, {}, {}).size(), kMaxKeySize);
}

TYPED_TEST(ViewStoreTest, MatchesAModelUnderRandomOperations) {
  const std::uint32_t seed = testutil::random_seed();
  std::mt19937 rng(seed);
  std::map<std::string, std::string> model;
  ViewStore& store = this->store();
  auto random_key = [&] {
    std::string key(1 + rng() % 3, '\0');
    for (char& c : key) c = "ab\x01\xfe"[rng() % 4];
    return key;
  };
  for (int i = 0; i < 400; ++i) {
    const std::string key = random_key();
    if (rng() % 3 == 0) {
      store.del(Table::kStageOrder, key);
      model.erase(key);
    } else {
      const std::string value = std::to_string(rng());
      store.put(Table::kStageOrder, key, value);
      model[key] = value;
    }
  }
  for (int i = 0; i < 100; ++i) {
    std::string from = rng() % 4 == 0 ? std::string() : random_key();
    std::string to = rng() % 4 == 0 ? std::string() : random_key();
    const bool reverse = rng() % 2 == 0;
    Rows expected;
    for (const auto& [key, value] : model) {
      if ((from.empty() || key >= from) && (to.empty() || key < to))
        expected.emplace_back(key, value);
    }
    if (!from.empty() && !to.empty() && from >= to) expected.clear();
    if (reverse) std::reverse(expected.begin(), expected.end());
    Rows actual;
    store.scan(
        Table::kStageOrder, from, to,
        [&](std::string_view key, std::string_view value) {
          if (!is_decoy(key)) actual.emplace_back(key, value);
          return true;
        },
        reverse);
    ASSERT_EQ(actual, expected) << "seed " << seed << " scan " << i;
  }
  for (const auto& [key, value] : model)
    EXPECT_EQ(store.get(Table::kStageOrder, key), value);
}

TEST(LmdbViewsTest, WriteTxnAbortsUnlessCommittedAndDropAllEmptiesEveryTable) {
  testutil::TempDir dir;
  auto views =
      LmdbViews::open(dir / "views", LmdbViewsOptions{std::uint64_t{64} << 20});
  {
    LmdbViews::WriteTxn txn = views->begin_write();
    txn.put(Table::kWorkflows, "lost", "1");
  }
  EXPECT_TRUE(views->dump(Table::kWorkflows).empty());
  views->write([](LmdbViews::WriteTxn& txn) {
    for (Table table : kAllTables) txn.put(table, "k", "v");
  });
  LmdbViews::WriteTxn txn = views->begin_write();
  txn.put(Table::kWorkflows, "x", "1");
  txn.commit();
  EXPECT_THAT([&] { txn.put(Table::kWorkflows, "y", "1"); },
              ThrowsMessage<IOError>(HasSubstr("already finished")));
  EXPECT_THAT(views->dump(Table::kWorkflows),
              ElementsAre(Pair("k", "v"), Pair("x", "1")));
  LmdbViews::Snapshot before = views->begin_read();
  before.release();
  EXPECT_THROW(before.get(Table::kWorkflows, "x"), IOError);
  views->drop_all();
  for (Table table : kAllTables)
    EXPECT_TRUE(views->dump(table).empty()) << table_name(table);
}

TEST(LmdbViewsTest, ReadOnlyOpenWithAMissingTableIsCorruption) {
  testutil::TempDir dir;
  {  // An environment holding one foreign table.
    auto env = lmdb::Env::open(dir / "views", lmdb::EnvOptions{});
    env->dbis({"raw_bench"}, true);
  }
  LmdbViewsOptions options;
  options.read_only = true;
  EXPECT_THAT([&] { LmdbViews::open(dir / "views", options); },
              ThrowsMessage<CorruptionError>(
                  HasSubstr("views table 'ids' is missing")));
}

class OverlayTest : public ::testing::Test {
 protected:
  OverlayTest() {
    for (const char* key : {"b", "d", "f", "h"})
      base_.put(Table::kStages, key, "base");
  }

  std::string scan(std::string_view from, std::string_view to,
                   bool reverse = false, std::size_t limit = 100) const {
    std::string out;
    std::size_t seen = 0;
    overlay_.scan(
        Table::kStages, from, to,
        [&](std::string_view key, std::string_view value) {
          out += std::string(key) + "=" + std::string(value) + " ";
          return ++seen < limit;
        },
        reverse);
    return out;
  }

  MemoryViewStore base_;
  OverlayViewStore overlay_{base_};
};

TEST_F(OverlayTest, PendingWritesShadowTheBaseAndDeletesHideIt) {
  overlay_.put(Table::kStages, "d", "new");
  overlay_.del(Table::kStages, "f");
  overlay_.put(Table::kStages, "a", "new");
  overlay_.put(Table::kStages, "e", "new");
  overlay_.put(Table::kStages, "z", "new");
  overlay_.del(Table::kStages,
               "q");  // Deleting what does not exist hides nothing.
  EXPECT_EQ(overlay_.get(Table::kStages, "d"), "new");
  EXPECT_EQ(overlay_.get(Table::kStages, "f"), std::nullopt);
  EXPECT_EQ(overlay_.get(Table::kStages, "h"), "base");
  EXPECT_EQ(scan({}, {}), "a=new b=base d=new e=new h=base z=new ");
  EXPECT_EQ(scan({}, {}, true), "z=new h=base e=new d=new b=base a=new ");
  EXPECT_EQ(scan("c", "h"), "d=new e=new ");
  EXPECT_EQ(scan("c", "h", true), "e=new d=new ");
  EXPECT_EQ(scan("e", "g"), "e=new ");
  EXPECT_EQ(scan({}, {}, false, 3), "a=new b=base d=new ");
  EXPECT_EQ(scan({}, {}, true, 2), "z=new h=base ");
  EXPECT_EQ(overlay_.pending_count(), 6u);
  // The base never changes.
  EXPECT_THAT(dump_table(base_, Table::kStages),
              ElementsAre(Pair("b", "base"), Pair("d", "base"),
                          Pair("f", "base"), Pair("h", "base")));
  overlay_.put(Table::kStages, "f", "back");
  EXPECT_EQ(scan("f", "g"), "f=back ");
  overlay_.clear();
  EXPECT_EQ(scan({}, {}), "b=base d=base f=base h=base ");
}

TEST(OverlayRandomTest, MergedScansEqualTheWritesAppliedToACopy) {
  const std::uint32_t seed = testutil::random_seed();
  std::mt19937 rng(seed);
  auto random_key = [&] {
    return std::string(1 + rng() % 2, "abcd"[rng() % 4]) + "abcd"[rng() % 4];
  };
  MemoryViewStore base;
  for (int i = 0; i < 30; ++i) base.put(Table::kClaims, random_key(), "base");
  MemoryViewStore expected = base;
  OverlayViewStore overlay(base);
  for (int i = 0; i < 60; ++i) {
    const std::string key = random_key();
    if (rng() % 2 == 0) {
      overlay.del(Table::kClaims, key);
      expected.del(Table::kClaims, key);
    } else {
      overlay.put(Table::kClaims, key, std::to_string(i));
      expected.put(Table::kClaims, key, std::to_string(i));
    }
  }
  for (int i = 0; i < 200; ++i) {
    const std::string from = rng() % 3 == 0 ? std::string() : random_key();
    const std::string to = rng() % 3 == 0 ? std::string() : random_key();
    const bool reverse = rng() % 2 == 0;
    const std::size_t limit = 1 + rng() % 20;
    auto collect = [&](const ViewReader& reader) {
      Rows rows;
      reader.scan(
          Table::kClaims, from, to,
          [&](std::string_view key, std::string_view value) {
            rows.emplace_back(key, value);
            return rows.size() < limit;
          },
          reverse);
      return rows;
    };
    ASSERT_EQ(collect(overlay), collect(expected))
        << "seed " << seed << " scan " << i;
  }
}

TEST(OverlayJournalTest, ReplayGivesTheSameViewsAndChecksumAsTheWrites) {
  const std::uint32_t seed = testutil::random_seed();
  std::mt19937 rng(seed);
  const Table tables[] = {Table::kClaims, Table::kStages};
  MemoryViewStore base;
  for (int i = 0; i < 20; ++i) {
    base.put(tables[i % 2], std::string(1, "abcdef"[rng() % 6]), "base");
  }
  MemoryViewStore direct_inner = base;
  MemoryViewStore replayed_inner = base;
  ChecksumViewStore direct(direct_inner);
  OverlayViewStore overlay(base, /*keep_journal=*/true);
  OverlayViewStore silent(base);
  for (int i = 0; i < 80; ++i) {
    const Table table = tables[rng() % 2];
    const std::string key(1, "abcdef"[rng() % 6]);
    if (rng() % 3 == 0) {  // also deletes of absent keys
      direct.del(table, key);
      overlay.del(table, key);
      silent.del(table, key);
    } else {
      direct.put(table, key, std::to_string(i));
      overlay.put(table, key, std::to_string(i));
      silent.put(table, key, std::to_string(i));
    }
  }
  EXPECT_TRUE(silent.take_journal().empty());
  const std::vector<OverlayViewStore::Write> journal = overlay.take_journal();
  EXPECT_EQ(journal.size(), 80u);
  EXPECT_TRUE(overlay.take_journal().empty());
  ChecksumViewStore replayed(replayed_inner);
  replay_journal(journal, replayed);
  EXPECT_EQ(to_hex(replayed.checksum()), to_hex(direct.checksum()))
      << "seed " << seed;
  for (const Table table : tables) {
    EXPECT_EQ(dump_table(replayed_inner, table),
              dump_table(direct_inner, table))
        << "seed " << seed;
  }
}

TEST_F(OverlayTest, WorksOverAnLmdbSnapshot) {
  testutil::TempDir dir;
  auto views =
      LmdbViews::open(dir / "views", LmdbViewsOptions{std::uint64_t{64} << 20});
  views->write([](LmdbViews::WriteTxn& txn) {
    for (const char* key : {"b", "d"}) txn.put(Table::kStages, key, "base");
  });
  LmdbViews::Snapshot snapshot = views->begin_read();
  OverlayViewStore overlay(snapshot);
  overlay.del(Table::kStages, "b");
  overlay.put(Table::kStages, "c", "new");
  EXPECT_THAT(dump_table(overlay, Table::kStages),
              ElementsAre(Pair("c", "new"), Pair("d", "base")));
  EXPECT_EQ(views->dump(Table::kStages).size(), 2u);
}

struct Write {
  Table table;
  std::string key;
  std::optional<std::string> value;  // nullopt: delete.
};

std::vector<Write> sample_writes() {
  return {{Table::kWorkflows, "w1", "summary"},
          {Table::kStages, "s1", "stage"},
          {Table::kIds, "h", "entry"},
          {Table::kStages, "s1", "stage v2"},
          {Table::kStages, "s2", "x"},
          {Table::kStages, "s2", std::nullopt},
          {Table::kClaims, "c", ""},
          {Table::kWorkflowEvents, "e", "1"}};
}

void apply(ViewStore& store, const Write& write) {
  if (write.value) {
    store.put(write.table, write.key, *write.value);
  } else {
    store.del(write.table, write.key);
  }
}

ViewChecksum checksum_in_memory(const std::vector<Write>& writes) {
  MemoryViewStore memory;
  ChecksumViewStore store(memory);
  for (const Write& write : writes) apply(store, write);
  return store.checksum();
}

TEST(ChecksumTest, MatchesTheDocumentedChainForOneWrite) {
  MemoryViewStore memory;
  ChecksumViewStore store(memory);
  EXPECT_EQ(store.checksum(), ViewChecksum{});
  store.put(Table::kStages, "k", "v");
  std::string input(32, '\0');
  input += std::string("\x03P\x00\x00\x00\x01k\x00\x00\x00\x01v", 12);
  ViewChecksum expected{};
  SHA256(reinterpret_cast<const unsigned char*>(input.data()), input.size(),
         expected.data());
  EXPECT_EQ(store.checksum(), expected);
  EXPECT_EQ(memory.get(Table::kStages, "k"), "v");
}

TEST(ChecksumTest, IndependentOfTransactionGrouping) {
  const std::vector<Write> writes = sample_writes();
  const ViewChecksum expected = checksum_in_memory(writes);
  testutil::TempDir dir;
  auto views =
      LmdbViews::open(dir / "views", LmdbViewsOptions{std::uint64_t{64} << 20});
  // One LMDB transaction per write, the checksum carried through meta.
  for (const Write& write : writes) {
    views->write([&](LmdbViews::WriteTxn& txn) {
      ChecksumViewStore store(txn, read_checksum(txn));
      apply(store, write);
      write_checksum(store, store.checksum());
    });
  }
  EXPECT_EQ(read_checksum(views->begin_read()), expected);
  // All in one transaction, in a fresh table set.
  views->drop_all();
  views->write([&](LmdbViews::WriteTxn& txn) {
    ChecksumViewStore store(txn, read_checksum(txn));
    for (const Write& write : writes) apply(store, write);
    write_checksum(store, store.checksum());
  });
  EXPECT_EQ(read_checksum(views->begin_read()), expected);
  EXPECT_EQ(to_hex(expected).size(), 64u);
}

TEST(ChecksumTest, SensitiveToEveryPartOfEveryWrite) {
  const std::vector<Write> writes = sample_writes();
  const ViewChecksum base = checksum_in_memory(writes);
  std::vector<std::vector<Write>> variants;
  for (std::size_t i = 0; i < writes.size(); ++i) {
    auto changed = writes;
    changed[i].table =
        changed[i].table == Table::kStages ? Table::kWorkflows : Table::kStages;
    variants.push_back(changed);
    changed = writes;
    changed[i].key += "x";
    variants.push_back(changed);
    changed = writes;
    changed[i].value =
        changed[i].value ? std::optional<std::string>() : std::string();
    variants.push_back(changed);
    changed = writes;
    changed.erase(changed.begin() + static_cast<std::ptrdiff_t>(i));
    variants.push_back(changed);
  }
  auto swapped = writes;
  std::swap(swapped[0], swapped[1]);
  variants.push_back(swapped);
  auto moved_byte =
      writes;  // Same bytes, different split between key and value.
  moved_byte[0].key = "w1s";
  moved_byte[0].value = "ummary";
  variants.push_back(moved_byte);
  for (std::size_t i = 0; i < variants.size(); ++i) {
    EXPECT_NE(checksum_in_memory(variants[i]), base) << "variant " << i;
  }
}

TEST(ChecksumTest, MetaWritesAreNotFolded) {
  MemoryViewStore memory;
  ChecksumViewStore store(memory);
  store.put(Table::kMeta, "applied_lsn", "1");
  store.del(Table::kMeta, "applied_lsn");
  EXPECT_EQ(store.checksum(), ViewChecksum{});
  store.set_checksum(ViewChecksum{1});
  EXPECT_EQ(store.checksum(), ViewChecksum{1});
}

TEST(ChecksumTest, MalformedPersistedChecksumIsCorruption) {
  MemoryViewStore memory;
  memory.put(Table::kMeta, kMetaViewChecksum, "short");
  EXPECT_THAT(
      [&] { read_checksum(memory); },
      ThrowsMessage<CorruptionError>(HasSubstr("view_checksum: 5 bytes")));
}

}  // namespace
}  // namespace wfstore
