// The viewer (wfstore/viewer.h) as a real server on a real store, on a port
// the test picks free: every API path and its document against the library's
// (time travel, diff, timeline, history, stats as `wfstore stats --json`),
// the page, error codes and hostile requests, the event stream with a commit
// made by another process, a client leaving mid-stream, and 1,000 concurrent
// connections.

#include "wfstore/viewer.h"

#include <atomic>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <nlohmann/json.hpp>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "wfstore/audit_scope.h"
#include "wfstore/database.h"
#include "wfstore/history.h"
#include "wfstore/history_documents.h"
#include "wfstore/history_projections.h"
#include "wfstore/json.h"
#include "wfstore/queue.h"
#include "wfstore/time_format.h"
#include "wfstore/timeline_svg.h"
#include "wfstore/transaction.h"

#include "tests/testutil/run_tool.h"
#include "tests/testutil/sample_messages.h"
#include "tests/testutil/sample_workflows.h"
#include "tests/testutil/store_test_util.h"
#include "tests/testutil/temp_dir.h"
#include <arpa/inet.h>
#include <netinet/in.h>

namespace wfstore {
namespace {

using nlohmann::json;
using ::testing::HasSubstr;
using ::testing::StartsWith;
using testutil::run_tool;
using testutil::TempDir;

// 2026-12-05T10:00:00Z; each commit of the fixture is a second later.
constexpr std::int64_t kTen = 1796464800000;
constexpr int kAppWorkflows = 130;

struct Reply {
  int status = 0;
  std::string content_type;
  std::string nosniff;
  std::string csp;  // Content-Security-Policy
  std::string body;
  json doc;  // the body parsed, when it is JSON
};

// A loopback TCP connection for what httplib's client will not send (raw
// targets, other Host headers) and for reading an event stream as it comes.
class RawConnection {
 public:
  explicit RawConnection(std::uint16_t port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    connected_ =
        ::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  }
  ~RawConnection() { close(); }
  RawConnection(const RawConnection&) = delete;
  RawConnection& operator=(const RawConnection&) = delete;

  bool connected() const { return connected_; }
  void send(const std::string& bytes) {
    ASSERT_EQ(::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL),
              static_cast<ssize_t>(bytes.size()));
  }
  // Reads until `needle` was received (true) or `wait` passed / EOF.
  bool read_until(const std::string& needle,
                  std::chrono::milliseconds wait = std::chrono::seconds{20}) {
    const auto deadline = std::chrono::steady_clock::now() + wait;
    while (received_.find(needle, scanned_) == std::string::npos) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) return false;
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) return false;
      char buf[8192];
      const ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
      if (n <= 0) return false;
      received_.append(buf, static_cast<std::size_t>(n));
    }
    return true;
  }
  const std::string& received() const { return received_; }
  void close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

 private:
  int fd_ = -1;
  bool connected_ = false;
  std::string received_;
  std::size_t scanned_ = 0;
};

// A store of one busy workflow (wf-main: stored, stages run one by one,
// paused, a queued message and a dead letter), a second one (wf-other),
// and kAppWorkflows small ones of application "bulk".
class ViewerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    DatabaseOptions options = testutil::quiet_options();
    auto clock = std::make_shared<testutil::FakeClock>(kTen);
    options.clock = clock;
    auto db = Database::open(dir_, options);
    WorkflowStore& store = db->workflow_store();
    {
      AuditScope audit({"alice", "rel-1", "", "cli"});
      store.store(testutil::diamond_workflow("wf-main"));
      clock->advance(1000);
      store.store(testutil::diamond_workflow("wf-other"));
    }
    AuditScope audit({"bob", "rel-2", "", "engine"});
    for (const char* stage : {"wf-main.deploy", "wf-main.deploy_verify"}) {
      clock->advance(1000);
      StageExecution s = store.retrieve_stage(stage).stage();
      s.status = WorkflowStatus::kRunning;
      store.store_stage(s);
      clock->advance(1000);
      s.status = WorkflowStatus::kSucceeded;
      store.store_stage(s);
    }
    clock->advance(1000);
    store.pause("wf-main", "bob");
    {
      Queue queue(*db);
      clock->advance(1000);
      queue.push(testutil::start_workflow("wf-main"));
    }
    for (int i = 0; i < kAppWorkflows; ++i) {
      clock->advance(1000);
      // Every seventh not started (no start time: listed last).
      std::optional<std::int64_t> start;
      if (i % 7 != 0) start = kTen + 1000 * (i % 40);
      store.store(testutil::bare_workflow(
          "bulk-" + std::to_string(i), "bulk",
          i % 3 == 0 ? WorkflowStatus::kSucceeded : WorkflowStatus::kRunning,
          start));
    }
    db->close();
  }

  void TearDown() override { server_.reset(); }

  // Starts the server (after the test read what it expects: a store is
  // opened once per process at a time).
  void start(ViewerOptions options = {}) {
    options.keepalive = std::chrono::milliseconds{300};
    server_ = std::make_unique<ViewerServer>(dir_, options);
    client_ = std::make_unique<httplib::Client>("127.0.0.1", server_->port());
    client_->set_read_timeout(std::chrono::seconds{30});
  }

  Reply get(const std::string& path, const std::string& method = "GET") {
    httplib::Request req;
    req.method = method;
    req.path = path;
    const httplib::Result result = client_->send(req);
    Reply reply;
    if (!result) {
      ADD_FAILURE() << method << " " << path << ": no response";
      return reply;
    }
    reply.status = result->status;
    reply.content_type = result->get_header_value("Content-Type");
    reply.nosniff = result->get_header_value("X-Content-Type-Options");
    reply.csp = result->get_header_value("Content-Security-Policy");
    reply.body = result->body;
    if (reply.content_type == "application/json" && !reply.body.empty()) {
      reply.doc = json::parse(reply.body);
    }
    return reply;
  }

  json ok(const std::string& path) {
    const Reply reply = get(path);
    EXPECT_EQ(reply.status, 200) << path << ": " << reply.body;
    EXPECT_EQ(reply.content_type, "application/json") << path;
    return reply.doc;
  }

  // Sends `request_line` (raw: the target as written) and returns the
  // status of the response.
  int raw_status(const std::string& target, const std::string& method = "GET",
                 const std::string& host = "127.0.0.1") {
    RawConnection c(server_->port());
    EXPECT_TRUE(c.connected());
    c.send(method + " " + target + " HTTP/1.1\r\nHost: " + host +
           "\r\nConnection: close\r\n\r\n");
    // The headers (a request refused before its own headers were read keeps
    // its connection until the read timeout).
    EXPECT_TRUE(c.read_until("\r\n\r\n")) << target;
    const std::string& response = c.received();
    EXPECT_THAT(response, HasSubstr("X-Content-Type-Options: nosniff"))
        << target;
    EXPECT_THAT(response, HasSubstr("Content-Type: ")) << target;
    if (response.size() < 12) return 0;
    return std::stoi(response.substr(9, 3));
  }

  // Exports workflow `id` of a separate store to a bundle file.
  std::filesystem::path bundle_of(const std::string& id) {
    const std::filesystem::path other = tmp_ / ("other-" + id);
    const std::filesystem::path file = tmp_ / (id + ".bundle");
    auto db = Database::open(other, testutil::quiet_options());
    db->workflow_store().store(testutil::diamond_workflow(id));
    History(*db).export_workflow(id, file);
    db->close();
    return file;
  }

  TempDir tmp_;
  std::filesystem::path dir_ = tmp_ / "store";
  std::unique_ptr<ViewerServer> server_;
  std::unique_ptr<httplib::Client> client_;
};

TEST_F(ViewerTest, ListenAddressesAndLoopback) {
  EXPECT_EQ(parse_listen_address("127.0.0.1:8080").host, "127.0.0.1");
  EXPECT_EQ(parse_listen_address("127.0.0.1:8080").port, 8080);
  EXPECT_EQ(parse_listen_address("[::1]:0").host, "::1");
  EXPECT_EQ(parse_listen_address("localhost").port, 0);
  for (const char* bad : {"", ":80", "127.0.0.1:65536", "127.0.0.1:-1",
                          "::1:80", "[::1", "[::1]x", "h:0x10"}) {
    EXPECT_THROW(parse_listen_address(bad), InvalidArgumentError) << bad;
  }
  for (const char* host :
       {"127.0.0.1", "127.1.2.3", "::1", "[::1]", "localhost"}) {
    EXPECT_TRUE(is_loopback_host(host)) << host;
  }
  for (const char* host :
       {"0.0.0.0", "::", "10.0.0.1", "example.com", "128.0.0.1", ""}) {
    EXPECT_FALSE(is_loopback_host(host)) << host;
  }
}

TEST_F(ViewerTest, ANonLoopbackAddressNeedsAllowRemote) {
  ViewerOptions options;
  options.host = "0.0.0.0";
  EXPECT_THAT([&] { ViewerServer server(dir_, options); },
              ::testing::ThrowsMessage<InvalidArgumentError>(
                  HasSubstr("exposes the store's contents")));
  options.allow_remote = true;
  ViewerServer server(dir_, options);
  EXPECT_NE(server.port(), 0);
}

TEST_F(ViewerTest, WorkflowListPagesByCursorInTheStoresOrder) {
  std::vector<std::string> expected;
  std::vector<std::string> pending_running;
  {
    auto db = Database::open_read_only(dir_);
    WorkflowCriteria criteria;
    criteria.page_size = 100000;
    expected =
        db->workflow_store().retrieve_by_application("bulk", criteria).ids();
    criteria.statuses = {WorkflowStatus::kRunning};
    pending_running =
        db->workflow_store().get_all_pending_workflows(criteria).ids();
  }
  ASSERT_EQ(expected.size(), static_cast<std::size_t>(kAppWorkflows));
  start();
  std::vector<std::string> seen;
  std::string cursor;
  int pages = 0;
  for (;;) {
    const json page = ok("/api/workflows?application=bulk&limit=17" +
                         (cursor.empty() ? "" : "&cursor=" + cursor));
    ++pages;
    EXPECT_EQ(page.at("total"), kAppWorkflows);
    for (const json& row : page.at("workflows")) {
      seen.push_back(row.at("id").get<std::string>());
      EXPECT_EQ(row.at("application"), "bulk");
      EXPECT_EQ(row.at("stage_count"), 0);
      EXPECT_TRUE(row.contains("start_time") && row.contains("end_time") &&
                  row.contains("name") && row.contains("status"));
    }
    if (page.at("next_cursor").is_null()) break;
    cursor = page.at("next_cursor").get<std::string>();
    ASSERT_LT(pages, 20);
  }
  EXPECT_EQ(seen, expected);
  EXPECT_EQ(pages, (kAppWorkflows + 16) / 17);

  // Statuses and pending: the recovery query's selection.
  std::vector<std::string> running;
  cursor.clear();
  for (;;) {
    const json page = ok("/api/workflows?pending=1&status=RUNNING&limit=50" +
                         (cursor.empty() ? "" : "&cursor=" + cursor));
    EXPECT_TRUE(page.at("total").is_null());
    for (const json& row : page.at("workflows")) {
      EXPECT_EQ(row.at("status"), "RUNNING");
      running.push_back(row.at("id").get<std::string>());
    }
    if (page.at("next_cursor").is_null()) break;
    cursor = page.at("next_cursor").get<std::string>();
  }
  EXPECT_EQ(running, pending_running);
  // Neither: every workflow, newest first; the default page is 50.
  const json all = ok("/api/workflows");
  EXPECT_EQ(all.at("workflows").size(), 50U);
  const json wf_main = ok("/api/workflows?application=" +
                          testutil::diamond_workflow("x").application);
  EXPECT_EQ(wf_main.at("total"), 2);
  EXPECT_EQ(get("/api/workflows?start_time_before=5").status, 400);
  const json before =
      ok("/api/workflows?application=bulk&limit=1000&"
         "start_time_before=" +
         std::to_string(kTen + 1000 * 10));
  for (const json& row : before.at("workflows")) {
    EXPECT_LT(row.at("start_time").get<std::int64_t>(), kTen + 1000 * 10);
  }
  EXPECT_FALSE(before.at("workflows").empty());
  EXPECT_EQ(ok("/api/workflows?application=none").at("workflows"),
            json::array());
}

TEST_F(ViewerTest, WorkflowNowAndAsOfEveryPointEqualTheLibrarysTimeTravel) {
  std::map<std::uint64_t, json> as_of;
  json now;
  std::vector<std::uint64_t> commit_ends;
  std::int64_t second_commit_time = 0;
  {
    auto db = Database::open_read_only(dir_);
    const History history(*db);
    now = workflow_document(db->workflow_store().retrieve("wf-main"),
                            history.current_lsn());
    EventQuery query;
    query.workflow_id = "wf-main";
    for (const Event& e : history.events(query)) {
      const std::uint64_t end = history.commit_end(e.lsn);
      if (commit_ends.empty() || commit_ends.back() != end) {
        commit_ends.push_back(end);
      }
      if (commit_ends.size() == 2 && second_commit_time == 0) {
        second_commit_time = e.timestamp_ms;
      }
      as_of[e.lsn] =
          workflow_document(*history.workflow_as_of("wf-main", e.lsn), end);
    }
  }
  start();
  EXPECT_EQ(ok("/api/workflows/wf-main"), now);
  for (const auto& [lsn, doc] : as_of) {
    EXPECT_EQ(ok("/api/workflows/wf-main?at=" + std::to_string(lsn)), doc)
        << lsn;
  }
  // A time names the last commit at or before it.
  const Reply by_time =
      get("/api/workflows/wf-main?at=" + format_time_ms(second_commit_time));
  EXPECT_EQ(by_time.status, 200) << by_time.body;
  EXPECT_EQ(by_time.doc.at("as_of_lsn"), commit_ends[1]);

  // The points: one per commit touching the workflow, its last LSN.
  const json points = ok("/api/workflows/wf-main/points").at("points");
  std::vector<std::uint64_t> lsns;
  for (const json& p : points) {
    lsns.push_back(p.at("lsn").get<std::uint64_t>());
    EXPECT_TRUE(p.contains("timestamp") && p.contains("type") &&
                p.contains("actor"));
  }
  EXPECT_EQ(lsns, commit_ends);
  EXPECT_EQ(points.front().at("actor"), "alice");
  EXPECT_EQ(points.front().at("type"), "WorkflowStored");

  // Before it existed: 404; a point beyond the end or not a point: 400.
  EXPECT_EQ(get("/api/workflows/wf-other?at=1").status, 404);
  EXPECT_EQ(get("/api/workflows/wf-main?at=99999999").status, 400);
  EXPECT_EQ(get("/api/workflows/wf-main?at=yesterday").status, 400);
  EXPECT_EQ(get("/api/workflows/wf-main?at=").status, 400);
  EXPECT_EQ(get("/api/workflows/wf-main?at=2026-12-05T10:00:00").status, 400);
}

TEST_F(ViewerTest, HistoryPagesAreTheEventsWithWhatChanged) {
  std::vector<json> expected;
  {
    auto db = Database::open_read_only(dir_);
    EventQuery query;
    query.workflow_id = "wf-main";
    for (const Event& e : History(*db).events(query)) {
      json doc = event_to_json(e);
      doc["summary"] = summarize_event(e).what;
      expected.push_back(doc);
    }
  }
  ASSERT_GE(expected.size(), 7U);
  start();
  std::vector<json> seen;
  std::string after;
  for (int page = 0; page < 20; ++page) {
    const json doc = ok("/api/workflows/wf-main/history?limit=3" +
                        (after.empty() ? "" : "&after=" + after));
    for (const json& e : doc.at("events")) seen.push_back(e);
    if (doc.at("next_after").is_null()) break;
    after = std::to_string(doc.at("next_after").get<std::uint64_t>());
  }
  EXPECT_EQ(seen, expected);
  EXPECT_THAT(seen.front().at("summary").get<std::string>(),
              HasSubstr("stored: status"));
  EXPECT_EQ(ok("/api/workflows/wf-main/history").at("events").size(),
            expected.size());
  EXPECT_EQ(get("/api/workflows/nope/history").status, 404);
  EXPECT_EQ(get("/api/workflows/wf-main/history?limit=0").status, 400);
  EXPECT_EQ(get("/api/workflows/wf-main/history?limit=5001").status, 400);
  EXPECT_EQ(get("/api/workflows/wf-main/history?after=-1").status, 400);
}

TEST_F(ViewerTest, DiffTimelineQueueAndStatsAreTheLibrarysDocuments) {
  json diff;
  json timeline;
  json timeline_at;
  std::string svg;
  std::uint64_t last = 0;
  {
    auto db = Database::open_read_only(dir_);
    const History history(*db);
    last = history.current_lsn();
    diff = diff_document(history.diff("wf-main", 1, last));
    timeline = workflow_timeline(history, "wf-main").to_json();
    timeline_at = workflow_timeline(history, "wf-main", 4).to_json();
    svg = render_timeline_svg(workflow_timeline(history, "wf-main"));
  }
  const testutil::ToolRun stats_run =
      run_tool("stats --json --dir " + dir_.string(), false);
  ASSERT_EQ(stats_run.status, 0) << stats_run.output;
  start();
  EXPECT_EQ(ok("/api/workflows/wf-main/diff?from=1&to=" + std::to_string(last)),
            diff);
  EXPECT_FALSE(diff.at("changes").empty());
  EXPECT_EQ(ok("/api/workflows/wf-main/timeline"), timeline);
  EXPECT_EQ(ok("/api/workflows/wf-main/timeline?at=4"), timeline_at);
  const Reply picture = get("/api/workflows/wf-main/timeline.svg");
  EXPECT_EQ(picture.status, 200);
  EXPECT_EQ(picture.content_type, "image/svg+xml");
  EXPECT_EQ(picture.body, svg);
  EXPECT_EQ(ok("/api/stats"), json::parse(stats_run.output));

  const json queue = ok("/api/workflows/wf-main/queue");
  ASSERT_EQ(queue.at("messages").size(), 1U);
  EXPECT_EQ(queue.at("messages")[0].at("message_type"), "StartWorkflow");
  EXPECT_EQ(queue.at("dead_letters"), json::array());
  EXPECT_EQ(ok("/api/workflows/wf-other/queue").at("messages"), json::array());

  EXPECT_EQ(get("/api/workflows/wf-main/diff?from=5&to=2").status, 400);
  EXPECT_EQ(get("/api/workflows/wf-main/diff?from=1").status, 400);
  EXPECT_EQ(get("/api/workflows/nope/diff?from=1&to=2").status, 404);
  EXPECT_EQ(get("/api/workflows/nope/timeline").status, 404);
  EXPECT_EQ(get("/api/workflows/nope/queue").status, 404);
}

TEST_F(ViewerTest, ATimelineAsOfAPointInsideACommitShowsTheWholeCommit) {
  json whole;
  std::uint64_t first = 0;
  {
    auto db = Database::open(dir_, testutil::quiet_options());
    WorkflowStore& store = db->workflow_store();
    StageExecution stage = store.retrieve_stage("wf-other.deploy").stage();
    stage.status = WorkflowStatus::kSucceeded;
    Workflow wf = store.retrieve_execution_summary("wf-other");
    wf.status = WorkflowStatus::kSucceeded;
    run_transaction(store, nullptr, [&](Transaction& txn) {
      txn.store_stage(stage);
      txn.update_workflow_status(wf);
    });
    const History history(*db);
    const std::uint64_t end = history.current_lsn();
    first = end - 1;
    ASSERT_EQ(history.commit_end(first), end);
    whole = workflow_timeline(history, "wf-other", end).to_json();
    db->close();
  }
  start();
  const std::string at = "?at=" + std::to_string(first);
  EXPECT_EQ(ok("/api/workflows/wf-other/timeline" + at), whole);
  EXPECT_EQ(ok("/api/workflows/wf-other" + at).at("status"), "SUCCEEDED");
  // Before the first commit: nothing to draw.
  EXPECT_EQ(get("/api/workflows/wf-other/timeline?at=0").status, 404);
}

TEST_F(ViewerTest, ThePageIsEmbeddedAndNothingElseIsServed) {
  start();
  const Reply index = get("/");
  EXPECT_EQ(index.status, 200);
  EXPECT_EQ(index.content_type, "text/html; charset=utf-8");
  EXPECT_EQ(index.nosniff, "nosniff");
  // No inline script or style, nothing from elsewhere, never framed (the
  // browser test runs the page under it).
  EXPECT_EQ(index.csp,
            "default-src 'self'; base-uri 'none'; form-action 'self'; "
            "frame-ancestors 'none'");
  EXPECT_EQ(get("/app.js").csp, index.csp);
  EXPECT_EQ(get("/index.html").body, index.body);
  EXPECT_THAT(index.body, HasSubstr("<"));
  const Reply head = get("/", "HEAD");
  EXPECT_EQ(head.status, 200);
  EXPECT_TRUE(head.body.empty());
  for (const char* path : {"/nope.html", "/api", "/api/", "/api/nope",
                           "/api/workflows/wf-main/nope", "/web/index.html",
                           "/viewer/web/index.html", "/index.html/"}) {
    const Reply r = get(path);
    EXPECT_EQ(r.status, 404) << path;
    EXPECT_EQ(r.content_type, "application/json") << path;
    EXPECT_EQ(r.nosniff, "nosniff") << path;
    EXPECT_EQ(r.doc.at("error").at("class"), "NotFoundError") << path;
  }
}

TEST_F(ViewerTest, ErrorsAreJsonWithTheirClass) {
  start();
  const Reply missing = get("/api/workflows/nope");
  EXPECT_EQ(missing.status, 404);
  EXPECT_EQ(missing.doc.at("error").at("class"), "WorkflowNotFoundError");
  EXPECT_THAT(missing.doc.at("error").at("message").get<std::string>(),
              HasSubstr("nope"));
  for (const char* method : {"POST", "PUT", "DELETE", "PATCH", "OPTIONS"}) {
    const Reply r = get("/api/workflows/wf-main", method);
    EXPECT_EQ(r.status, 405) << method;
    EXPECT_EQ(r.doc.at("error").at("class"), "MethodNotAllowedError");
    EXPECT_EQ(r.nosniff, "nosniff");
  }
  const Reply bad = get("/api/workflows?limit=1001");
  EXPECT_EQ(bad.status, 400);
  EXPECT_EQ(bad.doc.at("error").at("class"), "InvalidArgumentError");
}

TEST_F(ViewerTest, HostileRequestsGetA4xxAndChangeNothing) {
  const std::string before =
      testutil::run_tool("stats --json --dir " + dir_.string(), false).output;
  start();
  const std::map<std::string, int> cases = {
      {"/../etc/passwd", 400},
      {"/%2e%2e/%2e%2e/etc/passwd", 400},
      {"/api/workflows/%2e%2e/history", 400},
      {"/api/workflows/..", 400},
      {"/%2E%2E/store/LOCK", 400},
      {"/api/workflows/%ff%fe", 400},
      {"/api/workflows/wf-main%00", 404},
      {"/api/workflows?application=%c3%28", 400},
      {"/api/workflows?status=%ff", 400},
      {"/api/workflows?status=NOPE", 400},
      {"/api/workflows?limit=99999999999999999999999999", 400},
      {"/api/workflows?limit=-5", 400},
      {"/api/workflows?start_time_after=1e9", 400},
      {"/api/workflows?cursor=zz", 400},
      {"/api/workflows?cursor=99999999999-61", 400},
      {"/api/workflows?pending=yes", 400},
      {"/api/workflows/wf-main?at=%ff", 400},
      {"/api/workflows/wf-main?at=18446744073709551616", 400},
      {"/api/workflows/wf-main/history?after=%zz", 400},
      {"/api/events?after=99999999", 400},
      {"/api/events?workflow=%ff", 400},
      {"/api/workflows/" + std::string(2000, 'x'), 400},
      {"/api/workflows/wf-main?at=" + std::string(5000, '9'), 400},
      {"/" + std::string(9000, 'a'), 414},
  };
  for (const auto& [target, status] : cases) {
    EXPECT_EQ(raw_status(target), status) << target.substr(0, 80);
  }
  EXPECT_EQ(raw_status("/api/stats", "BREW"), 400);
  // Another site's page reaching the viewer by a rebound DNS name.
  EXPECT_EQ(raw_status("/api/stats", "GET", "evil.example:80"), 403);
  EXPECT_EQ(raw_status("/api/stats", "GET", "localhost:1"), 200);
  // A body announced with a GET is never read (nor waited for).
  {
    RawConnection c(server_->port());
    c.send(
        "GET /api/stats HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: "
        "100000000\r\nConnection: close\r\n\r\n" +
        std::string(65536, 'x'));
    EXPECT_TRUE(c.read_until("\"workflows\"", std::chrono::seconds{5}));
    EXPECT_THAT(c.received(), StartsWith("HTTP/1.1 200"));
  }
  server_.reset();
  EXPECT_EQ(
      testutil::run_tool("stats --json --dir " + dir_.string(), false).output,
      before);
}

// Reads the next `event: commit` after the greeting; nullopt on timeout.
std::optional<json> next_commit(RawConnection& c, std::size_t* from) {
  const std::string marker = "event: commit\ndata: ";
  for (;;) {
    const std::size_t at = c.received().find(marker, *from);
    if (at != std::string::npos) {
      const std::size_t end = c.received().find('\n', at + marker.size());
      if (end != std::string::npos) {
        *from = end;
        return json::parse(
            c.received().substr(at + marker.size(), end - at - marker.size()));
      }
    }
    if (!c.read_until("\n\n", std::chrono::seconds{20})) return std::nullopt;
    if (c.received().find(marker, *from) == std::string::npos &&
        !c.read_until(marker, std::chrono::seconds{20})) {
      return std::nullopt;
    }
  }
}

TEST_F(ViewerTest, TheEventStreamDeliversACommitOfAnotherProcess) {
  const std::filesystem::path bundle = bundle_of("wf-imported");
  start();
  RawConnection stream(server_->port());
  stream.send("GET /api/events HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
  ASSERT_TRUE(stream.read_until(": commits after lsn"));
  EXPECT_THAT(stream.received(), HasSubstr("Content-Type: text/event-stream"));
  EXPECT_THAT(stream.received(), HasSubstr("X-Content-Type-Options: nosniff"));
  // Another process, the writer, commits.
  const testutil::ToolRun import =
      run_tool("import " + bundle.string() + " --dir " + dir_.string());
  ASSERT_EQ(import.status, 0) << import.output;
  std::size_t from = 0;
  const std::optional<json> commit = next_commit(stream, &from);
  ASSERT_TRUE(commit) << stream.received();
  EXPECT_EQ(commit->at("workflow_ids"), json::array({"wf-imported"}));
  const std::uint64_t last = commit->at("last_lsn").get<std::uint64_t>();
  EXPECT_THAT(stream.received(),
              HasSubstr("id: " + std::to_string(last) + "\nevent: commit"));
  EXPECT_EQ(commit->at("events").back().at("lsn"), last);
  EXPECT_EQ(commit->at("events").front().at("lsn"), commit->at("first_lsn"));
  EXPECT_EQ(commit->at("events").front().at("type"), "WorkflowStored");
  // Fresh reads see it too.
  EXPECT_EQ(ok("/api/workflows/wf-imported").at("as_of_lsn"), last);
  // Keepalives while idle.
  EXPECT_TRUE(stream.read_until(": keepalive", std::chrono::seconds{5}));

  // Resuming after the commit before it gets it again, from the server's
  // memory (Last-Event-ID) or from the log (?after=0: every commit).
  const std::uint64_t first = commit->at("first_lsn").get<std::uint64_t>();
  RawConnection resumed(server_->port());
  resumed.send(
      "GET /api/events?workflow=wf-imported HTTP/1.1\r\nHost: "
      "127.0.0.1\r\nLast-Event-ID: " +
      std::to_string(first - 1) + "\r\n\r\n");
  std::size_t from2 = 0;
  const std::optional<json> again = next_commit(resumed, &from2);
  ASSERT_TRUE(again);
  EXPECT_EQ(*again, *commit);
  RawConnection replay(server_->port());
  replay.send("GET /api/events?after=0 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
  std::size_t from3 = 0;
  const std::optional<json> oldest = next_commit(replay, &from3);
  ASSERT_TRUE(oldest);
  EXPECT_EQ(oldest->at("first_lsn"), 1);
  EXPECT_EQ(oldest->at("workflow_ids"), json::array({"wf-main"}));
}

TEST_F(ViewerTest, AClientLeavingMidStreamFreesItsStream) {
  const std::filesystem::path bundle = bundle_of("wf-late");
  ViewerOptions options;
  options.threads = 8;
  options.max_streams = 2;
  start(options);
  {
    RawConnection a(server_->port());
    a.send("GET /api/events HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
    ASSERT_TRUE(a.read_until(": commits after lsn"));
    RawConnection b(server_->port());
    b.send("GET /api/events HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
    ASSERT_TRUE(b.read_until(": commits after lsn"));
    EXPECT_EQ(server_->open_streams(), 2U);
    // The most streams: a third is refused.
    const Reply third = get("/api/events");
    EXPECT_EQ(third.status, 503);
    EXPECT_EQ(third.doc.at("error").at("class"), "IOError");
    a.close();
    ASSERT_EQ(run_tool("import " + bundle.string() + " --dir " + dir_.string())
                  .status,
              0);
    std::size_t from = 0;
    EXPECT_TRUE(next_commit(b, &from));
  }
  // Both gone: the server finds out at its next write (a commit or a
  // keepalive) and ends them.
  const auto deadline =
      std::chrono::steady_clock::now() + std::chrono::seconds{20};
  while (server_->open_streams() != 0 &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds{20});
  }
  EXPECT_EQ(server_->open_streams(), 0U);
  EXPECT_EQ(ok("/api/workflows/wf-late").at("id"), "wf-late");
}

TEST_F(ViewerTest, StopCalledFromTwoThreadsAtOnceStopsOnce) {
  ViewerOptions options;
  options.read_timeout = std::chrono::milliseconds{1500};
  start(options);
  // A request that never ends keeps a serving thread until the read
  // timeout: both stop() calls wait for it together.
  RawConnection slow(server_->port());
  slow.send("GET /api/stats HTTP/1.1\r\nHost: 127.0.0.1\r\n");
  RawConnection stream(server_->port());
  stream.send("GET /api/events HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
  ASSERT_TRUE(stream.read_until(": commits after lsn"));
  std::atomic<int> returned{0};
  std::thread a([&] {
    server_->stop();
    ++returned;
  });
  std::thread b([&] {
    server_->stop();
    ++returned;
  });
  a.join();
  b.join();
  EXPECT_EQ(returned.load(), 2);
  EXPECT_EQ(server_->open_streams(), 0U);
  server_->stop();
}

TEST_F(ViewerTest, RequestsReadingLongHistoriesAreBoundedAndOthersServed) {
  {
    auto db = Database::open(dir_, testutil::quiet_options());
    WorkflowStore& store = db->workflow_store();
    store.store(testutil::diamond_workflow("wf-long"));
    StageExecution s = store.retrieve_stage("wf-long.deploy").stage();
    for (int i = 0; i < 3000; ++i) {
      s.context = Json(json{{"progress", i}});
      store.store_stage(s);
      s = store.retrieve_stage("wf-long.deploy").stage();
    }
    db->close();
  }
  ViewerOptions options;
  options.threads = 8;
  options.max_streams = 2;
  start(options);
  // 8 threads, 2 for streams: 3 history readers at once, the rest 503.
  constexpr std::size_t kReaders = 12;
  std::vector<int> statuses(kReaders);
  std::vector<std::thread> readers;
  for (std::size_t i = 0; i < kReaders; ++i) {
    readers.emplace_back([&, i] {
      httplib::Client client("127.0.0.1", server_->port());
      client.set_read_timeout(std::chrono::seconds{60});
      const httplib::Result r = client.Get(
          "/api/workflows/wf-long/timeline.svg?at=" + std::to_string(1000 + i));
      statuses[i] = r ? r->status : 0;
      if (r && r->status == 503) {
        EXPECT_EQ(json::parse(r->body).at("error").at("class"), "IOError");
        EXPECT_EQ(r->get_header_value("Retry-After"), "1");
      }
    });
  }
  // Other requests keep being served meanwhile.
  EXPECT_EQ(get("/api/stats").status, 200);
  EXPECT_EQ(get("/api/workflows/wf-long/history?limit=10").status, 200);
  for (std::thread& t : readers) t.join();
  std::size_t served = 0;
  std::size_t refused = 0;
  for (const int status : statuses) {
    if (status == 200) ++served;
    if (status == 503) ++refused;
  }
  EXPECT_EQ(served + refused, kReaders);
  EXPECT_GE(served, 1U);
  EXPECT_GE(refused, 1U);
  EXPECT_EQ(get("/api/workflows/wf-long/diff?from=1&to=2000").status, 200);
}

TEST_F(ViewerTest, AThousandConcurrentConnectionsAreEachAnswered) {
  start();
  constexpr int kConnections = 1000;
  const auto begin = std::chrono::steady_clock::now();
  struct Conn {
    int fd = -1;
    std::string in;
    bool sent = false;
    bool done = false;
  };
  std::vector<Conn> conns(kConnections);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(server_->port());
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  for (Conn& c : conns) {
    c.fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    ASSERT_GE(c.fd, 0);
    const int rc =
        ::connect(c.fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
    ASSERT_TRUE(rc == 0 || errno == EINPROGRESS);
  }
  const std::string request =
      "GET /api/workflows/wf-main HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: "
      "close\r\n\r\n";
  int done = 0;
  const auto deadline = begin + std::chrono::seconds{60};
  while (done < kConnections && std::chrono::steady_clock::now() < deadline) {
    std::vector<pollfd> fds;
    std::vector<Conn*> of;
    for (Conn& c : conns) {
      if (c.done) continue;
      fds.push_back({c.fd, static_cast<short>(c.sent ? POLLIN : POLLOUT), 0});
      of.push_back(&c);
    }
    if (::poll(fds.data(), fds.size(), 1000) <= 0) continue;
    for (std::size_t i = 0; i < fds.size(); ++i) {
      Conn& c = *of[i];
      if (fds[i].revents == 0) continue;
      if (!c.sent) {
        ASSERT_EQ(::send(c.fd, request.data(), request.size(), MSG_NOSIGNAL),
                  static_cast<ssize_t>(request.size()));
        c.sent = true;
        continue;
      }
      char buf[16384];
      const ssize_t n = ::recv(c.fd, buf, sizeof buf, 0);
      if (n > 0) {
        c.in.append(buf, static_cast<std::size_t>(n));
      } else if (n == 0 || errno != EAGAIN) {
        c.done = true;
        ::close(c.fd);
        ++done;
      }
    }
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - begin)
          .count();
  int answered = 0;
  for (Conn& c : conns) {
    if (!c.done) ::close(c.fd);
    if (c.in.rfind("HTTP/1.1 200 OK", 0) == 0 &&
        c.in.find("\"wf-main\"") != std::string::npos) {
      ++answered;
    }
  }
  EXPECT_EQ(answered, kConnections) << "in " << seconds << " s";
  std::printf("[ viewer ] %d concurrent connections answered in %.2f s\n",
              answered, seconds);
  EXPECT_EQ(ok("/api/workflows/wf-main").at("id"), "wf-main");
}

}  // namespace
}  // namespace wfstore
