#include <iostream>

#include "commands.h"
#include "describe.h"
#include "lucent/io/image_io.h"

namespace lucent::app {
namespace {

struct ConvertArgs {
  std::string input, output;
  std::string series;
  std::string policy = "strict";
  std::string split = "test";
  int64_t index = 0;
  bool no_overwrite = false;
};

int run_convert(const ConvertArgs& a) {
  io::ReadOptions opts;
  opts.series_uid = a.series;
  opts.policy = a.policy == "repair" ? io::SeriesPolicy::kRepair : io::SeriesPolicy::kStrict;
  opts.npz_split = a.split;
  opts.npz_index = a.index;
  auto image = io::read_image(a.input, opts);
  if (!image) return report(image.error());
  io::WriteOptions wopts;
  wopts.overwrite = !a.no_overwrite;
  if (auto st = io::write_image(*image, a.output, wopts); !st) return report(st.error());
  const ImageSummary s = summarize(*image);
  std::cout << a.input << " -> " << a.output << "  (" << s.format << ", " << s.size << ", " << s.spacing << " mm, "
            << s.dtype << ")\n";
  return 0;
}

}  // namespace

void add_convert_command(CLI::App& app, Runner& run) {
  auto args = std::make_shared<ConvertArgs>();
  auto* cmd = app.add_subcommand("convert", "Convert any readable image to NIfTI, NRRD, MHA or PNG (by extension)");
  cmd->add_option("input", args->input, "File or DICOM folder")->required();
  cmd->add_option("output", args->output, "Output file (.nii, .nii.gz, .nrrd, .mha, .png, .tif)")->required();
  cmd->add_option("--series", args->series, "Series Instance UID when the folder holds several");
  cmd->add_option("--policy", args->policy, "Irregular DICOM series: strict (error) or repair (documented fixes)")
      ->check(CLI::IsMember({"strict", "repair"}));
  cmd->add_option("--split", args->split, "MedMNIST split for .npz input")->check(CLI::IsMember({"train", "val", "test"}));
  cmd->add_option("--index", args->index, "Image index within the .npz split");
  cmd->add_flag("--no-overwrite", args->no_overwrite, "Fail if the output exists");
  cmd->callback([&run, args] { run = [args] { return run_convert(*args); }; });
}

}  // namespace lucent::app
