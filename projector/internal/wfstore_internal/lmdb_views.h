// The LMDB environment of a store's views: one named database per Table, write
// transactions that implement ViewStore, read snapshots that implement
// ViewReader, map growth, rebuild support.

#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "wfstore_internal/view_store.h"

namespace wfstore {

struct LmdbViewsOptions {
  // Initial map size in bytes, allocated on disk by a writer (lmdb::Env::open);
  // grown by lmdb::map_growth() whenever it fills. Default 64 MiB. Ignored by
  // read-only opens, which follow the writer's size.
  std::uint64_t map_size = std::uint64_t{64} << 20;
  // Opens with MDB_RDONLY: never creates or writes data.mdb; begin_write() and
  // drop_all() throw IOError.
  bool read_only = false;
  // LMDB reader slots for all threads and processes using the views.
  unsigned max_readers = 1024;
  // Writer only: permission bits of data.mdb and lock.mdb and of a missing
  // `dir` (search permission added where read is granted), less the umask.
  unsigned file_mode = 0600;
};

// A views directory. Opens share one LMDB environment per directory per
// process, so a read-only open of views this process writes sees every commit
// at once.
//
// Thread-safe. Write transactions are serialized by LMDB: a thread that begins
// one while another is active waits. Map growth waits for every transaction
// of the process to end, and transactions that begin meanwhile wait for it
// (except on a thread that already holds one): a thread must not hold a read
// snapshot while it waits for a commit, and growth on a thread that holds one
// throws IOError instead of waiting for itself.
class LmdbViews {
 public:
  class WriteTxn;
  class Snapshot;

  // Opens (a writer also creates) the views in `dir` with every table. Throws
  // IOError (also when a writer open meets views this process holds read-only),
  // CorruptionError (a damaged environment; for read-only opens also a missing
  // table), InvalidArgumentError (a writer's file_mode outside 0600..0777).
  static std::unique_ptr<LmdbViews> open(const std::filesystem::path& dir,
                                         const LmdbViewsOptions& options = {});
  ~LmdbViews();
  LmdbViews(const LmdbViews&) = delete;
  LmdbViews& operator=(const LmdbViews&) = delete;

  // Whether `dir` holds an environment: a data.mdb that is not empty (LMDB
  // creates it empty and then writes its meta pages; a crash in between
  // leaves an empty one, which a writer's open initializes as new). Never
  // throws.
  static bool has_environment(const std::filesystem::path& dir);

  // Every key and value of the meta table of the views in `dir`, read without
  // the registry and without a lock file: no byte of data.mdb or lock.mdb
  // changes. nullopt if `dir` has no environment (has_environment()) or no
  // meta table. Only for a
  // caller that holds the store's LOCK. Throws IOError, CorruptionError.
  static std::optional<std::map<std::string, std::string>> read_meta_unlocked(
      const std::filesystem::path& dir);
  // The same for any table (salvage reads the history indexes of a damaged
  // store's views this way). nullopt if there is no environment or no such
  // table.
  static std::optional<std::map<std::string, std::string>> read_table_unlocked(
      const std::filesystem::path& dir, Table table);

  // Begins a write transaction, first doubling the map if more than half of it
  // is used and no transaction of the process is active (never waits for
  // one). Throws IOError (read-only views).
  WriteTxn begin_write();

  // Runs fn in a write transaction and commits it. When the map fills
  // (MapFullError from fn or the commit) it aborts, grows the map and runs fn
  // again in a fresh transaction, so fn must be repeatable. Throws IOError,
  // CorruptionError, whatever fn throws.
  // `use_reserve`: a growth may take the disk's last 8 MiB (lmdb::Env::grow),
  // for writes whose records are in the log already.
  void write(const std::function<void(WriteTxn&)>& fn,
             bool use_reserve = false);

  // Begins a read snapshot of the last commit. Throws IOError.
  Snapshot begin_read() const;

  // Ordered dump of `table` from a fresh snapshot. Throws IOError,
  // CorruptionError.
  std::vector<std::pair<std::string, std::string>> dump(Table table) const;

  // Empties every table (meta included) in one transaction, for a rebuild.
  // Throws IOError.
  void drop_all();

  // Flushes the map to disk (the writer opens with MDB_NOSYNC); no-op when
  // read-only. Throws IOError.
  void sync();

  // The current map size in bytes. Throws IOError.
  std::uint64_t map_size() const;
  // Bytes of the map in use as of the last commit. Throws IOError.
  std::uint64_t used_size() const;
  // Grows the map (lmdb::Env::grow) unless another thread already grew it past
  // `seen_map_size`, waiting until no transaction of the process is active.
  // Throws IOError when the disk has no room for the growth (the map is
  // unchanged), and when the calling thread holds a transaction of these
  // views.
  void grow_map(std::uint64_t seen_map_size);
  // Shrinks the map back to `size` (lmdb::Env::shrink): for a commit refused
  // for want of room, whose growths no one needs. Throws IOError.
  void shrink_map(std::uint64_t size);
  // The number of transactions (snapshots and write transactions) of these
  // views' environment the calling thread holds.
  int transactions_held_by_this_thread() const;

  // The canonical directory.
  const std::string& path() const;
  bool read_only() const;

  // Identity of the shared LMDB environment: equal for opens that share one.
  const void* environment_for_testing() const;
  // Tests: the next WriteTxn::commit() of this open aborts its transaction and
  // fails as mdb_txn_commit returning `mdb_rc` would (e.g. EIO: IOError).
  void fail_next_commit_for_testing(int mdb_rc);

  // Implementation details; use open().
  struct Impl;
  explicit LmdbViews(std::unique_ptr<Impl> impl);

 private:
  std::unique_ptr<Impl> impl_;
};

// A write transaction over the views. Aborts unless commit() is called. Writes
// are visible to this transaction's own reads at once, to others after
// commit().
//
// Not thread-safe. REQUIRES: the LmdbViews outlives it.
class LmdbViews::WriteTxn final : public ViewStore {
 public:
  WriteTxn(WriteTxn&&) noexcept;
  WriteTxn& operator=(WriteTxn&&) noexcept;
  ~WriteTxn() override;

  std::optional<std::string> get(Table table,
                                 std::string_view key) const override;
  void get_with(Table table, std::string_view key,
                const ValueFn& fn) const override;
  void scan(Table table, std::string_view from_key, std::string_view to_key,
            const ScanFn& fn, bool reverse = false) const override;
  void put(Table table, std::string_view key, std::string_view value) override;
  void del(Table table, std::string_view key) override;

  // Commits. Finished either way. Throws MapFullError, IOError; IOError also
  // once finished.
  void commit();
  // Aborts if active; idempotent.
  void abort() noexcept;
  bool active() const noexcept;
  // The map's size when begin_write() was called, before the growth ahead of
  // need it may have made.
  std::uint64_t map_size_at_begin() const noexcept;

 private:
  friend class LmdbViews;
  struct State;
  explicit WriteTxn(std::unique_ptr<State> state);
  std::unique_ptr<State> state_;
};

// A read snapshot of the views: sees the last commit before it began.
// Short-lived: it blocks map growth while alive. Every call after it ends
// throws IOError.
//
// Not thread-safe, but may move between threads (MDB_NOTLS). REQUIRES: the
// LmdbViews outlives it.
class LmdbViews::Snapshot final : public ViewReader {
 public:
  // The bytes of the snapshot's state (an LMDB read transaction and its
  // hold on the resize lock).
  static constexpr std::size_t kStateBytes = 48;

  Snapshot(Snapshot&&) noexcept;
  Snapshot& operator=(Snapshot&&) noexcept;
  ~Snapshot() override;

  std::optional<std::string> get(Table table,
                                 std::string_view key) const override;
  void get_with(Table table, std::string_view key,
                const ValueFn& fn) const override;
  void scan(Table table, std::string_view from_key, std::string_view to_key,
            const ScanFn& fn, bool reverse = false) const override;

  // The number of entries of `table`. Throws IOError.
  std::uint64_t entries(Table table) const;

  // Ends the snapshot early; idempotent.
  void release() noexcept;

 private:
  friend class LmdbViews;
  struct State;
  // Takes over `state`'s transaction.
  explicit Snapshot(State&& state) noexcept;
  State& state() noexcept;
  const State& state() const noexcept;

  // The state lives in place, so a read allocates nothing (lmdb_views.cc
  // checks that it fits). A moved-from snapshot keeps a finished one.
  alignas(8) std::byte state_[kStateBytes];
};

}  // namespace wfstore
