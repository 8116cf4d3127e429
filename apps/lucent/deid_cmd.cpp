#include "commands.h"

namespace lucent::app {
void add_deid_command(CLI::App& app, Runner& run) { app.add_subcommand("deid", "(in progress)"); }
}  // namespace lucent::app
