// History: the history API's object over an open Database. Its methods are
// defined beside what they serve: query.cc (event queries, the event at an
// LSN, commits and times), as_of.cc (time travel, diffs, entity history),
// fork.cc, bundle.cc and summary.cc.

#include "wfstore/history.h"

#include "wfstore/database.h"

namespace wfstore {

History::History(Database& database) : database_(database) {}

}  // namespace wfstore
