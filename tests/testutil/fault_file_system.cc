// FaultFileSystem: real files written eagerly through a base FileSystem, plus
// an in-memory record of what is durable (synced length per file, directory
// entries as of each directory's last sync) from which power_cut() rewrites the
// files to a crash's outcome.

#include "tests/testutil/fault_file_system.h"

#include <algorithm>
#include <map>
#include <mutex>
#include <optional>
#include <random>
#include <set>
#include <string_view>
#include <utility>

#include <fmt/format.h>

#include "wfstore/errors.h"

namespace wfstore::testutil {
namespace fault_detail {

// One file (an inode): where it is now and how much of it a sync made durable.
struct FileState {
  std::filesystem::path
      path;  // Current real path; empty once removed or replaced.
  std::uint64_t synced_size = 0;
  std::string detached;  // The content it had when it lost its path.
  // Bytes below synced_size overwritten since the last sync, oldest first: the
  // offset and what was there before (a power cut may bring it back).
  std::vector<std::pair<std::uint64_t, std::string>> overwritten;
  // How many entries were ever erased from the front of `overwritten`: a
  // sync covers the entries before the absolute index it saw when it began,
  // whatever other syncs erased meanwhile.
  std::uint64_t overwrites_erased = 0;
  // The largest size a sync that runs now will make durable (0: none runs);
  // bytes below it overwritten meanwhile are recorded as overwrites too.
  std::uint64_t syncing_size = 0;
  int syncs_running = 0;
};
using StatePtr = std::shared_ptr<FileState>;

// Entry updates of one directory made by one call, atomic in the crash model. A
// null state means the name is absent.
using Change = std::vector<std::pair<std::string, StatePtr>>;

// The tracked entries of one directory.
struct DirState {
  std::map<std::string, StatePtr>
      durable;  // As of the last successful sync_dir.
  std::map<std::string, StatePtr> current;
  std::vector<Change> pending;  // Since the last successful sync_dir, in order.
};

// A fault that fires on the n-th matching call (n == 0: disarmed).
struct CountedFault {
  std::uint64_t n = 0;
  PathPredicate only;

  // Counts the call if it matches; returns true if the fault fires now.
  bool hit(const std::filesystem::path& path) {
    if (n == 0 || (only && !only(path))) return false;
    return --n == 0;
  }
};

struct LockSlot {
  std::unique_ptr<FileLock> inner;  // Guarded by Shared::mu.
};

struct Shared {
  explicit Shared(std::shared_ptr<FileSystem> b) : base(std::move(b)) {}

  const std::shared_ptr<FileSystem> base;
  mutable std::mutex mu;
  // Everything below is guarded by mu.
  std::uint64_t generation = 0;  // Bumped by every simulated crash.
  FaultStats stats;
  CountedFault fail_write;
  CountedFault short_write;
  std::size_t short_write_keep = 0;
  bool enospc_armed = false;
  std::uint64_t enospc_budget = 0;
  PathPredicate enospc_only;
  CountedFault fail_sync;
  CountedFault fail_sync_dir;
  CountedFault fail_rename;
  std::function<void(const std::filesystem::path&)> sync_hook;
  bool real_syncs = true;
  bool positioned_writes = true;
  std::map<std::filesystem::path, DirState> dirs;
  std::vector<std::weak_ptr<LockSlot>> locks;

  // Returns the state of the file at `path` (absolute, normal), discovering a
  // file that exists but was never seen (it counts as durable), or nullptr if
  // there is none.
  StatePtr lookup(const std::filesystem::path& path) {
    DirState& dir = dirs[path.parent_path()];
    const std::string name = path.filename().string();
    if (auto it = dir.current.find(name); it != dir.current.end())
      return it->second;
    if (!base->exists(path)) return nullptr;
    auto state = std::make_shared<FileState>();
    state->path = path;
    state->synced_size = base->open_readable(path)->size();
    dir.durable[name] = state;
    dir.current[name] = state;
    return state;
  }

  void record(const std::filesystem::path& dir_path, Change change) {
    DirState& dir = dirs[dir_path];
    for (const auto& [name, state] : change) {
      if (state) {
        dir.current[name] = state;
      } else {
        dir.current.erase(name);
      }
    }
    dir.pending.push_back(std::move(change));
  }

  // Ends the old "machine" or process: its handles die and its locks are
  // released.
  void kill_handles() {
    ++generation;
    for (const auto& weak : locks) {
      if (auto slot = weak.lock()) slot->inner.reset();
    }
    locks.clear();
  }
};

}  // namespace fault_detail

namespace {

using fault_detail::Shared;
using fault_detail::StatePtr;

// The key of a path: absolute, normal, without a trailing separator.
std::filesystem::path normal(const std::filesystem::path& path) {
  auto key = std::filesystem::absolute(path).lexically_normal();
  if (!key.has_filename() && key.has_parent_path() && key != key.root_path()) {
    key = key.parent_path();
  }
  return key;
}

IOError injected(std::string_view op, const std::filesystem::path& path,
                 std::string_view what) {
  return IOError(fmt::format("{} {}: {} (injected)", op, path.string(), what));
}

void check_alive(const Shared& shared, std::uint64_t generation,
                 std::string_view op, const std::filesystem::path& path) {
  if (shared.generation != generation) {
    throw IOError(fmt::format("{} {}: handle died in a simulated crash", op,
                              path.string()));
  }
}

class FaultWritableFile final : public WritableFile {
 public:
  FaultWritableFile(std::shared_ptr<Shared> shared, std::uint64_t generation,
                    StatePtr state, std::unique_ptr<WritableFile> inner)
      : shared_(std::move(shared)),
        generation_(generation),
        state_(std::move(state)),
        inner_(std::move(inner)) {}

  void append(std::string_view data) override {
    const std::scoped_lock lock(shared_->mu);
    check_alive(*shared_, generation_, "write", path());
    put(inner_->size(), data);
  }

  void write_at(std::uint64_t offset, std::string_view data) override {
    const std::scoped_lock lock(shared_->mu);
    check_alive(*shared_, generation_, "write", path());
    if (offset > inner_->size()) {
      throw IOError(fmt::format("write {}: offset {} is past the end ({})",
                                path().string(), offset, inner_->size()));
    }
    put(offset, data);
  }

  bool supports_write_at() const override {
    const std::scoped_lock lock(shared_->mu);
    return shared_->positioned_writes && inner_->supports_write_at();
  }

  void sync() override {
    std::function<void(const std::filesystem::path&)> hook;
    {
      const std::scoped_lock lock(shared_->mu);
      check_alive(*shared_, generation_, "fdatasync", path());
      hook = shared_->sync_hook;
    }
    if (hook) hook(path());
    std::uint64_t size = 0;
    bool real = true;
    std::uint64_t before =
        0;  // absolute index of the first overwrite not covered
    {
      const std::scoped_lock lock(shared_->mu);
      check_alive(*shared_, generation_, "fdatasync", path());
      ++shared_->stats.file_syncs;
      if (shared_->fail_sync.hit(path())) {
        throw injected("fdatasync", path(), "Input/output error");
      }
      size = inner_->size();
      real = shared_->real_syncs;
      before = state_->overwrites_erased + state_->overwritten.size();
      ++state_->syncs_running;
      state_->syncing_size = std::max(state_->syncing_size, size);
    }
    // However it ends, this sync no longer runs.
    const auto done = [this] {
      if (--state_->syncs_running == 0) state_->syncing_size = 0;
    };
    try {
      if (real) inner_->sync();
    } catch (...) {
      const std::scoped_lock lock(shared_->mu);
      done();
      throw;
    }
    const std::scoped_lock lock(shared_->mu);
    done();
    // A power cut while the fdatasync ran decided what survived.
    check_alive(*shared_, generation_, "fdatasync", path());
    state_->synced_size = std::max(state_->synced_size, size);
    auto& overwritten = state_->overwritten;
    const std::uint64_t covered =
        before > state_->overwrites_erased
            ? std::min<std::uint64_t>(before - state_->overwrites_erased,
                                      overwritten.size())
            : 0;
    overwritten.erase(
        overwritten.begin(),
        overwritten.begin() + static_cast<std::ptrdiff_t>(covered));
    state_->overwrites_erased += covered;
  }

  void truncate(std::uint64_t size) override {
    const std::scoped_lock lock(shared_->mu);
    check_alive(*shared_, generation_, "ftruncate", path());
    ++shared_->stats.truncates;
    inner_->truncate(size);
    state_->synced_size = std::min(state_->synced_size, size);
    // Bytes cut off come back as nothing: truncate() is durable at once.
    for (auto& [offset, old] : state_->overwritten) {
      old.resize(static_cast<std::size_t>(
          offset >= size ? 0
                         : std::min<std::uint64_t>(old.size(), size - offset)));
    }
  }

  std::uint64_t size() const override {
    const std::scoped_lock lock(shared_->mu);
    check_alive(*shared_, generation_, "size", path());
    return inner_->size();
  }

  void close() override {
    const std::scoped_lock lock(shared_->mu);
    if (shared_->generation != generation_) {
      inner_->close();
      check_alive(*shared_, generation_, "close", path());
    }
    inner_->close();
  }

  const std::filesystem::path& path() const override { return inner_->path(); }

 private:
  // Writes `data` at `offset` with the armed faults. REQUIRES: shared_->mu
  // held, offset <= size.
  void put(std::uint64_t offset, std::string_view data) {
    Shared& s = *shared_;
    ++s.stats.appends;
    const bool fail = s.fail_write.hit(path());
    const bool short_write = s.short_write.hit(path());
    if (fail) throw injected("write", path(), "Input/output error");
    if (short_write) {
      write(offset, data.substr(0, std::min(s.short_write_keep, data.size())));
      throw injected("write", path(), "short write");
    }
    if (s.enospc_armed && (!s.enospc_only || s.enospc_only(path()))) {
      // Only bytes past the end take space.
      const std::uint64_t end = inner_->size();
      const std::uint64_t grows =
          offset + data.size() > end ? offset + data.size() - end : 0;
      if (grows > s.enospc_budget) {
        const std::uint64_t fits = data.size() - (grows - s.enospc_budget);
        write(offset, data.substr(0, static_cast<std::size_t>(fits)));
        s.enospc_budget = 0;
        throw injected("write", path(), "No space left on device");
      }
      s.enospc_budget -= grows;
    }
    write(offset, data);
  }

  // REQUIRES: shared_->mu held.
  void write(std::uint64_t offset, std::string_view data) {
    const std::uint64_t durable =
        std::max(state_->synced_size, state_->syncing_size);
    if (offset < durable && !data.empty()) {
      const std::uint64_t upto =
          std::min<std::uint64_t>(durable, offset + data.size());
      std::string old(static_cast<std::size_t>(upto - offset), '\0');
      const std::unique_ptr<ReadableFile> reader =
          shared_->base->open_readable(inner_->path());
      old.resize(reader->read(offset, old.size(), old.data()));
      state_->overwritten.emplace_back(offset, std::move(old));
    }
    if (offset == inner_->size()) {
      inner_->append(data);
    } else {
      inner_->write_at(offset, data);
    }
    shared_->stats.bytes_appended += data.size();
  }

  std::shared_ptr<Shared> shared_;
  std::uint64_t generation_;
  StatePtr state_;
  std::unique_ptr<WritableFile> inner_;
};

class FaultReadableFile final : public ReadableFile {
 public:
  FaultReadableFile(std::shared_ptr<Shared> shared, std::uint64_t generation,
                    std::unique_ptr<ReadableFile> inner)
      : shared_(std::move(shared)),
        generation_(generation),
        inner_(std::move(inner)) {}

  std::size_t read(std::uint64_t offset, std::size_t n,
                   char* dst) const override {
    alive("pread");
    return inner_->read(offset, n, dst);
  }

  std::uint64_t size() const override {
    alive("fstat");
    return inner_->size();
  }

  const std::filesystem::path& path() const override { return inner_->path(); }

 private:
  void alive(std::string_view op) const {
    const std::scoped_lock lock(shared_->mu);
    check_alive(*shared_, generation_, op, path());
  }

  std::shared_ptr<Shared> shared_;
  std::uint64_t generation_;
  std::unique_ptr<ReadableFile> inner_;
};

class FaultFileLock final : public FileLock {
 public:
  FaultFileLock(std::shared_ptr<Shared> shared,
                std::shared_ptr<fault_detail::LockSlot> slot)
      : shared_(std::move(shared)), slot_(std::move(slot)) {}
  ~FaultFileLock() override {
    const std::scoped_lock lock(shared_->mu);
    slot_->inner.reset();
  }
  FaultFileLock(const FaultFileLock&) = delete;
  FaultFileLock& operator=(const FaultFileLock&) = delete;

 private:
  std::shared_ptr<Shared> shared_;
  std::shared_ptr<fault_detail::LockSlot> slot_;
};

// The content `state` has after a power cut (the page lottery decides its
// unsynced part).
std::string durable_image(const FileSystem& base,
                          const fault_detail::FileState& state,
                          std::mt19937& rng) {
  std::string content;
  if (state.path.empty()) {
    content = state.detached;
  } else if (base.exists(state.path)) {
    content = base.read_file(state.path);
  }
  const std::uint64_t synced =
      std::min<std::uint64_t>(state.synced_size, content.size());
  std::uint64_t length = synced;
  const std::uint64_t page = FaultFileSystem::kPageSize;
  // Each page an unsynced overwrite touched keeps the new bytes or gets back
  // its oldest unsynced content; newest first, so the oldest is left.
  std::map<std::uint64_t, bool> lost;
  for (auto it = state.overwritten.rbegin(); it != state.overwritten.rend();
       ++it) {
    const auto& [offset, old] = *it;
    for (std::uint64_t at = offset; at < offset + old.size();) {
      const std::uint64_t next =
          std::min<std::uint64_t>((at / page + 1) * page, offset + old.size());
      const auto [pick, fresh] = lost.try_emplace(at / page, false);
      if (fresh) pick->second = std::bernoulli_distribution(0.5)(rng);
      if (pick->second && next <= content.size()) {
        content.replace(static_cast<std::size_t>(at),
                        static_cast<std::size_t>(next - at),
                        old.substr(static_cast<std::size_t>(at - offset),
                                   static_cast<std::size_t>(next - at)));
      }
      at = next;
    }
  }
  for (std::uint64_t start = synced / page * page; start < content.size();
       start += page) {
    const std::uint64_t from = std::max(start, synced);
    const std::uint64_t to =
        std::min<std::uint64_t>(start + page, content.size());
    if (std::bernoulli_distribution(0.5)(rng)) {
      length = to;
    } else {
      std::fill(content.begin() + static_cast<std::ptrdiff_t>(from),
                content.begin() + static_cast<std::ptrdiff_t>(to), '\0');
    }
  }
  content.resize(static_cast<std::size_t>(length));
  return content;
}

}  // namespace

PathPredicate name_ends_with(std::string suffix) {
  return [suffix = std::move(suffix)](const std::filesystem::path& path) {
    const std::string name = path.filename().string();
    return name.size() >= suffix.size() &&
           name.compare(name.size() - suffix.size(), suffix.size(), suffix) ==
               0;
  };
}

FaultFileSystem::FaultFileSystem(std::shared_ptr<FileSystem> base)
    : shared_(std::make_shared<Shared>(std::move(base))) {}

FaultFileSystem::~FaultFileSystem() = default;

FaultStats FaultFileSystem::stats() const {
  const std::scoped_lock lock(shared_->mu);
  return shared_->stats;
}

void FaultFileSystem::reset_stats() {
  const std::scoped_lock lock(shared_->mu);
  shared_->stats = {};
}

void FaultFileSystem::fail_nth_write(std::uint64_t n, PathPredicate only) {
  const std::scoped_lock lock(shared_->mu);
  shared_->fail_write = {n, std::move(only)};
}

void FaultFileSystem::short_write_nth(std::uint64_t n, std::size_t keep,
                                      PathPredicate only) {
  const std::scoped_lock lock(shared_->mu);
  shared_->short_write = {n, std::move(only)};
  shared_->short_write_keep = keep;
}

void FaultFileSystem::enospc_after(std::uint64_t bytes, PathPredicate only) {
  const std::scoped_lock lock(shared_->mu);
  shared_->enospc_armed = true;
  shared_->enospc_budget = bytes;
  shared_->enospc_only = std::move(only);
}

void FaultFileSystem::fail_nth_sync(std::uint64_t n, PathPredicate only) {
  const std::scoped_lock lock(shared_->mu);
  shared_->fail_sync = {n, std::move(only)};
}

void FaultFileSystem::fail_nth_sync_dir(std::uint64_t n, PathPredicate only) {
  const std::scoped_lock lock(shared_->mu);
  shared_->fail_sync_dir = {n, std::move(only)};
}

void FaultFileSystem::fail_nth_rename(std::uint64_t n, PathPredicate only) {
  const std::scoped_lock lock(shared_->mu);
  shared_->fail_rename = {n, std::move(only)};
}

void FaultFileSystem::clear_faults() {
  const std::scoped_lock lock(shared_->mu);
  Shared& s = *shared_;
  s.fail_write = {};
  s.short_write = {};
  s.enospc_armed = false;
  s.enospc_only = {};
  s.fail_sync = {};
  s.fail_sync_dir = {};
  s.fail_rename = {};
}

void FaultFileSystem::set_positioned_writes(bool on) {
  const std::scoped_lock lock(shared_->mu);
  shared_->positioned_writes = on;
}

void FaultFileSystem::set_real_syncs(bool on) {
  const std::scoped_lock lock(shared_->mu);
  shared_->real_syncs = on;
}

void FaultFileSystem::set_sync_hook(
    std::function<void(const std::filesystem::path&)> hook) {
  const std::scoped_lock lock(shared_->mu);
  shared_->sync_hook = std::move(hook);
}

void FaultFileSystem::power_cut(std::uint32_t seed) {
  const std::scoped_lock lock(shared_->mu);
  Shared& s = *shared_;
  s.kill_handles();
  std::mt19937 rng(seed);

  struct Plan {
    std::filesystem::path dir;
    std::map<std::string, StatePtr> final_entries;
    std::set<std::string> names;
  };
  std::vector<Plan> plans;
  for (auto& [dir_path, dir] : s.dirs) {
    Plan plan{dir_path, dir.durable, {}};
    const auto kept =
        std::uniform_int_distribution<std::size_t>(0, dir.pending.size())(rng);
    for (std::size_t i = 0; i < dir.pending.size(); ++i) {
      for (const auto& [name, state] : dir.pending[i]) {
        plan.names.insert(name);
        if (i >= kept) continue;
        if (state) {
          plan.final_entries[name] = state;
        } else {
          plan.final_entries.erase(name);
        }
      }
    }
    for (const auto& [name, state] : dir.durable) plan.names.insert(name);
    for (const auto& [name, state] : dir.current) plan.names.insert(name);
    plans.push_back(std::move(plan));
  }

  // Every image is computed before any file is touched: names may have moved.
  std::map<const fault_detail::FileState*, std::optional<std::string>> images;
  for (const Plan& plan : plans) {
    for (const auto& [name, state] : plan.final_entries) {
      if (images.count(state.get()) != 0) continue;
      const bool in_place =
          state->path == plan.dir / name && s.base->exists(state->path) &&
          s.base->open_readable(state->path)->size() <= state->synced_size &&
          state->overwritten.empty();
      images[state.get()] =
          in_place ? std::nullopt
                   : std::optional(durable_image(*s.base, *state, rng));
    }
  }
  for (const Plan& plan : plans) {
    for (const std::string& name : plan.names) {
      const auto path = plan.dir / name;
      const auto it = plan.final_entries.find(name);
      if (it != plan.final_entries.end() &&
          !images[it->second.get()].has_value())
        continue;
      s.base->remove(path);
      if (it == plan.final_entries.end()) continue;
      auto file = s.base->open_writable(path);
      file->append(*images[it->second.get()]);
      file->close();
    }
  }
  s.dirs.clear();
}

void FaultFileSystem::crash_process() {
  const std::scoped_lock lock(shared_->mu);
  shared_->kill_handles();
}

std::unique_ptr<WritableFile> FaultFileSystem::open_writable(
    const std::filesystem::path& path) {
  const std::scoped_lock lock(shared_->mu);
  const auto key = normal(path);
  StatePtr state = shared_->lookup(key);
  auto inner = shared_->base->open_writable(path);
  if (!state) {
    state = std::make_shared<fault_detail::FileState>();
    state->path = key;
    shared_->record(key.parent_path(), {{key.filename().string(), state}});
  }
  return std::make_unique<FaultWritableFile>(
      shared_, shared_->generation, std::move(state), std::move(inner));
}

std::unique_ptr<ReadableFile> FaultFileSystem::open_readable(
    const std::filesystem::path& path) const {
  auto inner = shared_->base->open_readable(path);
  const std::scoped_lock lock(shared_->mu);
  return std::make_unique<FaultReadableFile>(shared_, shared_->generation,
                                             std::move(inner));
}

std::string FaultFileSystem::read_file(
    const std::filesystem::path& path) const {
  return shared_->base->read_file(path);
}

void FaultFileSystem::rename(const std::filesystem::path& from,
                             const std::filesystem::path& to) {
  const std::scoped_lock lock(shared_->mu);
  Shared& s = *shared_;
  ++s.stats.renames;
  if (s.fail_rename.hit(to)) {
    throw injected(fmt::format("rename {} to", from.string()), to,
                   "Input/output error");
  }
  const auto src_key = normal(from);
  const auto dst_key = normal(to);
  if (src_key == dst_key) {
    s.base->rename(from, to);
    return;
  }
  const StatePtr src = s.lookup(src_key);
  const StatePtr victim = src ? s.lookup(dst_key) : nullptr;
  std::string victim_content =
      victim ? s.base->read_file(dst_key) : std::string();
  s.base->rename(from, to);
  if (!src) return;
  if (victim) {
    victim->detached = std::move(victim_content);
    victim->path.clear();
  }
  src->path = dst_key;
  const std::string from_name = src_key.filename().string();
  const std::string to_name = dst_key.filename().string();
  if (src_key.parent_path() == dst_key.parent_path()) {
    s.record(dst_key.parent_path(), {{to_name, src}, {from_name, nullptr}});
  } else {
    s.record(src_key.parent_path(), {{from_name, nullptr}});
    s.record(dst_key.parent_path(), {{to_name, src}});
  }
}

void FaultFileSystem::remove(const std::filesystem::path& path) {
  const std::scoped_lock lock(shared_->mu);
  Shared& s = *shared_;
  ++s.stats.removes;
  const auto key = normal(path);
  const StatePtr state = s.lookup(key);
  std::string content = state ? s.base->read_file(key) : std::string();
  s.base->remove(path);
  if (!state) return;
  state->detached = std::move(content);
  state->path.clear();
  s.record(key.parent_path(), {{key.filename().string(), nullptr}});
}

void FaultFileSystem::create_directories(const std::filesystem::path& path) {
  shared_->base->create_directories(path);
}

void FaultFileSystem::sync_dir(const std::filesystem::path& path) {
  const std::scoped_lock lock(shared_->mu);
  Shared& s = *shared_;
  ++s.stats.dir_syncs;
  if (s.fail_sync_dir.hit(path))
    throw injected("fsync", path, "Input/output error");
  if (s.real_syncs) s.base->sync_dir(path);
  const auto it = s.dirs.find(normal(path));
  if (it == s.dirs.end()) return;
  it->second.durable = it->second.current;
  it->second.pending.clear();
}

void FaultFileSystem::sync_file(const std::filesystem::path& path) {
  const std::filesystem::path key = normal(path);
  const std::scoped_lock lock(shared_->mu);
  Shared& s = *shared_;
  ++s.stats.file_syncs;
  if (s.fail_sync.hit(key))
    throw injected("fdatasync", key, "Input/output error");
  if (s.real_syncs) s.base->sync_file(key);
  const StatePtr state = s.lookup(key);
  if (state == nullptr) {
    throw IOError(
        fmt::format("fdatasync {}: No such file or directory", key.string()));
  }
  state->synced_size =
      std::max(state->synced_size, s.base->open_readable(key)->size());
  state->overwrites_erased += state->overwritten.size();
  state->overwritten.clear();
}

bool FaultFileSystem::exists(const std::filesystem::path& path) const {
  return shared_->base->exists(path);
}

std::vector<std::string> FaultFileSystem::list_dir(
    const std::filesystem::path& dir) const {
  return shared_->base->list_dir(dir);
}

std::unique_ptr<FileLock> FaultFileSystem::try_lock(
    const std::filesystem::path& path) {
  auto inner = shared_->base->try_lock(path);
  if (!inner) return nullptr;
  const std::scoped_lock lock(shared_->mu);
  auto slot = std::make_shared<fault_detail::LockSlot>();
  slot->inner = std::move(inner);
  auto& locks = shared_->locks;
  locks.erase(std::remove_if(locks.begin(), locks.end(),
                             [](const auto& w) { return w.expired(); }),
              locks.end());
  locks.push_back(slot);
  return std::make_unique<FaultFileLock>(shared_, std::move(slot));
}

}  // namespace wfstore::testutil
