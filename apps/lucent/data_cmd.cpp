// PLACEHOLDER — replaced by the dataset fetch/verify implementation.
#include "commands.h"

namespace lucent::app {
void add_data_command(CLI::App& app, Runner& run) { app.add_subcommand("data", "(in progress)"); }
}  // namespace lucent::app
