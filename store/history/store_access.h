// The store directory behind an open Database, for the history files (fork.cc
// defines it).

#pragma once

#include "wfstore/database.h"

#include "wfstore_internal/store_dir.h"

namespace wfstore {

// The store directory of `database`. Throws IOError for a closed or failed
// store (as its reads do).
const StoreDir& history_store_dir(Database& database);

}  // namespace wfstore
