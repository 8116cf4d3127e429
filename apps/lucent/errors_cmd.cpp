#include <iomanip>
#include <iostream>

#include "commands.h"

namespace lucent::app {

void add_errors_command(CLI::App& app, Runner& run) {
  auto* cmd = app.add_subcommand("errors", "Print the table of error codes (CLI exit, HTTP, DICOM status)");
  auto markdown = std::make_shared<bool>(false);
  cmd->add_flag("--markdown", *markdown, "Print as a Markdown table (docs/error-codes.md)");
  cmd->callback([&run, markdown] {
    run = [markdown] {
      auto [rows, n] = error_code_table();
      if (*markdown) {
        std::cout << "| code | exit | HTTP | DICOM status | meaning |\n|---|---|---|---|---|\n";
      }
      for (std::size_t i = 0; i < n; ++i) {
        const auto& r = rows[i];
        std::ostringstream dicom;
        dicom << "0x" << std::hex << std::uppercase << std::setw(4) << std::setfill('0') << r.dicom_status;
        if (*markdown) {
          std::cout << "| `" << r.name << "` | " << r.cli_exit_code << " | " << r.http_status << " | "
                    << dicom.str() << " | " << r.description << " |\n";
        } else {
          std::cout << std::left << std::setw(20) << r.name << std::right << std::setw(4) << r.cli_exit_code
                    << std::setw(5) << r.http_status << "  " << dicom.str() << "  " << r.description << "\n";
        }
      }
      return 0;
    };
  });
}

}  // namespace lucent::app
