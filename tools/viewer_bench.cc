// `wfstore bench --viewer`: the viewer's latency on a large store and its
// cost to the writer, measured against a real `wfstore serve` process.

#include "tools/viewer_bench.h"

#include <atomic>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>
#include <httplib.h>
#include <nlohmann/json.hpp>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "wfstore/database.h"
#include "wfstore/errors.h"
#include "wfstore/history.h"

#include "bench/bench.h"
#include "bench/store_bench.h"
#include <arpa/inet.h>
#include <netinet/in.h>

extern char** environ;

namespace wfstore::tools {
namespace {

using Clock = std::chrono::steady_clock;

// `wfstore serve --dir D` as a child process; stopped with SIGTERM.
class ServeProcess {
 public:
  explicit ServeProcess(const std::filesystem::path& dir) {
    int fds[2];
    if (::pipe(fds) != 0) throw IOError("bench --viewer: pipe failed");
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, fds[1], STDOUT_FILENO);
    posix_spawn_file_actions_addclose(&actions, fds[0]);
    std::string exe = "/proc/self/exe";
    std::string serve = "serve";
    std::string dir_flag = "--dir";
    std::string dir_text = dir.string();
    char* argv[] = {exe.data(), serve.data(), dir_flag.data(), dir_text.data(),
                    nullptr};
    const int rc =
        posix_spawn(&pid_, exe.c_str(), &actions, nullptr, argv, environ);
    posix_spawn_file_actions_destroy(&actions);
    ::close(fds[1]);
    if (rc != 0) {
      ::close(fds[0]);
      throw IOError("bench --viewer: cannot start wfstore serve");
    }
    std::string line;
    char c = 0;
    while (::read(fds[0], &c, 1) == 1 && c != '\n') line.push_back(c);
    ::close(fds[0]);
    const std::size_t colon = line.rfind(':');
    if (line.rfind("http://", 0) != 0 || colon == std::string::npos) {
      throw IOError("bench --viewer: wfstore serve printed no URL: " + line);
    }
    port_ = std::stoi(line.substr(colon + 1));
  }
  ~ServeProcess() {
    ::kill(pid_, SIGTERM);
    int status = 0;
    ::waitpid(pid_, &status, 0);
  }
  ServeProcess(const ServeProcess&) = delete;
  ServeProcess& operator=(const ServeProcess&) = delete;

  int port() const { return port_; }

 private:
  pid_t pid_ = -1;
  int port_ = 0;
};

struct Figure {
  std::string name;
  std::string what;
  bench::HistoryLatency latency;
  std::size_t bytes = 0;
};

// The latency of GET `path` (each answered 200), at most `samples` times
// and 3 s.
Figure measure(httplib::Client& client, const std::string& name,
               const std::string& what, const std::string& path,
               std::size_t samples) {
  std::vector<double> us;
  Figure f{name, what, {}, 0};
  const auto stop = Clock::now() + std::chrono::seconds{3};
  while (us.size() < samples && (us.empty() || Clock::now() < stop)) {
    const auto begin = Clock::now();
    const httplib::Result r = client.Get(path);
    const auto end = Clock::now();
    if (!r || r->status != 200) {
      throw bench::CheckFailed(fmt::format(
          "GET {}: {}", path, r ? std::to_string(r->status) : "no answer"));
    }
    f.bytes = r->body.size();
    us.push_back(
        std::chrono::duration<double, std::micro>(end - begin).count());
  }
  f.latency = bench::latency_of(std::move(us));
  return f;
}

// Commits (one event each) from this process for `seconds`; commits/s.
double commit_rate(Database& db, std::uint64_t* next, double seconds) {
  const auto begin = Clock::now();
  const auto stop = begin + std::chrono::duration<double>(seconds);
  std::uint64_t n = 0;
  while (Clock::now() < stop) {
    bench::commit_one_event(db, (*next)++);
    ++n;
  }
  return static_cast<double>(n) /
         std::chrono::duration<double>(Clock::now() - begin).count();
}

// A client of /api/events counting the commits it receives.
class StreamClient {
 public:
  explicit StreamClient(int port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<std::uint16_t>(port));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
      throw IOError("bench --viewer: cannot connect to the event stream");
    }
    const std::string request =
        "GET /api/events HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
    if (::send(fd_, request.data(), request.size(), MSG_NOSIGNAL) < 0) {
      throw IOError("bench --viewer: cannot ask for the event stream");
    }
    reader_ = std::thread([this] { read(); });
    // Connected once the greeting arrived.
    for (int i = 0; i < 5000 && !greeted_.load(); ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds{1});
    }
  }
  ~StreamClient() {
    stop_.store(true);
    reader_.join();
    ::close(fd_);
  }
  StreamClient(const StreamClient&) = delete;
  StreamClient& operator=(const StreamClient&) = delete;

  std::uint64_t commits() const { return commits_.load(); }

 private:
  void read() {
    std::string tail;
    while (!stop_.load()) {
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, 50) <= 0) continue;
      char buf[65536];
      const ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
      if (n <= 0) return;
      tail.append(buf, static_cast<std::size_t>(n));
      if (tail.find(": commits after") != std::string::npos) greeted_ = true;
      std::size_t at = 0;
      while ((at = tail.find("event: commit\n", at)) != std::string::npos) {
        commits_.fetch_add(1);
        at += 14;
      }
      // Keep what may hold the start of a marker cut in two.
      const std::size_t nl = tail.rfind('\n');
      tail.erase(0, nl == std::string::npos ? 0 : nl + 1);
    }
  }

  int fd_ = -1;
  std::thread reader_;
  std::atomic<bool> stop_{false};
  std::atomic<bool> greeted_{false};
  std::atomic<std::uint64_t> commits_{0};
};

}  // namespace

int run_viewer_bench(const ViewerBenchOptions& o) {
  const bench::ScratchDir scratch =
      bench::ScratchDir::make(o.dir, "wfstore-bench-viewer");
  const std::filesystem::path dir = scratch.path / "store";
  std::vector<Figure> figures;
  double rate_alone = 0;
  double rate_followed = 0;
  std::uint64_t streamed = 0;
  std::uint64_t followed_commits = 0;
  try {
    // The store: `workflows` workflows, then one workflow of
    // `workflow_events` events (its stage updated again and again).
    {
      DatabaseOptions options;
      options.durability = Durability::kBuffered;
      auto db = Database::open(dir, options);
      WorkflowStore& store = db->workflow_store();
      for (std::uint64_t k = 1; k < o.workflows; ++k) {
        store.store(bench::build_workflow(k));
      }
      Workflow big = bench::build_workflow(0);
      store.store(big);
      StageExecution stage = big.stages.front();
      for (std::uint64_t i = 1; i < o.workflow_events; ++i) {
        stage.status = stage.version % 2 == 0 ? WorkflowStatus::kRunning
                                              : WorkflowStatus::kSucceeded;
        store.store_stage(stage);
      }
      db->close();
    }
    const std::string big = "/api/workflows/" + bench::workflow_id(0);
    {
      ServeProcess serve(dir);
      httplib::Client client("127.0.0.1", serve.port());
      client.set_read_timeout(std::chrono::seconds{60});
      const std::string we = fmt::format("{} events", o.workflow_events);
      figures.push_back(measure(client, "workflow", we, big, o.samples));
      figures.push_back(measure(client, "history (first page)", we,
                                big + "/history", o.samples));
      figures.push_back(
          measure(client, "points", we, big + "/points", o.samples));
      figures.push_back(
          measure(client, "timeline", we, big + "/timeline", o.samples));
      figures.push_back(
          measure(client, "diff (whole history)", we,
                  fmt::format("{}/diff?from=1&to={}", big,
                              o.workflows - 1 + o.workflow_events),
                  o.samples));
      // The list: the first page, then the last one by its cursor.
      const std::string wf = fmt::format("{} workflows", o.workflows);
      figures.push_back(measure(client, "list (first page of 50)", wf,
                                "/api/workflows", o.samples));
      std::string cursor;
      std::string last_cursor;
      std::uint64_t listed = 0;
      for (;;) {
        const httplib::Result r =
            client.Get("/api/workflows?limit=1000" +
                       (cursor.empty() ? std::string() : "&cursor=" + cursor));
        if (!r || r->status != 200) {
          throw bench::CheckFailed("the list's pages did not answer");
        }
        const nlohmann::json page = nlohmann::json::parse(r->body);
        listed += page.at("workflows").size();
        if (page.at("next_cursor").is_null()) break;
        cursor = page.at("next_cursor").get<std::string>();
        last_cursor = cursor;
      }
      if (listed != o.workflows) {
        throw bench::CheckFailed(fmt::format(
            "the list's pages held {} of {} workflows", listed, o.workflows));
      }
      figures.push_back(measure(client, "list (a page of 50 at the end)", wf,
                                "/api/workflows?limit=50&cursor=" + last_cursor,
                                o.samples));
    }

    // The writer's cost: commits/s alone, then with a viewer and a client
    // following it live.
    std::uint64_t next = 0;
    {
      auto db = Database::open(dir);
      rate_alone = commit_rate(*db, &next, o.commit_seconds);
      db->close();
    }
    {
      ServeProcess serve(dir);
      StreamClient stream(serve.port());
      auto db = Database::open(dir);
      const std::uint64_t first = next;
      rate_followed = commit_rate(*db, &next, o.commit_seconds);
      followed_commits = next - first;
      db->close();
      const auto stop = Clock::now() + std::chrono::seconds{10};
      while (stream.commits() < followed_commits && Clock::now() < stop) {
        std::this_thread::sleep_for(std::chrono::milliseconds{10});
      }
      streamed = stream.commits();
      if (streamed != followed_commits) {
        throw bench::CheckFailed(
            fmt::format("the stream delivered {} of {} commits", streamed,
                        followed_commits));
      }
    }
  } catch (const bench::CheckFailed& e) {
    std::cerr << "wfstore: bench: wrong answer: " << e.what() << "\n";
    return 1;
  }
  if (o.json) {
    nlohmann::json doc;
    doc["bench"] = "viewer";
    for (const Figure& f : figures) {
      doc["latency"].push_back({{"call", f.name},
                                {"store", f.what},
                                {"samples", f.latency.samples},
                                {"median_us", f.latency.median_us},
                                {"p99_us", f.latency.p99_us},
                                {"bytes", f.bytes}});
    }
    doc["commits_per_s_alone"] = rate_alone;
    doc["commits_per_s_followed"] = rate_followed;
    doc["commits_streamed"] = streamed;
    std::cout << doc.dump() << '\n';
    return 0;
  }
  std::cout << "# wfstore bench --viewer: HTTP latency against a `wfstore "
               "serve` process (loopback, one client)\n";
  for (const Figure& f : figures) {
    std::cout << fmt::format(
        "{:<32} {:<16} median {:>9.0f} us  p99 {:>9.0f} us  {:>9} bytes  "
        "({} samples)\n",
        f.name, f.what, f.latency.median_us, f.latency.p99_us, f.bytes,
        f.latency.samples);
  }
  std::cout << fmt::format(
      "commits/s of a writer (one thread, fdatasync each):  alone {:.0f}, "
      "with a viewer following live {:.0f} ({:+.1f}%); the stream delivered "
      "{} of {} commits\n",
      rate_alone, rate_followed,
      rate_alone > 0 ? 100.0 * (rate_followed - rate_alone) / rate_alone : 0.0,
      streamed, followed_commits);
  return 0;
}

}  // namespace wfstore::tools
