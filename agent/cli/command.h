// Subcommands of the nagent binary. Each agent/cli/*_command.cpp registers one:
//   static const bool registered = nagent::cli::register_command({"run", "...", &run_main});
#pragma once

#include <string>
#include <vector>

namespace nagent::cli {

// Exit codes shared by every subcommand.
enum ExitCode : int {
  kExitOk = 0,        // the recipe / command succeeded
  kExitFailed = 1,    // the recipe reported failure (tests still fail, budget exhausted)
  kExitUsage = 2,     // usage or configuration error
  kExitRuntime = 3,   // runtime error (model server unreachable, sandbox failure)
};

struct Command {
  const char* name;
  const char* summary;  // one line for `nagent --help`
  int (*main)(const std::vector<std::string>& args);  // args after the subcommand name
};

bool register_command(const Command& command);
const std::vector<Command>& registered_commands();

// Prints "nagent: <message>" on stderr and returns code (for `return fail(kExitUsage, ...)`).
int fail(int code, const std::string& message);

}  // namespace nagent::cli
