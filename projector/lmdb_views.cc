// LmdbViews: the views' LMDB environment, its transactions and map growth.

#include "wfstore_internal/lmdb_views.h"

#include <array>
#include <atomic>
#include <new>

#include <fmt/format.h>

#include "projector/lmdb.h"

namespace wfstore {

struct LmdbViews::Impl {
  std::shared_ptr<lmdb::Env> env;
  // This open's mode: a read-only open may share a writer's environment.
  bool read_only = false;
  std::array<MDB_dbi, kTableCount> dbis{};
  // fail_next_commit_for_testing's code; 0: none.
  mutable std::atomic<int> fail_next_commit{0};

  MDB_dbi dbi(Table table) const { return dbis[table_index(table)]; }
};

namespace {

[[noreturn]] void throw_finished(const std::string& path) {
  throw IOError(fmt::format("{}: views transaction already finished", path));
}

void txn_scan(const lmdb::Txn& txn, MDB_dbi dbi, std::string_view from_key,
              std::string_view to_key, const ScanFn& fn, bool reverse) {
  if (!from_key.empty() && !to_key.empty() && from_key >= to_key) return;
  lmdb::Cursor cursor(txn, dbi);
  if (!reverse) {
    bool ok = from_key.empty() ? cursor.move(MDB_FIRST)
                               : cursor.move(MDB_SET_RANGE, from_key);
    for (; ok; ok = cursor.move(MDB_NEXT)) {
      if (!to_key.empty() && cursor.key() >= to_key) return;
      if (!fn(cursor.key(), cursor.value())) return;
    }
    return;
  }
  bool ok = false;
  if (to_key.empty()) {
    ok = cursor.move(MDB_LAST);
  } else {
    // The last key below to_key: step back from the first key >= to_key, or
    // start at the last key when every key is below it.
    ok = cursor.move(MDB_SET_RANGE, to_key) ? cursor.move(MDB_PREV)
                                            : cursor.move(MDB_LAST);
  }
  for (; ok; ok = cursor.move(MDB_PREV)) {
    if (!from_key.empty() && cursor.key() < from_key) return;
    if (!fn(cursor.key(), cursor.value())) return;
  }
}

// A transaction of one open, and the reads that a write transaction and a
// snapshot share.
struct TxnState {
  const LmdbViews::Impl* impl;
  lmdb::Txn txn;

  // Throws IOError once the transaction is finished.
  void check_active() const {
    if (!txn.active()) throw_finished(impl->env->path());
  }

  std::optional<std::string> get(Table table, std::string_view key) const {
    check_active();
    std::optional<std::string_view> value = txn.get(impl->dbi(table), key);
    if (!value) return std::nullopt;
    return std::string(*value);
  }

  void get_with(Table table, std::string_view key, const ValueFn& fn) const {
    check_active();
    fn(txn.get(impl->dbi(table), key));
  }

  void scan(Table table, std::string_view from_key, std::string_view to_key,
            const ScanFn& fn, bool reverse) const {
    check_active();
    txn_scan(txn, impl->dbi(table), from_key, to_key, fn, reverse);
  }
};

}  // namespace

struct LmdbViews::WriteTxn::State : TxnState {
  std::uint64_t map_size_at_begin = 0;
};
struct LmdbViews::Snapshot::State : TxnState {};

LmdbViews::LmdbViews(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

LmdbViews::~LmdbViews() = default;

std::unique_ptr<LmdbViews> LmdbViews::open(const std::filesystem::path& dir,
                                           const LmdbViewsOptions& options) {
  lmdb::EnvOptions env_options;
  env_options.map_size = options.map_size;
  env_options.read_only = options.read_only;
  env_options.max_readers = options.max_readers;
  env_options.max_dbs = kTableCount + 8;
  env_options.file_mode = options.file_mode;
  auto impl = std::make_unique<Impl>();
  impl->env = lmdb::Env::open(dir, env_options);
  impl->read_only = options.read_only;
  std::vector<std::string> names;
  names.reserve(kAllTables.size());
  for (Table table : kAllTables) names.emplace_back(table_name(table));
  const std::vector<std::optional<MDB_dbi>> handles =
      impl->env->dbis(names, !options.read_only);
  for (std::size_t i = 0; i < names.size(); ++i) {
    if (!handles[i]) {
      throw CorruptionError(fmt::format("{}: views table '{}' is missing",
                                        impl->env->path(), names[i]));
    }
    impl->dbis[i] = *handles[i];
  }
  return std::make_unique<LmdbViews>(std::move(impl));
}

std::optional<std::map<std::string, std::string>> LmdbViews::read_meta_unlocked(
    const std::filesystem::path& dir) {
  return read_table_unlocked(dir, Table::kMeta);
}

std::optional<std::map<std::string, std::string>>
LmdbViews::read_table_unlocked(const std::filesystem::path& dir, Table table) {
  if (!has_environment(dir)) return std::nullopt;
  return lmdb::read_database_unlocked(dir, table_name(table));
}

bool LmdbViews::has_environment(const std::filesystem::path& dir) {
  // LMDB creates data.mdb empty and then writes its meta pages: an empty file
  // is what a crash in between leaves, and a writer's open initializes it as
  // a new environment.
  std::error_code ec;
  const std::uintmax_t size = std::filesystem::file_size(dir / "data.mdb", ec);
  return !ec && size > 0;
}

LmdbViews::WriteTxn LmdbViews::begin_write() {
  lmdb::Env& env = *impl_->env;
  if (impl_->read_only) {
    throw IOError(fmt::format("{}: views are open read-only", env.path()));
  }
  // Growing before the map fills keeps MapFullError (and redone work) rare:
  // once less than half a growth is left. It never waits: with read
  // snapshots active it is left to a later write, or to the MapFullError
  // path, which waits for them.
  const std::uint64_t size = env.map_size();
  if (env.used_size() + lmdb::map_growth(size) / 2 > size) env.try_grow(size);
  return WriteTxn(std::make_unique<WriteTxn::State>(
      WriteTxn::State{{impl_.get(), lmdb::Txn(env, false)}, size}));
}

void LmdbViews::write(const std::function<void(WriteTxn&)>& fn,
                      bool use_reserve) {
  for (;;) {
    WriteTxn txn = begin_write();
    const std::uint64_t seen = impl_->env->map_size();
    try {
      fn(txn);
      txn.commit();
      return;
    } catch (const MapFullError&) {
      txn.abort();
      impl_->env->grow(seen, use_reserve);
    }
  }
}

LmdbViews::Snapshot LmdbViews::begin_read() const {
  return Snapshot(Snapshot::State{{impl_.get(), lmdb::Txn(*impl_->env, true)}});
}

std::vector<std::pair<std::string, std::string>> LmdbViews::dump(
    Table table) const {
  const Snapshot snapshot = begin_read();
  return dump_table(snapshot, table);
}

void LmdbViews::drop_all() {
  write([this](WriteTxn& txn) {
    for (Table table : kAllTables) txn.state_->txn.clear(impl_->dbi(table));
  });
}

void LmdbViews::sync() {
  if (!impl_->read_only) impl_->env->sync();
}

std::uint64_t LmdbViews::map_size() const { return impl_->env->map_size(); }

std::uint64_t LmdbViews::used_size() const { return impl_->env->used_size(); }

void LmdbViews::grow_map(std::uint64_t seen_map_size) {
  impl_->env->grow(seen_map_size);
}

void LmdbViews::shrink_map(std::uint64_t size) { impl_->env->shrink(size); }

int LmdbViews::transactions_held_by_this_thread() const {
  return impl_->env->transactions_held_by_this_thread();
}

const std::string& LmdbViews::path() const { return impl_->env->path(); }

bool LmdbViews::read_only() const { return impl_->read_only; }

void LmdbViews::fail_next_commit_for_testing(int mdb_rc) {
  impl_->fail_next_commit.store(mdb_rc);
}

const void* LmdbViews::environment_for_testing() const {
  return impl_->env->get();
}

LmdbViews::WriteTxn::WriteTxn(std::unique_ptr<State> state)
    : state_(std::move(state)) {}
LmdbViews::WriteTxn::WriteTxn(WriteTxn&&) noexcept = default;
LmdbViews::WriteTxn& LmdbViews::WriteTxn::operator=(WriteTxn&&) noexcept =
    default;
LmdbViews::WriteTxn::~WriteTxn() = default;

std::optional<std::string> LmdbViews::WriteTxn::get(
    Table table, std::string_view key) const {
  return state_->get(table, key);
}

void LmdbViews::WriteTxn::get_with(Table table, std::string_view key,
                                   const ValueFn& fn) const {
  state_->get_with(table, key, fn);
}

void LmdbViews::WriteTxn::scan(Table table, std::string_view from_key,
                               std::string_view to_key, const ScanFn& fn,
                               bool reverse) const {
  state_->scan(table, from_key, to_key, fn, reverse);
}

void LmdbViews::WriteTxn::put(Table table, std::string_view key,
                              std::string_view value) {
  check_view_key(table, key);
  state_->check_active();
  state_->txn.put(state_->impl->dbi(table), key, value);
}

void LmdbViews::WriteTxn::del(Table table, std::string_view key) {
  check_view_key(table, key);
  state_->check_active();
  state_->txn.del(state_->impl->dbi(table), key);
}

void LmdbViews::WriteTxn::commit() {
  state_->check_active();
  if (const int rc = state_->impl->fail_next_commit.exchange(0); rc != 0) {
    state_->txn.abort();
    lmdb::check(rc, "mdb_txn_commit", state_->impl->env->path());
  }
  state_->txn.commit();
}

void LmdbViews::WriteTxn::abort() noexcept {
  if (state_) state_->txn.abort();
}

bool LmdbViews::WriteTxn::active() const noexcept {
  return state_ && state_->txn.active();
}

std::uint64_t LmdbViews::WriteTxn::map_size_at_begin() const noexcept {
  return state_->map_size_at_begin;
}

LmdbViews::Snapshot::Snapshot(State&& state) noexcept {
  static_assert(sizeof(State) <= kStateBytes && alignof(State) <= 8);
  new (state_) State(std::move(state));
}
LmdbViews::Snapshot::Snapshot(Snapshot&& other) noexcept
    : Snapshot(std::move(other.state())) {}
LmdbViews::Snapshot& LmdbViews::Snapshot::operator=(Snapshot&& other) noexcept {
  state() = std::move(other.state());
  return *this;
}
LmdbViews::Snapshot::~Snapshot() { state().~State(); }

LmdbViews::Snapshot::State& LmdbViews::Snapshot::state() noexcept {
  return *std::launder(reinterpret_cast<State*>(state_));
}
const LmdbViews::Snapshot::State& LmdbViews::Snapshot::state() const noexcept {
  return *std::launder(reinterpret_cast<const State*>(state_));
}

std::optional<std::string> LmdbViews::Snapshot::get(
    Table table, std::string_view key) const {
  return state().get(table, key);
}

void LmdbViews::Snapshot::get_with(Table table, std::string_view key,
                                   const ValueFn& fn) const {
  state().get_with(table, key, fn);
}

void LmdbViews::Snapshot::scan(Table table, std::string_view from_key,
                               std::string_view to_key, const ScanFn& fn,
                               bool reverse) const {
  state().scan(table, from_key, to_key, fn, reverse);
}

std::uint64_t LmdbViews::Snapshot::entries(Table table) const {
  state().check_active();
  return state().txn.entries(state().impl->dbi(table));
}

void LmdbViews::Snapshot::release() noexcept { state().txn.abort(); }

}  // namespace wfstore
