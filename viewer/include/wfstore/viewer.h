// The viewer: a read-only HTTP server over a store (`wfstore serve`). It
// opens the store with Database::open_read_only, so it runs beside the
// writer process, and serves
//
// - a JSON API (README "The viewer"): the workflows (paged by a cursor),
//   one workflow now or as of a point, its history (paged), its points (one
//   per commit touching it), a diff between two points, its timeline (JSON
//   and SVG), its queue and dead letters, the store's stats, and a stream of
//   the commits the store makes from now on (server-sent events);
// - the page: the files under viewer/web/, embedded in the binary when it
//   was built (nothing is read from disk).
//
// Only GET and HEAD are served (other methods: 405); every response carries
// a Content-Type and `X-Content-Type-Options: nosniff`; errors are
// {"error": {"class": "<wfstore error class>", "message": "..."}} with 400
// (a bad id, query or point), 404 (an unknown workflow or path), 405, 413,
// 414, 503 (too many event streams, or requests whose cost follows a
// history's length: a workflow as of a point, its points, diff, timeline
// and queue; see ViewerOptions::threads) or 500.

#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>

namespace wfstore {

struct ViewerOptions {
  // The address to listen on: an IPv4 or IPv6 literal or "localhost".
  std::string host = "127.0.0.1";
  // The TCP port; 0 picks a free one (ViewerServer::port() says which).
  std::uint16_t port = 0;
  // A host that is not loopback (127.0.0.0/8, ::1, localhost) exposes the
  // store's contents to the network: refused unless this is set. While it
  // is not set, requests must also name a loopback host in their Host
  // header (a web page of another site cannot reach the viewer through a
  // DNS name rebound to 127.0.0.1).
  bool allow_remote = false;
  // Threads serving connections (an event stream holds one while it lasts).
  // Half of those streams cannot hold may serve requests whose cost follows
  // a history's length, as many at once as the machine has cores (2..8);
  // more such requests are refused with 503. 4..1024.
  std::size_t threads = 32;
  // Event streams open at once; more are refused with 503. 1..threads/2.
  std::size_t max_streams = 16;
  // How often the store's applied LSN is looked at for new commits. > 0.
  std::chrono::milliseconds poll_interval{20};
  // An event stream's comment line (": keepalive") when idle this long. > 0.
  std::chrono::milliseconds keepalive{15000};
  // How long a connection may take to send its request (and stay idle
  // between two requests). > 0.
  std::chrono::milliseconds read_timeout{5000};
};

// Where `--listen` says to listen.
struct ListenAddress {
  std::string host;
  std::uint16_t port = 0;
};

// Parses "HOST:PORT", "[IPV6]:PORT" or "HOST" (port 0) with PORT a decimal
// 0..65535. Throws InvalidArgumentError naming the text otherwise.
ListenAddress parse_listen_address(std::string_view text);

// True for 127.0.0.0/8, ::1 (with or without brackets) and "localhost".
bool is_loopback_host(std::string_view host);

// A running viewer. The constructor opens the store, binds and starts
// serving on background threads; stop() or the destructor ends it.
//
// The process ignores SIGPIPE from the first construction on (a client that
// goes away mid-response must not end it).
//
// Thread-safety: every method may be called from any thread. Lifetime: the
// server owns its read-only open of the store; responses in flight when
// stop() is called end early.
class ViewerServer {
 public:
  // Serves the store in `dir`. Throws InvalidArgumentError (`dir` is not a
  // store; a host that is not loopback without allow_remote; bad options),
  // CorruptionError (views that need a rebuild), IOError (the address
  // cannot be bound: in use, not local, ...).
  explicit ViewerServer(const std::filesystem::path& dir,
                        ViewerOptions options = {});
  // stop().
  ~ViewerServer();
  ViewerServer(const ViewerServer&) = delete;
  ViewerServer& operator=(const ViewerServer&) = delete;

  // The port listened on (the one picked when options.port was 0).
  std::uint16_t port() const;
  // "http://HOST:PORT/" ("[::1]" for an IPv6 host).
  std::string url() const;
  // Event streams open now.
  std::size_t open_streams() const;

  // Stops accepting, ends the event streams and the connections, and waits
  // for the serving threads. Idempotent (a call made while another runs
  // returns when that one has stopped the server); never throws.
  void stop() noexcept;

  class Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace wfstore
