#include "commands.h"

namespace lucent::app {
void add_info_command(CLI::App& app, Runner& run) { app.add_subcommand("info", "(in progress)"); }
}  // namespace lucent::app
