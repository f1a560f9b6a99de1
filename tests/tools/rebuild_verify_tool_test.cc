// `wfstore verify` on a store with views (they must equal a rebuild) and
// `wfstore rebuild`, run as real processes.

#include <array>
#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "wfstore/database.h"
#include "wfstore/maintenance.h"

#include "store/commit_pipeline.h"
#include "tests/testutil/run_tool.h"
#include "tests/testutil/sample_workflows.h"
#include "tests/testutil/temp_dir.h"
#include "wfstore_internal/keys.h"
#include "wfstore_internal/lmdb_views.h"

namespace wfstore {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using wfstore::testutil::run_tool;
using wfstore::testutil::ToolRun;

TEST(RebuildVerifyToolTest,
     VerifyComparesViewsWithARebuildAndRebuildRepairsThem) {
  const testutil::TempDir tmp;
  const auto dir = tmp / "store";
  {
    auto db = Database::open(dir);
    db->workflow_store().store(testutil::diamond_workflow("wf"));
    db->workflow_store().mark_message_processed("m1");
    db->close();
  }
  const ToolRun ok = run_tool("verify --dir " + dir.string());
  EXPECT_EQ(ok.status, 0) << ok.output;
  EXPECT_THAT(ok.output, HasSubstr("views ok"));
  EXPECT_TRUE(verify_store_views(dir).equal());

  // Tamper with the views behind the log's back.
  {
    auto views = LmdbViews::open(dir / "views");
    views->write([](LmdbViews::WriteTxn& txn) {
      txn.put(Table::kStages, std::string(8, '\x7f'), "bogus");
    });
  }
  const ToolRun bad = run_tool("verify --dir " + dir.string());
  EXPECT_EQ(bad.status, 1) << bad.output;
  EXPECT_THAT(bad.output, HasSubstr("table 'stages': 1 keys differ"));

  const ToolRun rebuilt = run_tool("rebuild --dir " + dir.string());
  EXPECT_EQ(rebuilt.status, 0) << rebuilt.output;
  EXPECT_THAT(rebuilt.output, HasSubstr("applied lsn: 2"));
  const ToolRun again = run_tool("verify --dir " + dir.string());
  EXPECT_EQ(again.status, 0) << again.output;
  auto db = Database::open(dir);
  EXPECT_TRUE(db->workflow_store().exists("wf"));
}

// Views of another schema version than the build's (here: 1, whose queue
// records had no task id) are named as such, not only as differing bytes.
TEST(RebuildVerifyToolTest, VerifyNamesViewsOfAnotherSchemaVersion) {
  const testutil::TempDir tmp;
  const auto dir = tmp / "store";
  {
    auto db = Database::open(dir);
    db->workflow_store().store(testutil::diamond_workflow("wf"));
    db->close();
  }
  {
    auto views = LmdbViews::open(dir / "views");
    views->write([](LmdbViews::WriteTxn& txn) {
      txn.put(Table::kMeta, kMetaSchemaVersion, keys::encode_u64(1));
    });
  }
  const std::string reason =
      "view schema version 1 differs from this build's " +
      std::to_string(kViewSchemaVersion);
  const ToolRun bad = run_tool("verify --dir " + dir.string());
  EXPECT_EQ(bad.status, 1) << bad.output;
  EXPECT_THAT(bad.output, HasSubstr("differs:   " + reason + "\n"));
  EXPECT_THAT(verify_store_views(dir).differences, ElementsAre(reason));

  const ToolRun rebuilt = run_tool("rebuild --dir " + dir.string());
  EXPECT_EQ(rebuilt.status, 0) << rebuilt.output;
  const ToolRun again = run_tool("verify --dir " + dir.string());
  EXPECT_EQ(again.status, 0) << again.output;
}

TEST(RebuildVerifyToolTest, RebuildOfALockedStoreFails) {
  const testutil::TempDir tmp;
  auto db = Database::open(tmp / "store");
  EXPECT_THROW(rebuild_store_views(tmp / "store"), StoreLockedError);
}

}  // namespace
}  // namespace wfstore
