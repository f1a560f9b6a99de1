// `wfstore serve` as a real process: its first line is the URL (port 0 picks
// a free port), it serves beside a writer, refuses a non-loopback address
// without --allow-remote, and stops cleanly (exit 0) on SIGTERM and SIGINT.

#include <csignal>
#include <regex>
#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <nlohmann/json.hpp>

#include "wfstore/database.h"

#include "tests/testutil/run_tool.h"
#include "tests/testutil/sample_workflows.h"
#include "tests/testutil/store_test_util.h"
#include "tests/testutil/temp_dir.h"
#include "tests/testutil/tool_process.h"

namespace wfstore {
namespace {

using ::testing::HasSubstr;
using testutil::run_tool;
using testutil::TempDir;
using testutil::ToolProcess;

class ServeToolTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto db = Database::open(dir_, testutil::quiet_options());
    db->workflow_store().store(testutil::diamond_workflow("wf-1"));
    db->close();
  }

  TempDir tmp_;
  std::filesystem::path dir_ = tmp_ / "store";
};

// The port of a "http://127.0.0.1:PORT/" line, or 0.
int port_of(const std::string& line) {
  std::smatch m;
  if (!std::regex_match(line, m,
                        std::regex(R"(http://127\.0\.0\.1:([0-9]+)/)"))) {
    return 0;
  }
  return std::stoi(m[1]);
}

TEST_F(ServeToolTest, PrintsItsUrlServesAndStopsOnSigterm) {
  for (const int sig : {SIGTERM, SIGINT}) {
    ToolProcess serve({"serve", "--dir", dir_.string()});
    const std::optional<std::string> url = serve.read_line();
    ASSERT_TRUE(url);
    const int port = port_of(*url);
    ASSERT_GT(port, 0) << *url;
    httplib::Client client("127.0.0.1", port);
    const httplib::Result wf = client.Get("/api/workflows/wf-1");
    ASSERT_TRUE(wf);
    EXPECT_EQ(wf->status, 200);
    EXPECT_EQ(nlohmann::json::parse(wf->body).at("id"), "wf-1");
    // Beside a writer: the store's writer opens while it serves.
    {
      auto db = Database::open(dir_, testutil::quiet_options());
      db->workflow_store().store(
          testutil::diamond_workflow("wf-" + std::to_string(sig)));
      db->close();
    }
    const httplib::Result fresh =
        client.Get("/api/workflows/wf-" + std::to_string(sig));
    ASSERT_TRUE(fresh);
    EXPECT_EQ(fresh->status, 200);
    serve.signal(sig);
    EXPECT_EQ(serve.wait(), 0);
    EXPECT_FALSE(client.Get("/api/stats"));
  }
}

TEST_F(ServeToolTest, AnExplicitPortAndRemoteAddressesNeedTheFlag) {
  const testutil::ToolRun remote =
      run_tool("serve --dir " + dir_.string() + " --listen 0.0.0.0:0");
  EXPECT_EQ(remote.status, 2) << remote.output;
  EXPECT_THAT(remote.output, HasSubstr("--allow-remote"));
  EXPECT_THAT(remote.output, HasSubstr("exposes the store's contents"));
  const testutil::ToolRun help = run_tool("serve --help");
  EXPECT_EQ(help.status, 0);
  EXPECT_THAT(help.output, HasSubstr("EXPOSES THE STORE'S CONTENTS"));
  const testutil::ToolRun bad =
      run_tool("serve --dir " + dir_.string() + " --listen 127.0.0.1:99999");
  EXPECT_EQ(bad.status, 2) << bad.output;
  const testutil::ToolRun missing =
      run_tool("serve --dir " + (tmp_ / "nothing").string());
  EXPECT_EQ(missing.status, 1) << missing.output;

  // A port taken: an error, not a hang.
  ToolProcess first({"serve", "--dir", dir_.string()});
  const std::optional<std::string> url = first.read_line();
  ASSERT_TRUE(url);
  const int port = port_of(*url);
  const testutil::ToolRun taken =
      run_tool("serve --dir " + dir_.string() +
               " --listen 127.0.0.1:" + std::to_string(port));
  EXPECT_EQ(taken.status, 5) << taken.output;
  EXPECT_THAT(taken.output, HasSubstr("cannot listen"));
  first.signal(SIGTERM);
  EXPECT_EQ(first.wait(), 0);
}

}  // namespace
}  // namespace wfstore
