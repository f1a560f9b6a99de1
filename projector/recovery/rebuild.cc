// Rebuild of the views from the log into a fresh environment swapped in
// place of the old one.

#include <cerrno>
#include <mutex>
#include <system_error>
#include <utility>

#include <fcntl.h>
#include <fmt/format.h>
#include <stdio.h>

#include "wfstore/errors.h"

#include "wfstore_internal/keys.h"
#include "wfstore_internal/view_recovery.h"

namespace wfstore {
namespace {

std::mutex rebuild_hooks_mu;
RebuildHooks rebuild_hooks;  // Guarded by rebuild_hooks_mu.

RebuildHooks current_rebuild_hooks() {
  std::scoped_lock lock(rebuild_hooks_mu);
  return rebuild_hooks;
}

void remove_tree(const std::filesystem::path& path) {
  std::error_code ec;
  std::filesystem::remove_all(path, ec);
  if (ec) {
    throw IOError(fmt::format("remove {}: {}", path.string(), ec.message()));
  }
}

void rename_dir(const std::filesystem::path& from,
                const std::filesystem::path& to) {
  if (::rename(from.c_str(), to.c_str()) != 0) {
    throw IOError(fmt::format("rename {} to {}: {}", from.string(), to.string(),
                              std::generic_category().message(errno)));
  }
}

}  // namespace

void set_rebuild_hooks_for_testing(RebuildHooks hooks) {
  std::scoped_lock lock(rebuild_hooks_mu);
  rebuild_hooks = std::move(hooks);
}

void remove_rebuild_leftovers(const StoreDir& store) {
  const std::shared_ptr<FileSystem>& fs = store.file_system();
  bool removed = false;
  for (const std::filesystem::path& path :
       {store.views_rebuild_dir(), store.dir() / "views.old"}) {
    if (fs->exists(path)) {
      remove_tree(path);
      removed = true;
    }
  }
  if (removed) fs->sync_dir(store.dir());
}

void remove_views(const StoreDir& store) {
  const std::shared_ptr<FileSystem>& fs = store.file_system();
  if (!fs->exists(store.views_dir())) return;
  remove_tree(store.views_dir());
  fs->sync_dir(store.dir());
}

FoldProgress rebuild_views_swapped(
    const StoreDir& store, const LmdbViewsOptions& options,
    const std::function<void(LmdbViews::WriteTxn&, const FoldProgress&)>&
        finish) {
  const RebuildHooks hooks = current_rebuild_hooks();
  const auto step = [&hooks](std::string_view name) {
    if (hooks.at_step) hooks.at_step(name);
  };
  const std::shared_ptr<FileSystem>& fs = store.file_system();
  const std::filesystem::path fresh = store.views_rebuild_dir();
  const std::filesystem::path live = store.views_dir();
  remove_rebuild_leftovers(store);
  FoldProgress progress;
  {
    LmdbViewsOptions fresh_options = options;
    fresh_options.read_only = false;
    const std::unique_ptr<LmdbViews> views =
        LmdbViews::open(fresh, fresh_options);
    views->write([](LmdbViews::WriteTxn& txn) {
      txn.put(Table::kMeta, kMetaSchemaVersion,
              keys::encode_u64(kViewSchemaVersion));
    });
    progress =
        fold_log_into(*views, fs, store.log_dir(), store.id(), FoldProgress{});
    if (finish) {
      views->write([&](LmdbViews::WriteTxn& txn) { finish(txn, progress); });
    }
    views->sync();
  }
  fs->sync_dir(fresh);
  fs->sync_dir(store.dir());
  step("built");
  if (!fs->exists(live)) {
    rename_dir(fresh, live);
  } else {
    bool exchanged = false;
    if (!hooks.no_exchange) {
      if (::renameat2(AT_FDCWD, fresh.c_str(), AT_FDCWD, live.c_str(),
                      RENAME_EXCHANGE) == 0) {
        exchanged = true;
      } else if (errno != EINVAL && errno != ENOSYS && errno != ENOTSUP) {
        throw IOError(fmt::format("exchange {} and {}: {}", fresh.string(),
                                  live.string(),
                                  std::generic_category().message(errno)));
      }
    }
    if (!exchanged) {
      rename_dir(live, store.dir() / "views.old");
      fs->sync_dir(store.dir());
      step("moved-old");
      rename_dir(fresh, live);
    }
  }
  fs->sync_dir(store.dir());
  step("swapped");
  remove_rebuild_leftovers(store);
  return progress;
}

}  // namespace wfstore
