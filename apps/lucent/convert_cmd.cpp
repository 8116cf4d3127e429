#include "commands.h"

namespace lucent::app {
void add_convert_command(CLI::App& app, Runner& run) { app.add_subcommand("convert", "(in progress)"); }
}  // namespace lucent::app
