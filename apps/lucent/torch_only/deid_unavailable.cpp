// `lucent deid` in a build configured with -DLUCENT_TORCH_ONLY=ON, which has no DCMTK: the
// command exists so that scripts get a clear refusal (kUnsupported) rather than "unknown
// subcommand", and says how to get the real one.
#include "commands.h"

namespace lucent::app {

void add_deid_command(CLI::App& app, Runner& run) {
  auto* cmd = app.add_subcommand("deid", "De-identify DICOM (not in this build: LUCENT_TORCH_ONLY=ON)");
  cmd->allow_extras();
  cmd->callback([&run] {
    run = [] {
      return report(Error(ErrorCode::kUnsupported,
                          "lucent deid needs DCMTK, and this Lucent was built with LUCENT_TORCH_ONLY=ON; "
                          "rebuild without it after scripts/setup.sh installs the imaging libraries"));
    };
  });
}

}  // namespace lucent::app
