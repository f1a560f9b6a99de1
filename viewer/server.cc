// The viewer's HTTP server (wfstore/viewer.h): routing, the JSON API over
// the history API and the documents of wfstore/history_documents.h, the
// event stream, the embedded page.

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <csignal>
#include <cstdint>
#include <deque>
#include <exception>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <fmt/format.h>
#include <httplib.h>
#include <sys/socket.h>

#include "wfstore/database.h"
#include "wfstore/errors.h"
#include "wfstore/event.h"
#include "wfstore/history.h"
#include "wfstore/history_documents.h"
#include "wfstore/history_projections.h"
#include "wfstore/limits.h"
#include "wfstore/model.h"
#include "wfstore/projections.h"
#include "wfstore/subscriptions.h"
#include "wfstore/timeline_svg.h"
#include "wfstore/viewer.h"

#include "viewer/embedded_files.h"
#include <arpa/inet.h>
#include <netinet/in.h>

namespace wfstore {
namespace {

// The workflow list's page size: default and most.
constexpr std::uint64_t kListDefault = 50;
constexpr std::uint64_t kListMax = 1000;
// A history page: default and most events.
constexpr std::uint64_t kHistoryDefault = 500;
constexpr std::uint64_t kHistoryMax = 5000;
// A list cursor names the position of the page's end and its last id; the
// next page looks for that id this many rows either side of the position
// (rows started or deleted meanwhile move it).
constexpr std::uint64_t kCursorSlack = 64;
// The furthest position a cursor may name.
constexpr std::uint64_t kMaxCursorOffset = 10'000'000;
// Commits the stream keeps in memory for clients that resume or lag.
constexpr std::size_t kRingCommits = 1024;
// Events read from the log per step of a stream that catches up.
constexpr std::size_t kStreamBatchEvents = 1000;
// A stream resumed further back than this many events skips ahead (it is
// told so by an `event: gap`).
constexpr std::uint64_t kMaxBackfillEvents = 10000;
// Request bodies (GET has none; anything else is refused unread).
constexpr std::size_t kMaxRequestBody = 4096;

constexpr const char* kJson = "application/json";

// The Content-Security-Policy of the embedded files.
constexpr const char* kPagePolicy =
    "default-src 'self'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'";

// An error answered with an HTTP status and a wfstore error class.
class HttpError : public std::runtime_error {
 public:
  HttpError(int status, std::string error_class, const std::string& message)
      : std::runtime_error(message),
        status_(status),
        class_(std::move(error_class)) {}
  int status() const { return status_; }
  const std::string& error_class() const { return class_; }

 private:
  int status_;
  std::string class_;
};

// JSON text; strings that are not UTF-8 (a hostile id quoted in a message)
// come out with U+FFFD instead of failing.
std::string dump(const nlohmann::json& doc) {
  return doc.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

std::string error_body(const std::string& error_class,
                       const std::string& message) {
  return dump({{"error", {{"class", error_class}, {"message", message}}}}) +
         "\n";
}

// The class of a wfstore error as its C++ (and Python) name.
std::string error_class_of(const std::exception& e) {
  if (dynamic_cast<const WorkflowNotFoundError*>(&e)) {
    return "WorkflowNotFoundError";
  }
  if (dynamic_cast<const StageNotFoundError*>(&e)) return "StageNotFoundError";
  if (dynamic_cast<const PointNotFoundError*>(&e)) return "PointNotFoundError";
  if (dynamic_cast<const NotFoundError*>(&e)) return "NotFoundError";
  if (dynamic_cast<const InvalidArgumentError*>(&e)) {
    return "InvalidArgumentError";
  }
  if (dynamic_cast<const CorruptionError*>(&e)) return "CorruptionError";
  if (dynamic_cast<const IOError*>(&e)) return "IOError";
  if (dynamic_cast<const StoreLockedError*>(&e)) return "StoreLockedError";
  if (dynamic_cast<const Error*>(&e)) return "Error";
  return "InternalError";
}

// The status of an error escaping a handler: bad input 400 (a point beyond
// the end included: it is a query's value), a missing workflow 404.
int status_of(const std::exception& e) {
  if (const auto* http = dynamic_cast<const HttpError*>(&e)) {
    return http->status();
  }
  if (dynamic_cast<const PointNotFoundError*>(&e)) return 400;
  if (dynamic_cast<const NotFoundError*>(&e)) return 404;
  if (dynamic_cast<const InvalidArgumentError*>(&e)) return 400;
  return 500;
}

[[noreturn]] void bad_request(const std::string& message) {
  throw HttpError(400, "InvalidArgumentError", message);
}

[[noreturn]] void not_found(const std::string& message) {
  throw HttpError(404, "NotFoundError", message);
}

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Percent-decodes `text` ('+' as a space in a query); nullopt for a '%' not
// followed by two hex digits.
std::optional<std::string> percent_decode(std::string_view text,
                                          bool plus_is_space) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '%') {
      if (i + 2 >= text.size()) return std::nullopt;
      const int hi = hex_digit(text[i + 1]);
      const int lo = hex_digit(text[i + 2]);
      if (hi < 0 || lo < 0) return std::nullopt;
      out.push_back(static_cast<char>(hi * 16 + lo));
      i += 2;
    } else if (c == '+' && plus_is_space) {
      out.push_back(' ');
    } else {
      out.push_back(c);
    }
  }
  return out;
}

// A request's target: the decoded path segments and query parameters.
struct Target {
  std::vector<std::string> segments;  // "/a/b" -> {"a", "b"}; "/" -> {""}
  std::string path;                   // decoded as a whole
  std::map<std::string, std::string> params;  // the first of each name
};

Target parse_target(const std::string& raw) {
  Target t;
  const std::size_t question = raw.find('?');
  const std::string_view path = std::string_view(raw).substr(0, question);
  if (path.empty() || path.front() != '/')
    bad_request("a path must start with /");
  std::size_t start = 1;
  for (;;) {
    const std::size_t slash = path.find('/', start);
    const std::string_view piece = path.substr(
        start, slash == std::string_view::npos ? std::string_view::npos
                                               : slash - start);
    std::optional<std::string> segment = percent_decode(piece, false);
    if (!segment) bad_request("the path holds a malformed %-escape");
    if (*segment == "." || *segment == "..") {
      bad_request("the path names . or ..: nothing is served from disk");
    }
    t.path += "/" + *segment;
    t.segments.push_back(std::move(*segment));
    if (slash == std::string_view::npos) break;
    start = slash + 1;
  }
  if (question == std::string::npos) return t;
  const std::string_view query = std::string_view(raw).substr(question + 1);
  std::size_t pos = 0;
  while (pos <= query.size()) {
    const std::size_t amp = std::min(query.find('&', pos), query.size());
    const std::string_view pair = query.substr(pos, amp - pos);
    pos = amp + 1;
    if (pair.empty()) continue;
    const std::size_t eq = pair.find('=');
    std::optional<std::string> name = percent_decode(pair.substr(0, eq), true);
    std::optional<std::string> value =
        eq == std::string_view::npos
            ? std::string()
            : percent_decode(pair.substr(eq + 1), true);
    if (!name || !value) bad_request("the query holds a malformed %-escape");
    validate_string(*name, "query parameter name");
    validate_string(*value, *name);
    t.params.emplace(std::move(*name), std::move(*value));
  }
  return t;
}

const std::string* param(const Target& t, const std::string& name) {
  const auto it = t.params.find(name);
  return it == t.params.end() ? nullptr : &it->second;
}

// A decimal parameter of min..max, or `fallback` when absent.
std::uint64_t number_param(const Target& t, const std::string& name,
                           std::uint64_t fallback, std::uint64_t min,
                           std::uint64_t max) {
  const std::string* text = param(t, name);
  if (text == nullptr) return fallback;
  const std::optional<std::uint64_t> value = parse_decimal_u64(*text);
  if (!value || *value < min || *value > max) {
    bad_request(fmt::format("{}: '{}' is not a decimal number of {}..{}", name,
                            *text, min, max));
  }
  return *value;
}

// An epoch-milliseconds parameter (may be negative), or nullopt.
std::optional<std::int64_t> time_param(const Target& t,
                                       const std::string& name) {
  const std::string* text = param(t, name);
  if (text == nullptr) return std::nullopt;
  std::string_view digits = *text;
  const bool minus = !digits.empty() && digits.front() == '-';
  if (minus) digits.remove_prefix(1);
  const std::optional<std::uint64_t> value = parse_decimal_u64(digits);
  if (!value || *value > static_cast<std::uint64_t>(INT64_MAX)) {
    bad_request(fmt::format(
        "{}: '{}' is not epoch milliseconds (a decimal integer)", name, *text));
  }
  const auto ms = static_cast<std::int64_t>(*value);
  return minus ? -ms : ms;
}

std::string hex_of(std::string_view bytes) {
  std::string out;
  out.reserve(bytes.size() * 2);
  for (const char c : bytes) {
    out += fmt::format("{:02x}", static_cast<unsigned char>(c));
  }
  return out;
}

// "<position>-<hex of the last id>", as list_workflows() writes it.
struct Cursor {
  std::uint64_t position = 0;
  std::string last_id;
};

Cursor parse_cursor(const std::string& text) {
  const std::size_t dash = text.find('-');
  const std::optional<std::uint64_t> position =
      parse_decimal_u64(std::string_view(text).substr(0, dash));
  const std::string_view hex = dash == std::string::npos
                                   ? std::string_view()
                                   : std::string_view(text).substr(dash + 1);
  if (!position || *position > kMaxCursorOffset || hex.empty() ||
      hex.size() % 2 != 0 || hex.size() > 2 * kMaxStringBytes) {
    bad_request(
        fmt::format("cursor: '{}' is not a cursor this server wrote", text));
  }
  Cursor cursor{*position, {}};
  for (std::size_t i = 0; i < hex.size(); i += 2) {
    const int hi = hex_digit(hex[i]);
    const int lo = hex_digit(hex[i + 1]);
    if (hi < 0 || lo < 0) {
      bad_request(
          fmt::format("cursor: '{}' is not a cursor this server wrote", text));
    }
    cursor.last_id.push_back(static_cast<char>(hi * 16 + lo));
  }
  return cursor;
}

std::optional<WorkflowStatus> status_of_name(std::string_view name) {
  return find_status(name);
}

// One commit as the event stream sends it.
struct Commit {
  std::uint64_t first_lsn = 0;
  std::uint64_t last_lsn = 0;
  std::vector<std::string> workflow_ids;  // sorted, unique, none empty
  std::string data;                       // the JSON of `data:`
};

// Builds Commits from a commit's events, in LSN order.
class CommitBuilder {
 public:
  explicit CommitBuilder(const Event& first) : first_lsn_(first.commit_id) {
    timestamp_ms_ = first.timestamp_ms;
  }
  std::uint64_t first_lsn() const { return first_lsn_; }
  void add(const Event& event) {
    last_lsn_ = event.lsn;
    if (!event.workflow_id.empty()) workflows_.insert(event.workflow_id);
    events_.push_back({{"lsn", event.lsn},
                       {"type", event_type_name(event.type())},
                       {"workflow_id", event.workflow_id}});
  }
  std::shared_ptr<const Commit> finish() {
    auto commit = std::make_shared<Commit>();
    commit->first_lsn = first_lsn_;
    commit->last_lsn = last_lsn_;
    commit->workflow_ids.assign(workflows_.begin(), workflows_.end());
    commit->data = dump({{"first_lsn", first_lsn_},
                         {"last_lsn", last_lsn_},
                         {"timestamp", timestamp_ms_},
                         {"workflow_ids", commit->workflow_ids},
                         {"events", std::move(events_)}});
    return commit;
  }

 private:
  std::uint64_t first_lsn_;
  std::uint64_t last_lsn_ = 0;
  std::int64_t timestamp_ms_ = 0;
  std::set<std::string> workflows_;
  nlohmann::json events_ = nlohmann::json::array();
};

// The whole commits after `after` up to `to` (a commit's end), about
// `max_events` events' worth (at least one commit), read from the views'
// index and the log.
std::vector<std::shared_ptr<const Commit>> read_commits(
    const History& history, std::uint64_t after, std::uint64_t to,
    std::size_t max_events) {
  std::vector<std::shared_ptr<const Commit>> out;
  if (after >= to) return out;
  EventQuery query;
  query.from_lsn = after;
  query.to_lsn = to;
  query.limit = max_events;
  std::vector<Event> events = history.events(query);
  if (!events.empty() && events.back().lsn < to) {
    const std::uint64_t end = history.commit_end(events.back().lsn);
    if (end > events.back().lsn) {
      const std::uint64_t cut = events.back().commit_id;
      if (events.front().commit_id == cut) {
        // One commit larger than the batch: read the rest of it.
        query.from_lsn = events.back().lsn;
        query.to_lsn = end;
        query.limit = static_cast<std::size_t>(end - events.back().lsn);
        std::vector<Event> rest = history.events(query);
        for (Event& e : rest) events.push_back(std::move(e));
      } else {
        while (events.back().commit_id == cut) events.pop_back();
      }
    }
  }
  std::optional<CommitBuilder> builder;
  for (const Event& event : events) {
    if (builder && builder->first_lsn() != event.commit_id) {
      out.push_back(builder->finish());
      builder.reset();
    }
    if (!builder) builder.emplace(event);
    builder->add(event);
  }
  if (builder) out.push_back(builder->finish());
  return out;
}

std::string sse_commit(const Commit& commit) {
  return fmt::format("id: {}\nevent: commit\ndata: {}\n\n", commit.last_lsn,
                     commit.data);
}

// The host part of a Host header ("[::1]:8080" -> "::1").
std::string host_of(const std::string& header) {
  if (!header.empty() && header.front() == '[') {
    const std::size_t close = header.find(']');
    return close == std::string::npos ? header : header.substr(1, close - 1);
  }
  return header.substr(0, header.rfind(':'));
}

std::string content_type_of(std::string_view path) {
  static const std::map<std::string, std::string, std::less<>> kTypes = {
      {".html", "text/html; charset=utf-8"},
      {".htm", "text/html; charset=utf-8"},
      {".js", "text/javascript; charset=utf-8"},
      {".mjs", "text/javascript; charset=utf-8"},
      {".css", "text/css; charset=utf-8"},
      {".json", "application/json"},
      {".svg", "image/svg+xml"},
      {".png", "image/png"},
      {".jpg", "image/jpeg"},
      {".jpeg", "image/jpeg"},
      {".gif", "image/gif"},
      {".ico", "image/x-icon"},
      {".webp", "image/webp"},
      {".woff2", "font/woff2"},
      {".txt", "text/plain; charset=utf-8"},
      {".map", "application/json"},
  };
  const std::size_t dot = path.rfind('.');
  const std::size_t slash = path.rfind('/');
  if (dot != std::string_view::npos &&
      (slash == std::string_view::npos || dot > slash)) {
    std::string ext(path.substr(dot));
    std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) {
      return static_cast<char>(std::tolower(c));
    });
    const auto it = kTypes.find(ext);
    if (it != kTypes.end()) return it->second;
  }
  return "application/octet-stream";
}

void check_options(const ViewerOptions& o) {
  if (o.threads < 4 || o.threads > 1024) {
    throw InvalidArgumentError(
        fmt::format("viewer threads: {} is not 4..1024", o.threads));
  }
  if (o.max_streams < 1 || o.max_streams > o.threads / 2) {
    throw InvalidArgumentError(
        fmt::format("viewer max_streams: {} is not 1..{} (half the threads)",
                    o.max_streams, o.threads / 2));
  }
  if (o.poll_interval.count() <= 0 || o.keepalive.count() <= 0 ||
      o.read_timeout.count() <= 0) {
    throw InvalidArgumentError(
        "viewer poll_interval, keepalive and read_timeout must be positive");
  }
  if (o.host.empty()) throw InvalidArgumentError("viewer host is empty");
  if (!o.allow_remote && !is_loopback_host(o.host)) {
    throw InvalidArgumentError(fmt::format(
        "{} is not a loopback address: serving it exposes the store's "
        "contents to the network; allow it explicitly (--allow-remote)",
        o.host));
  }
}

}  // namespace

ListenAddress parse_listen_address(std::string_view text) {
  ListenAddress out;
  std::string_view host = text;
  std::string_view port;
  if (!text.empty() && text.front() == '[') {
    const std::size_t close = text.find(']');
    if (close == std::string_view::npos) {
      throw InvalidArgumentError(
          fmt::format("listen address '{}': '[' without ']'", text));
    }
    host = text.substr(1, close - 1);
    const std::string_view rest = text.substr(close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':') {
        throw InvalidArgumentError(fmt::format(
            "listen address '{}': expected ':PORT' after ']'", text));
      }
      port = rest.substr(1);
    }
  } else if (const std::size_t colon = text.find(':');
             colon != std::string_view::npos) {
    if (text.find(':', colon + 1) != std::string_view::npos) {
      throw InvalidArgumentError(fmt::format(
          "listen address '{}': write an IPv6 address as [ADDRESS]:PORT",
          text));
    }
    host = text.substr(0, colon);
    port = text.substr(colon + 1);
  }
  if (host.empty()) {
    throw InvalidArgumentError(
        fmt::format("listen address '{}': the host is empty", text));
  }
  out.host = std::string(host);
  if (port.data() != nullptr) {
    const std::optional<std::uint64_t> value = parse_decimal_u64(port);
    if (!value || *value > 65535) {
      throw InvalidArgumentError(fmt::format(
          "listen address '{}': the port is not a number of 0..65535", text));
    }
    out.port = static_cast<std::uint16_t>(*value);
  }
  return out;
}

bool is_loopback_host(std::string_view host) {
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  if (host == "localhost") return true;
  const std::string text(host);
  in_addr v4{};
  if (inet_pton(AF_INET, text.c_str(), &v4) == 1) {
    return (ntohl(v4.s_addr) >> 24) == 127;
  }
  in6_addr v6{};
  if (inet_pton(AF_INET6, text.c_str(), &v6) == 1) {
    return IN6_IS_ADDR_LOOPBACK(&v6);
  }
  return false;
}

class ViewerServer::Impl {
 public:
  Impl(const std::filesystem::path& dir, ViewerOptions options)
      : dir_(dir), options_(std::move(options)) {
    check_options(options_);
    db_ = Database::open_read_only(dir_);
    published_ = History(*db_).current_lsn();
    std::signal(SIGPIPE, SIG_IGN);
    configure();
    int fd = -1;
    server_.set_socket_options([&fd](int sock) {
      fd = sock;
      const int yes = 1;
      setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
    });
    if (options_.port == 0) {
      const int port = server_.bind_to_any_port(options_.host);
      if (port > 0) port_ = static_cast<std::uint16_t>(port);
    } else if (server_.bind_to_port(options_.host, options_.port)) {
      port_ = options_.port;
    }
    if (port_ == 0) {
      throw IOError(
          fmt::format("cannot listen on {}:{} (in use, or not an "
                      "address of this machine)",
                      options_.host, options_.port));
    }
    // The library listens with a backlog of 5: a burst of connections would
    // wait for SYN retries. Linux takes a second listen() as a new backlog.
    if (fd >= 0) ::listen(fd, 1024);
    follower_ = std::thread([this] { follow(); });
    listener_ = std::thread([this] { server_.listen_after_bind(); });
    // stop() before the listener runs would find nothing to stop.
    for (int i = 0; !server_.is_running(); ++i) {
      if (i == 5000) {
        stop();
        throw IOError(fmt::format("the viewer on {}:{} did not start",
                                  options_.host, port_));
      }
      std::this_thread::sleep_for(std::chrono::milliseconds{1});
    }
  }

  ~Impl() { stop(); }

  std::uint16_t port() const { return port_; }

  std::string url() const {
    const bool v6 = options_.host.find(':') != std::string::npos;
    return fmt::format("http://{}{}{}:{}/", v6 ? "[" : "", options_.host,
                       v6 ? "]" : "", port_);
  }

  std::size_t open_streams() const { return streams_.load(); }

  void stop() noexcept {
    // A second caller waits for the first (the threads are joined once).
    const std::lock_guard<std::mutex> stop_lock(stop_mutex_);
    if (stopped_) return;
    {
      const std::lock_guard<std::mutex> lock(mutex_);
      stopping_ = true;
    }
    changed_.notify_all();
    server_.stop();
    if (listener_.joinable()) listener_.join();
    if (follower_.joinable()) follower_.join();
    try {
      db_->close();
    } catch (const std::exception&) {
      // A read-only open has nothing to sync; its destructor releases it.
    }
    stopped_ = true;
  }

 private:
  // One event stream: its position and filter; counts itself among the
  // open streams while it lives.
  class Stream {
   public:
    Stream(Impl& impl, std::uint64_t after, std::optional<std::string> workflow)
        : impl_(impl),
          after_(after),
          workflow_(std::move(workflow)),
          deadline_(std::chrono::steady_clock::now() +
                    impl.options_.keepalive) {}
    ~Stream() { impl_.streams_.fetch_sub(1); }
    Stream(const Stream&) = delete;
    Stream& operator=(const Stream&) = delete;

    // Writes what is new (or a keepalive when idle); false ends the stream.
    bool pump(httplib::DataSink& sink) {
      if (!greeted_) {
        greeted_ = true;
        const std::string hello =
            fmt::format("retry: 2000\n: commits after lsn {}\n\n", after_);
        return sink.write(hello.data(), hello.size());
      }
      std::vector<std::shared_ptr<const Commit>> batch;
      std::uint64_t log_to = 0;
      {
        std::unique_lock<std::mutex> lock(impl_.mutex_);
        impl_.changed_.wait_until(lock, deadline_, [&] {
          return impl_.stopping_ || impl_.published_ > after_;
        });
        if (impl_.stopping_) return false;
        if (impl_.published_ <= after_) {
          lock.unlock();
          deadline_ =
              std::chrono::steady_clock::now() + impl_.options_.keepalive;
          static constexpr std::string_view kKeepalive = ": keepalive\n\n";
          return sink.write(kKeepalive.data(), kKeepalive.size());
        }
        const auto& ring = impl_.ring_;
        if (!ring.empty() && ring.front()->first_lsn - 1 <= after_) {
          for (auto it = ring.rbegin(); it != ring.rend(); ++it) {
            if ((*it)->last_lsn <= after_) break;
            batch.push_back(*it);
          }
          std::reverse(batch.begin(), batch.end());
        } else {
          log_to =
              ring.empty() ? impl_.published_ : ring.front()->first_lsn - 1;
        }
      }
      const History history(*impl_.db_);
      if (log_to != 0) {
        if (log_to - after_ > kMaxBackfillEvents) {
          const std::uint64_t resumed =
              history.commit_end(log_to - kMaxBackfillEvents);
          const std::string gap = fmt::format(
              "event: gap\ndata: {{\"after\":{},\"resumed_after\":{}}}\n\n",
              after_, resumed);
          after_ = resumed;
          return sink.write(gap.data(), gap.size());
        }
        batch = read_commits(history, after_, log_to, kStreamBatchEvents);
      }
      for (const std::shared_ptr<const Commit>& commit : batch) {
        const bool wanted =
            !workflow_ ||
            std::binary_search(commit->workflow_ids.begin(),
                               commit->workflow_ids.end(), *workflow_);
        if (wanted) {
          const std::string text = sse_commit(*commit);
          if (!sink.write(text.data(), text.size())) return false;
        }
        after_ = commit->last_lsn;
      }
      deadline_ = std::chrono::steady_clock::now() + impl_.options_.keepalive;
      return true;
    }

   private:
    Impl& impl_;
    std::uint64_t after_;
    std::optional<std::string> workflow_;
    std::chrono::steady_clock::time_point deadline_;
    bool greeted_ = false;
  };

  // A turn of a request whose cost follows a history's length (a workflow
  // as of a point, its points, diff, timeline and queue): at most
  // max_folds_ run at once, at most max_fold_requests_ wait or run (more
  // are refused with 503), so requests of the other kinds keep serving
  // threads and the memory these hold stays bounded.
  class FoldSlot {
   public:
    explicit FoldSlot(Impl& impl) : impl_(impl) {
      std::unique_lock<std::mutex> lock(impl_.fold_mutex_);
      if (impl_.fold_requests_ >= impl_.max_fold_requests_) {
        throw HttpError(503, "IOError",
                        fmt::format("{} requests reading histories are "
                                    "under way, the most this viewer takes; "
                                    "retry",
                                    impl_.max_fold_requests_));
      }
      ++impl_.fold_requests_;
      impl_.fold_done_.wait(
          lock, [&] { return impl_.folds_running_ < impl_.max_folds_; });
      ++impl_.folds_running_;
    }
    ~FoldSlot() {
      {
        const std::lock_guard<std::mutex> lock(impl_.fold_mutex_);
        --impl_.folds_running_;
        --impl_.fold_requests_;
      }
      impl_.fold_done_.notify_one();
    }
    FoldSlot(const FoldSlot&) = delete;
    FoldSlot& operator=(const FoldSlot&) = delete;

   private:
    Impl& impl_;
  };

  void configure() {
    server_.new_task_queue = [n = options_.threads] {
      return new httplib::ThreadPool(n);
    };
    const auto read_timeout =
        std::chrono::duration_cast<std::chrono::microseconds>(
            options_.read_timeout);
    server_.set_read_timeout(read_timeout);
    server_.set_write_timeout(std::chrono::seconds(5));
    server_.set_keep_alive_timeout(std::max<time_t>(
        1, static_cast<time_t>(read_timeout.count() / 1000000)));
    server_.set_keep_alive_max_count(100);
    server_.set_payload_max_length(kMaxRequestBody);
    server_.set_tcp_nodelay(true);
    server_.set_default_headers({{"X-Content-Type-Options", "nosniff"}});
    server_.set_pre_routing_handler(
        [this](const httplib::Request& req, httplib::Response& res) {
          if (req.method != "GET" && req.method != "HEAD") {
            res.status = 405;
            res.set_header("Allow", "GET, HEAD");
            res.set_header("Connection", "close");
            res.set_content(
                error_body("MethodNotAllowedError",
                           fmt::format("{} is not served: the viewer is "
                                       "read-only (GET and HEAD only)",
                                       req.method)),
                kJson);
            return httplib::Server::HandlerResponse::Handled;
          }
          if (!options_.allow_remote && req.has_header("Host") &&
              !is_loopback_host(host_of(req.get_header_value("Host")))) {
            res.status = 403;
            res.set_content(
                error_body("InvalidArgumentError",
                           "the Host header names no loopback address: this "
                           "viewer serves its own machine only"),
                kJson);
            return httplib::Server::HandlerResponse::Handled;
          }
          return httplib::Server::HandlerResponse::Unhandled;
        });
    server_.Get(".*", [this](const httplib::Request& req,
                             httplib::Response& res) { handle(req, res); });
    // Responses the library makes itself (a malformed request line, a URI
    // or body too long, an unknown method) get a JSON body too.
    server_.set_error_handler(
        [](const httplib::Request&, httplib::Response& res) {
          if (!res.body.empty() || res.is_chunked_content_provider_) return;
          res.set_content(
              error_body(
                  res.status == 404 ? "NotFoundError" : "InvalidArgumentError",
                  fmt::format("the request was refused (HTTP {})", res.status)),
              kJson);
        });
    server_.set_exception_handler([](const httplib::Request&,
                                     httplib::Response& res,
                                     const std::exception_ptr&) {
      res.status = 500;
      res.set_content(error_body("InternalError", "the request failed"), kJson);
    });
    server_.set_post_routing_handler(
        [](const httplib::Request&, httplib::Response& res) {
          if (!res.has_header("X-Content-Type-Options")) {
            res.set_header("X-Content-Type-Options", "nosniff");
          }
          if (!res.has_header("Content-Type")) {
            res.set_header("Content-Type", "text/plain; charset=utf-8");
          }
        });
  }

  void handle(const httplib::Request& req, httplib::Response& res) {
    try {
      const Target target = parse_target(req.target);
      route(target, req, res);
    } catch (const std::exception& e) {
      res.status = status_of(e);
      if (res.status == 503) res.set_header("Retry-After", "1");
      const auto* http = dynamic_cast<const HttpError*>(&e);
      res.set_content(
          error_body(http != nullptr ? http->error_class() : error_class_of(e),
                     e.what()),
          kJson);
    }
    if (!res.has_header("Cache-Control")) {
      res.set_header("Cache-Control", "no-store");
    }
  }

  static void json(httplib::Response& res, const nlohmann::json& doc) {
    res.set_content(dump(doc) + "\n", kJson);
  }

  void route(const Target& t, const httplib::Request& req,
             httplib::Response& res) {
    const std::vector<std::string>& s = t.segments;
    if (s.size() >= 2 && s[0] == "api") {
      if (s.size() == 2 && s[1] == "workflows") return json(res, list(t));
      if (s.size() == 2 && s[1] == "stats") {
        return json(res, stats_document(*db_, dir_));
      }
      if (s.size() == 2 && s[1] == "events") return stream(t, req, res);
      if (s[1] == "workflows" && (s.size() == 3 || s.size() == 4)) {
        const std::string& id = s[2];
        validate_key(id, "workflow_id");
        const std::string& what = s.size() == 4 ? s[3] : "";
        std::optional<FoldSlot> slot;
        if (s.size() == 3 ? param(t, "at") != nullptr : what != "history") {
          slot.emplace(*this);
        }
        if (s.size() == 3) return json(res, workflow(t, id));
        if (what == "history") return json(res, history(t, id));
        if (what == "points") return json(res, points(id));
        if (what == "diff") return json(res, diff(t, id));
        if (what == "timeline") return json(res, timeline(t, id).to_json());
        if (what == "timeline.svg") {
          res.set_content(render_timeline_svg(timeline(t, id)),
                          "image/svg+xml");
          // A picture, never a document that runs code.
          res.set_header("Content-Security-Policy",
                         "default-src 'none'; style-src 'unsafe-inline'");
          return;
        }
        if (what == "queue") return json(res, queue(id));
      }
      not_found(fmt::format("no API path {}", t.path));
    }
    const std::string path = t.path == "/" ? "/index.html" : t.path;
    for (const viewer::EmbeddedFile& file : viewer::embedded_files()) {
      if (file.path == path) {
        res.set_content(std::string(file.content), content_type_of(path));
        res.set_header("Cache-Control", "no-cache");
        // The page loads and talks to this server only, runs no inline
        // script or style (its styles are set through CSSOM), and is never
        // framed by another site.
        res.set_header("Content-Security-Policy", kPagePolicy);
        return;
      }
    }
    not_found(fmt::format("no file {}", t.path));
  }

  // ---- the API ----

  nlohmann::json list(const Target& t) {
    const std::uint64_t limit =
        number_param(t, "limit", kListDefault, 1, kListMax);
    WorkflowCriteria criteria;
    if (const std::string* statuses = param(t, "status")) {
      std::size_t pos = 0;
      while (pos <= statuses->size()) {
        const std::size_t comma =
            std::min(statuses->find(',', pos), statuses->size());
        const std::string name = statuses->substr(pos, comma - pos);
        pos = comma + 1;
        if (name.empty()) continue;
        const std::optional<WorkflowStatus> status = status_of_name(name);
        if (!status)
          bad_request(fmt::format("status: '{}' is no status", name));
        criteria.statuses.insert(*status);
      }
    }
    criteria.start_time_after = time_param(t, "start_time_after");
    criteria.start_time_before = time_param(t, "start_time_before");
    std::optional<Cursor> cursor;
    if (const std::string* text = param(t, "cursor"))
      cursor = parse_cursor(*text);
    const std::string* application = param(t, "application");
    const std::string* pending = param(t, "pending");
    if (pending != nullptr && *pending != "1" && *pending != "0") {
      bad_request(fmt::format("pending: '{}' is not 0 or 1", *pending));
    }
    if (application != nullptr) validate_key(*application, "application");
    if (application == nullptr && criteria.start_time_before) {
      // get_all_pending_workflows (the recovery query) has no upper bound.
      bad_request(
          "start_time_before applies to an application's workflows only "
          "(give application=...)");
    }
    // The index is read up to the page's end (ids only); only the page's
    // workflows are loaded.
    const std::uint64_t position = cursor ? cursor->position : 0;
    criteria.page_size =
        static_cast<std::int64_t>(position + limit + 1 + kCursorSlack);
    const WorkflowStore& store = db_->workflow_store();
    const WorkflowRange range =
        application != nullptr
            ? store.retrieve_by_application(*application, criteria)
            : store.get_all_pending_workflows(criteria);
    const std::vector<std::string>& ids = range.ids();
    std::size_t start = 0;
    if (cursor) {
      start = static_cast<std::size_t>(
          std::min<std::uint64_t>(position, ids.size()));
      const std::size_t lo = static_cast<std::size_t>(
          position > kCursorSlack ? position - kCursorSlack : 0);
      for (std::size_t i = lo; i < ids.size() && i <= position + kCursorSlack;
           ++i) {
        if (ids[i] == cursor->last_id) {
          start = i + 1;
          break;
        }
      }
    }
    nlohmann::json rows = nlohmann::json::array();
    std::size_t i = start;
    for (; i < ids.size() && rows.size() < limit; ++i) {
      std::optional<Workflow> wf;
      try {
        wf = store.retrieve(ids[i]);
      } catch (const WorkflowNotFoundError&) {
        continue;  // deleted since the index was read
      }
      rows.push_back(
          {{"id", wf->id},
           {"application", wf->application},
           {"name", wf->name},
           {"status", status_name(wf->status)},
           {"start_time", wf->start_time ? nlohmann::json(*wf->start_time)
                                         : nlohmann::json(nullptr)},
           {"end_time", wf->end_time ? nlohmann::json(*wf->end_time)
                                     : nlohmann::json(nullptr)},
           {"stage_count", wf->stages.size()}});
    }
    nlohmann::json next = nullptr;
    if (i < ids.size() && i > 0) {
      next = fmt::format("{}-{}", i, hex_of(ids[i - 1]));
    }
    nlohmann::json total = nullptr;
    if (application != nullptr && criteria.statuses.empty() &&
        !criteria.start_time_after && !criteria.start_time_before) {
      total = store.count_by_application(*application);
    }
    return {{"workflows", rows}, {"next_cursor", next}, {"total", total}};
  }

  nlohmann::json workflow(const Target& t, const std::string& id) {
    const std::string* at = param(t, "at");
    if (at != nullptr && at->empty()) bad_request("at: '' is not a point");
    const WorkflowAsOf found =
        read_workflow_as_of(*db_, id, at != nullptr ? *at : std::string());
    if (!found.workflow) {
      throw HttpError(404, "WorkflowNotFoundError",
                      fmt::format("workflow {} does not exist as of lsn {}", id,
                                  found.as_of_lsn));
    }
    return workflow_document(*found.workflow, found.as_of_lsn);
  }

  void require_events(const History& history, const std::string& id) {
    if (!has_workflow_events(history, id)) {
      throw HttpError(
          404, "WorkflowNotFoundError",
          fmt::format("workflow {} has no events in this store", id));
    }
  }

  nlohmann::json history(const Target& t, const std::string& id) {
    const std::uint64_t after = number_param(t, "after", 0, 0, UINT64_MAX);
    const std::uint64_t limit =
        number_param(t, "limit", kHistoryDefault, 1, kHistoryMax);
    const History history(*db_);
    require_events(history, id);
    EventQuery query;
    query.workflow_id = id;
    if (after != 0) query.from_lsn = after;
    query.limit = static_cast<std::size_t>(limit + 1);
    std::vector<Event> events = history.events(query);
    nlohmann::json next = nullptr;
    if (events.size() > limit) {
      events.pop_back();
      next = events.back().lsn;
    }
    nlohmann::json docs = nlohmann::json::array();
    for (const Event& event : events) {
      nlohmann::json doc = event_to_json(event);
      doc["summary"] = summarize_event(event).what;
      docs.push_back(std::move(doc));
    }
    return {{"events", docs}, {"next_after", next}};
  }

  nlohmann::json points(const std::string& id) {
    const History history(*db_);
    require_events(history, id);
    nlohmann::json out = nlohmann::json::array();
    EventQuery query;
    query.workflow_id = id;
    query.to_lsn = history.current_lsn();
    std::uint64_t commit = 0;
    for (;;) {
      const std::vector<Event> page = history.events(query);
      for (const Event& event : page) {
        nlohmann::json point = {{"lsn", 0},
                                {"timestamp", event.timestamp_ms},
                                {"type", event_type_name(event.type())},
                                {"actor", event.audit.actor}};
        if (event.commit_id != commit) {
          commit = event.commit_id;
          point["lsn"] = history.commit_end(event.lsn);
          out.push_back(std::move(point));
        } else {
          // The commit's last event of the workflow names it.
          point["lsn"] = out.back()["lsn"];
          out.back() = std::move(point);
        }
      }
      if (page.size() < query.limit || page.empty() ||
          page.back().lsn >= *query.to_lsn) {
        break;
      }
      query.from_lsn = page.back().lsn;
    }
    return {{"points", out}};
  }

  nlohmann::json diff(const Target& t, const std::string& id) {
    const std::string* from_text = param(t, "from");
    const std::string* to_text = param(t, "to");
    if (from_text == nullptr || to_text == nullptr) {
      bad_request("diff needs from=POINT and to=POINT");
    }
    const History history(*db_);
    const std::uint64_t from = resolve_point(history, *from_text);
    const std::uint64_t to = resolve_point(history, *to_text);
    if (from > to) {
      bad_request(fmt::format("from (lsn {}) is after to (lsn {})", from, to));
    }
    require_events(history, id);
    return diff_document(history.diff(id, from, to));
  }

  WorkflowTimeline timeline(const Target& t, const std::string& id) {
    const History history(*db_);
    std::optional<std::uint64_t> to_lsn;
    if (const std::string* at = param(t, "at"))
      to_lsn = resolve_as_of(history, *at);
    return workflow_timeline(history, id, to_lsn);
  }

  nlohmann::json queue(const std::string& id) {
    const History history(*db_);
    require_events(history, id);
    const QueueState state = history.queue_as_of(history.current_lsn());
    nlohmann::json messages = nlohmann::json::array();
    for (const QueuedDeliveryState& m : state.queued) {
      if (m.execution_id != id) continue;
      messages.push_back(
          {{"delivery_id", m.delivery_id},
           {"message_type", m.message_type},
           {"payload", m.payload.value()},
           {"deliver_at", m.deliver_at},
           {"max_attempts", m.max_attempts ? nlohmann::json(*m.max_attempts)
                                           : nlohmann::json(nullptr)},
           {"attempts", m.attempts},
           {"lease_until", m.lease_until ? nlohmann::json(*m.lease_until)
                                         : nlohmann::json(nullptr)}});
    }
    nlohmann::json dead = nlohmann::json::array();
    for (const DeadLetterState& d : state.dead_letters) {
      if (d.execution_id != id) continue;
      dead.push_back({{"delivery_id", d.delivery_id},
                      {"message_type", d.message_type},
                      {"payload", d.payload.value()},
                      {"attempts", d.attempts},
                      {"error", d.error},
                      {"moved_at", d.moved_at}});
    }
    return {{"as_of_lsn", state.lsn},
            {"messages", messages},
            {"dead_letters", dead}};
  }

  void stream(const Target& t, const httplib::Request& req,
              httplib::Response& res) {
    std::optional<std::string> workflow;
    if (const std::string* id = param(t, "workflow")) {
      validate_key(*id, "workflow");
      workflow = *id;
    }
    std::uint64_t after = 0;
    {
      const std::lock_guard<std::mutex> lock(mutex_);
      after = published_;
    }
    if (req.has_header("Last-Event-ID")) {
      const std::string text = req.get_header_value("Last-Event-ID");
      const std::optional<std::uint64_t> value = parse_decimal_u64(text);
      if (!value)
        bad_request(fmt::format("Last-Event-ID: '{}' is not an LSN", text));
      after = *value;
    } else if (param(t, "after") != nullptr) {
      after = number_param(t, "after", 0, 0, UINT64_MAX);
    }
    if (after > History(*db_).current_lsn()) {
      bad_request(
          fmt::format("after: lsn {} is beyond the store's last event", after));
    }
    if (streams_.fetch_add(1) >= options_.max_streams) {
      streams_.fetch_sub(1);
      throw HttpError(503, "IOError",
                      fmt::format("{} event streams are open, the most this "
                                  "viewer serves",
                                  options_.max_streams));
    }
    auto state = std::make_shared<Stream>(*this, after, std::move(workflow));
    res.set_header("Cache-Control", "no-store");
    res.set_chunked_content_provider(
        "text/event-stream", [state](std::size_t, httplib::DataSink& sink) {
          try {
            return state->pump(sink);
          } catch (const std::exception&) {
            return false;  // the store failed: the client reconnects
          }
        });
  }

  // The one reader of new commits: follows the store (a read-only open
  // sees the writer's commits as they reach the views) and hands each whole
  // commit to the streams.
  void follow() {
    std::optional<CommitBuilder> builder;
    std::uint64_t end = 0;
    const History history(*db_);
    try {
      follow_events(
          *db_, published_,
          [&](const Event& event) {
            if (!builder || builder->first_lsn() != event.commit_id) {
              builder.emplace(event);
              end = history.commit_end(event.lsn);
            }
            builder->add(event);
            if (event.lsn == end) publish(builder->finish());
            return true;
          },
          [this] {
            const std::lock_guard<std::mutex> lock(mutex_);
            return stopping_;
          },
          options_.poll_interval);
    } catch (const std::exception&) {
      // The store failed (closed by stop(), or damaged): no more commits;
      // every request reports the failure itself.
    }
  }

  void publish(std::shared_ptr<const Commit> commit) {
    {
      const std::lock_guard<std::mutex> lock(mutex_);
      published_ = commit->last_lsn;
      ring_.push_back(std::move(commit));
      if (ring_.size() > kRingCommits) ring_.pop_front();
    }
    changed_.notify_all();
  }

  const std::filesystem::path dir_;
  const ViewerOptions options_;
  std::unique_ptr<Database> db_;
  httplib::Server server_;
  std::uint16_t port_ = 0;
  std::thread listener_;
  std::thread follower_;
  std::atomic<std::size_t> streams_{0};

  // FoldSlot's limits and counts: the threads streams cannot hold, half of
  // them; of those, as many running as the machine has cores (2..8).
  const std::size_t max_fold_requests_ =
      std::max<std::size_t>(1, (options_.threads - options_.max_streams) / 2);
  const std::size_t max_folds_ = std::min<std::size_t>(
      max_fold_requests_,
      std::clamp<std::size_t>(std::thread::hardware_concurrency(), 2, 8));
  std::mutex fold_mutex_;
  std::condition_variable fold_done_;
  std::size_t fold_requests_ = 0;
  std::size_t folds_running_ = 0;

  // Held by stop() throughout; guards stopped_.
  std::mutex stop_mutex_;
  bool stopped_ = false;

  std::mutex mutex_;
  std::condition_variable changed_;
  bool stopping_ = false;
  // The last LSN handed to the streams, and the latest commits.
  std::uint64_t published_ = 0;
  std::deque<std::shared_ptr<const Commit>> ring_;
};

ViewerServer::ViewerServer(const std::filesystem::path& dir,
                           ViewerOptions options)
    : impl_(std::make_unique<Impl>(dir, std::move(options))) {}

ViewerServer::~ViewerServer() = default;

std::uint16_t ViewerServer::port() const { return impl_->port(); }
std::string ViewerServer::url() const { return impl_->url(); }
std::size_t ViewerServer::open_streams() const { return impl_->open_streams(); }
void ViewerServer::stop() noexcept { impl_->stop(); }

}  // namespace wfstore
