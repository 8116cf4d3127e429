#include "commands.h"

namespace lucent::app {
void add_survey_command(CLI::App& app, Runner& run) { app.add_subcommand("survey", "(in progress)"); }
}  // namespace lucent::app
