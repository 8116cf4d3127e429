#include <iostream>

#include "commands.h"
#include "lucent/core/log.h"
#include "lucent/core/threads.h"

namespace lucent::app {

int report(const Error& error) {
  std::cerr << "error: " << error.to_string() << "\n";
  return error.cli_exit_code();
}

}  // namespace lucent::app

int main(int argc, char** argv) {
  using namespace lucent;
  CLI::App app{"Lucent: machine learning for medical imaging"};
  app.require_subcommand(1);
  app.fallthrough();  // global flags (--threads, -v) may follow the subcommand
  app.set_version_flag("--version", "lucent 0.1.0");
  app::GlobalOptions global;
  app.add_option("--threads", global.threads, "LibTorch intra-op threads (0 = all cores)")
      ->check(CLI::NonNegativeNumber);
  app.add_flag("-v,--verbose", global.verbose, "Debug logging");
  app.add_flag("-q,--quiet", global.quiet, "Only errors");

  app::Runner run;
  app::add_info_command(app, run);
  app::add_convert_command(app, run);
  app::add_survey_command(app, run);
  app::add_errors_command(app, run);
  app::add_deid_command(app, run);
  app::add_train_command(app, run);
  app::add_predict_command(app, run);
  app::add_data_command(app, run);
  app::add_bundle_command(app, run);
  app::add_metrics_command(app, run);
  app::add_compare_command(app, run);
  app::add_agreement_command(app, run);
  app::add_evaluate_command(app, run);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int rc = app.exit(e);
    // CLI11 returns 0 for --help/--version; usage errors map to the invalid_argument exit code.
    return rc == 0 ? 0 : error_code_info(ErrorCode::kInvalidArgument).cli_exit_code;
  }
  init_logging(global.verbose ? LogLevel::kDebug : global.quiet ? LogLevel::kError : LogLevel::kInfo,
               LogFormat::kText);
  if (auto t = configure_threads(global.threads); !t) return app::report(t.error());
  try {
    return run ? run() : 0;
  } catch (const std::exception& e) {
    return app::report(Error(ErrorCode::kInternal, std::string("unexpected exception: ") + e.what()));
  }
}
