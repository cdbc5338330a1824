// nagent entry point: dispatches to the registered subcommands.
#include <cstdio>
#include <string>
#include <vector>

#include "agent/cli/command.h"
#include "nagent/version.h"

namespace nagent::cli {

static std::vector<Command>& command_table() {
  static std::vector<Command> table;
  return table;
}

bool register_command(const Command& command) {
  command_table().push_back(command);
  return true;
}

const std::vector<Command>& registered_commands() { return command_table(); }

int fail(int code, const std::string& message) {
  std::fprintf(stderr, "nagent: %s\n", message.c_str());
  return code;
}

static void print_help() {
  std::printf("nagent %s: agent orchestration runtime for Nemotron 3 models\n\n", NAGENT_VERSION);
  std::printf("usage: nagent <command> [options]\n\ncommands:\n");
  for (const auto& c : registered_commands()) std::printf("  %-12s %s\n", c.name, c.summary);
  std::printf("\n'nagent <command> --help' shows a command's options.\n");
}

}  // namespace nagent::cli

int main(int argc, char** argv) {
  using namespace nagent::cli;
  if (argc < 2 || std::string(argv[1]) == "--help" || std::string(argv[1]) == "-h" ||
      std::string(argv[1]) == "help") {
    print_help();
    return argc < 2 ? kExitUsage : kExitOk;
  }
  std::string name = argv[1];
  if (name == "--version" || name == "-V") {
    std::printf("nagent %s\n", NAGENT_VERSION);
    return kExitOk;
  }
  std::vector<std::string> args(argv + 2, argv + argc);
  for (const auto& c : registered_commands()) {
    if (name == c.name) {
      try {
        return c.main(args);
      } catch (const std::exception& e) {
        return fail(kExitRuntime, e.what());
      }
    }
  }
  return fail(kExitUsage, "unknown command '" + name + "'; 'nagent --help' lists the commands");
}
