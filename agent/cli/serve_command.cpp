// nagent serve [--listen HOST:PORT] [--workers N] [--db PATH] [--max-queue N] [--config FILE]
#include <csignal>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <thread>

#include "agent/cli/arguments.h"
#include "agent/cli/command.h"
#include "agent/errors.h"
#include "agent/serve/server.h"
#include "agent/session_store.h"

namespace nagent::cli {
namespace {

constexpr const char* kUsage = R"(usage: nagent serve [options]

Runs the HTTP service CI bots call: a jobs API, GitHub and GitLab webhooks, a durable job
queue in the session store, Prometheus metrics and a dashboard at /. docs/serve.md has it all.

options:
  --listen HOST:PORT   address to listen on (default 127.0.0.1:8080; port 0: any free port)
  --workers N          jobs run at once (default 2; 0: accept and queue only)
  --db PATH            the SQLite store (default $NAGENT_HOME/sessions.db)
  --max-queue N        queued jobs beyond which submissions get 429 (default 100)
  --config FILE        JSON settings (docs/serve.md lists the keys); flags override them

environment: NAGENT_API_TOKEN (required: the API's bearer token), NAGENT_GITHUB_SECRET,
             NAGENT_GITLAB_TOKEN, NAGENT_CALLBACK_SECRET, NAGENT_ENDPOINT, NAGENT_MODEL,
             NAGENT_API_KEY, NAGENT_HOME
)";

json read_config_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw ConfigError("cannot read config file " + path);
  std::ostringstream ss;
  ss << in.rdbuf();
  try {
    return json::parse(ss.str());
  } catch (const json::parse_error& e) {
    throw ConfigError("config file " + path + " is not valid JSON: " + e.what());
  }
}

void apply_listen(serve::ServeConfig& config, const std::string& listen) {
  const auto colon = listen.rfind(':');
  if (colon == std::string::npos || colon == 0) throw UsageError("--listen must be HOST:PORT, got '" + listen + "'");
  config.host = listen.substr(0, colon);
  const std::string port = listen.substr(colon + 1);
  char* end = nullptr;
  long n = std::strtol(port.c_str(), &end, 10);
  if (port.empty() || *end != '\0' || n < 0 || n > 65535)
    throw UsageError("--listen port must be from 0 to 65535, got '" + port + "'");
  config.port = int(n);
}

int serve_main(const std::vector<std::string>& argv) {
  Arguments a;
  try {
    a = parse_arguments(argv, {"--listen", "--workers", "--db", "--max-queue", "--config"}, {"--help", "-h"});
    if (a.has("--help") || a.has("-h")) {
      std::fputs(kUsage, stdout);
      return kExitOk;
    }
    if (!a.positional.empty()) throw UsageError("unexpected argument '" + a.positional[0] + "'");
    serve::ServeConfig config;
    if (auto file = a.get("--config")) serve::apply_config_json(config, read_config_file(*file), *file);
    if (auto listen = a.get("--listen")) apply_listen(config, *listen);
    if (a.get("--workers")) config.workers = int(a.integer("--workers", 2, 0, 256));
    if (a.get("--max-queue")) config.max_queue = int(a.integer("--max-queue", 100, 1, 100000000));
    if (auto db = a.get("--db")) config.db = *db;
    serve::finish_config(config);

    // SIGINT / SIGTERM stop the server cleanly; blocked here so every thread inherits the
    // mask and only the waiter below receives them.
    sigset_t stop_signals;
    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGINT);
    sigaddset(&stop_signals, SIGTERM);
    sigaddset(&stop_signals, SIGUSR1);  // sent below to end the waiter after listen returns
    pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

    const std::string host = config.host, on_restart = config.on_restart;
    serve::Server server(std::move(config));
    const int port = server.bind();
    std::fprintf(stderr, "nagent serve: listening on http://%s:%d\n", host.c_str(), port);
    if (int n = server.recovered_jobs())
      std::fprintf(stderr, "nagent serve: %d job%s left running by the previous server: %s\n", n, n == 1 ? "" : "s",
                   on_restart == "resume" ? "re-queued to resume" : "failed (on_restart = fail)");
    std::thread waiter([&] {
      int sig = 0;
      sigwait(&stop_signals, &sig);
      if (sig != SIGUSR1) std::fprintf(stderr, "nagent serve: stopping (signal %d)\n", sig);
      server.stop();
    });
    const bool ok = server.listen();
    pthread_kill(waiter.native_handle(), SIGUSR1);
    waiter.join();
    return ok ? kExitOk : kExitRuntime;
  } catch (const UsageError& e) {
    return fail(kExitUsage, std::string(e.what()) + " ('nagent serve --help' lists the options)");
  } catch (const ConfigError& e) {
    return fail(kExitUsage, e.what());
  } catch (const std::exception& e) {
    return fail(kExitRuntime, e.what());
  }
}

const bool registered =
    register_command({"serve", "the HTTP service for CI bots: jobs API, webhooks, dashboard", &serve_main});

}  // namespace
}  // namespace nagent::cli
