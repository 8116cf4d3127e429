// The CLI's subcommands: parsing and wiring only. Each add_* registers one subcommand on the
// app and sets `run` to the function that executes it; `run` returns the process exit code
// (from the error table).
#pragma once

#include <CLI/CLI.hpp>

#include <functional>

#include "lucent/core/error.h"

namespace lucent::app {

struct GlobalOptions {
  int threads = 0;          // 0 = all cores
  bool verbose = false;
  bool quiet = false;
};

using Runner = std::function<int()>;

void add_info_command(CLI::App& app, Runner& run);
void add_convert_command(CLI::App& app, Runner& run);
void add_survey_command(CLI::App& app, Runner& run);
void add_errors_command(CLI::App& app, Runner& run);
void add_deid_command(CLI::App& app, Runner& run);
void add_train_command(CLI::App& app, Runner& run);
void add_predict_command(CLI::App& app, Runner& run);
void add_data_command(CLI::App& app, Runner& run);
void add_bundle_command(CLI::App& app, Runner& run);
void add_metrics_command(CLI::App& app, Runner& run);
void add_compare_command(CLI::App& app, Runner& run);
void add_agreement_command(CLI::App& app, Runner& run);
void add_evaluate_command(CLI::App& app, Runner& run);

// Prints "error: <code>: <message>" to stderr and returns the error's exit code.
int report(const Error& error);

}  // namespace lucent::app
