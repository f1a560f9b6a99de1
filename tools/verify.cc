// `wfstore verify --dir D`: checks the log of a store (checksums, LSN
// continuity, segment header chain, hash chain), prints its head hash, and
// checks that the views equal a rebuild of the log at their LSN. Read-only;
// takes no lock.

#include <iostream>
#include <string>

#include "wfstore/file_system.h"
#include "wfstore/maintenance.h"

#include "tools/commands.h"
#include "wfstore_internal/log_verify.h"
#include "wfstore_internal/store_dir.h"

namespace wfstore::tools {

void add_verify_command(CLI::App& app, Action& action) {
  CLI::App* cmd = app.add_subcommand(
      "verify",
      "Check a store's log (checksums, LSN continuity, header and hash chains) "
      "and that its views equal a rebuild");
  auto dir = std::make_shared<std::string>();
  cmd->add_option("--dir", *dir, "The store directory")->required();
  action = [dir] {
    const std::shared_ptr<FileSystem> fs = posix_file_system();
    const StoreDir store = StoreDir::open_existing(fs, *dir, false);
    const log::VerifyReport r =
        log::verify_log(fs, store.log_dir(), store.id());
    std::cout << "store:     " << store.id().to_string() << '\n'
              << "segments:  " << r.segments << '\n'
              << "commits:   " << r.commits << '\n'
              << "last lsn:  " << r.last_lsn << '\n'
              << "bytes:     " << r.bytes << '\n'
              << "head hash: " << log::to_hex(r.head_hash) << '\n'
              << "log ok\n";
    if (!fs->exists(store.views_dir() / "data.mdb")) {
      std::cout << "views:     none\n";
      return 0;
    }
    const ViewsVerifyReport views = verify_store_views(*dir);
    std::cout << "views lsn: " << views.applied_lsn << '\n'
              << "checksum:  " << views.checksum << '\n'
              << "rebuilt:   " << views.rebuilt_checksum << '\n';
    for (const std::string& difference : views.differences) {
      std::cout << "differs:   " << difference << '\n';
    }
    if (!views.equal()) {
      std::cout << "views differ from a rebuild of the log\n";
      return 1;
    }
    std::cout << "views ok (equal a rebuild at the same lsn)\n";
    return 0;
  };
}

}  // namespace wfstore::tools
