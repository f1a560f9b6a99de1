// `wfstore serve --dir D [--listen HOST:PORT] [--allow-remote]`: the viewer
// (wfstore/viewer.h) over a read-only open of the store, beside its writer.
// Prints the URL as its first line, serves until SIGINT or SIGTERM (exit 0).

#include <chrono>
#include <iostream>
#include <memory>
#include <string>
#include <thread>

#include "wfstore/viewer.h"

#include "tools/cli_support.h"
#include "tools/commands.h"

namespace wfstore::tools {
namespace {

struct ServeOptions {
  std::string dir;
  std::string listen = "127.0.0.1:0";
  bool allow_remote = false;
};

int run_serve(const ServeOptions& o) {
  require_store(o.dir);
  const ListenAddress address = parse_listen_address(o.listen);
  ViewerOptions options;
  options.host = address.host;
  options.port = address.port;
  options.allow_remote = o.allow_remote;
  const StopSignals signals;
  ViewerServer server(o.dir, options);
  std::cout << server.url() << std::endl;
  while (!StopSignals::requested()) {
    std::this_thread::sleep_for(std::chrono::milliseconds{50});
  }
  server.stop();
  return kExitOk;
}

}  // namespace

void add_serve_command(CLI::App& app, Action& action) {
  auto o = std::make_shared<ServeOptions>();
  CLI::App* cmd = app.add_subcommand(
      "serve",
      "Serve a web page and a JSON API over the store (read-only, beside its "
      "writer) until SIGINT or SIGTERM; prints the URL first");
  cmd->add_option("--dir", o->dir, "The store directory")->required();
  cmd->add_option("--listen", o->listen,
                  "HOST:PORT to listen on (default 127.0.0.1:0, a free port "
                  "on loopback; [::1]:PORT for IPv6)");
  cmd->add_flag("--allow-remote", o->allow_remote,
                "Allow --listen on an address that is not loopback: this "
                "EXPOSES THE STORE'S CONTENTS (every workflow, its context "
                "and history) to whoever can reach that address, without "
                "authentication");
  action = [o] { return run_serve(*o); };
}

}  // namespace wfstore::tools
