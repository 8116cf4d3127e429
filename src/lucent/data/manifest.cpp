#include "lucent/data/manifest.h"

#include <ATen/ATen.h>
#include <fnmatch.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <set>

#include "lucent/core/atomic_file.h"
#include "lucent/core/csv.h"
#include "lucent/io/image_io.h"

namespace lucent::data {
namespace fs = std::filesystem;
namespace {

const std::set<std::string> kSplits = {"train", "val", "test"};

bool is_documentation(const fs::path& p) {
  static const std::set<std::string> kDocs = {".txt", ".md", ".csv", ".json", ".tsv", ".yaml", ".yml", ".sha256"};
  const std::string name = p.filename().string();
  std::string ext = p.extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return std::tolower(c); });
  return name.starts_with(".") || name == "SHA256SUMS" || name == "README" || name == "LICENSE" || kDocs.count(ext);
}

std::vector<std::string> split_labels(const std::string& label, bool multilabel) {
  if (!multilabel) return {label};
  std::vector<std::string> out;
  std::size_t start = 0;
  while (start <= label.size()) {
    const auto end = label.find(';', start);
    std::string part = label.substr(start, end == std::string::npos ? std::string::npos : end - start);
    if (!part.empty()) out.push_back(part);
    if (end == std::string::npos) break;
    start = end + 1;
  }
  return out;
}

std::string join(const std::vector<std::string>& v) {
  std::string s;
  for (const auto& x : v) s += (s.empty() ? "" : ", ") + x;
  return s;
}

// Image tensor (C, [Z,] Y, X) of the dimensionality its geometry declares.
at::Tensor image_tensor(const Image& img) {
  at::Tensor t = img.data.to(at::kFloat);
  if (img.spatial_dims() == 2 && t.dim() == 4) t = t.squeeze(1);
  return t;
}

}  // namespace

Result<Manifest> read_manifest(const fs::path& csv) {
  if (!fs::exists(csv)) return fail(ErrorCode::kNotFound, "manifest " + csv.string() + " does not exist");
  auto table = read_csv(csv);
  if (!table) return std::unexpected(table.error());
  const int c_path = table->column("path"), c_label = table->column("label");
  if (c_path < 0 || c_label < 0)
    return fail(ErrorCode::kInvalidData, csv.string() + ": a manifest needs the columns 'path' and 'label' (found: " +
                                             join(table->header) + ")");
  const int c_patient = table->column("patient_id"), c_id = table->column("id"), c_split = table->column("split");
  Manifest m;
  m.source = csv.string();
  for (std::size_t c = 0; c < table->header.size(); ++c)
    if (static_cast<int>(c) != c_path && static_cast<int>(c) != c_label && static_cast<int>(c) != c_patient &&
        static_cast<int>(c) != c_id && static_cast<int>(c) != c_split)
      m.attribute_columns.push_back(table->header[c]);
  const fs::path base = fs::absolute(csv).parent_path();
  std::set<std::string> ids;
  for (std::size_t r = 0; r < table->rows.size(); ++r) {
    const auto& row = table->rows[r];
    const std::string where = csv.string() + " line " + std::to_string(table->lines[r]);
    ManifestEntry e;
    if (row[c_path].empty()) return fail(ErrorCode::kInvalidData, where + ": empty path");
    fs::path p(row[c_path]);
    e.path = p.is_relative() ? (base / p).lexically_normal() : p;
    fs::path rel = p.is_relative() ? p : e.path.lexically_relative(base);
    if (rel.empty() || rel.string().starts_with("..")) rel = e.path.filename();
    e.id = c_id >= 0 && !row[c_id].empty() ? row[c_id] : rel.replace_extension().generic_string();
    e.label = row[c_label];
    e.patient = c_patient >= 0 && !row[c_patient].empty() ? row[c_patient] : e.id;
    e.split = c_split >= 0 ? row[c_split] : "";
    for (std::size_t c = 0; c < row.size(); ++c)
      if (std::find(m.attribute_columns.begin(), m.attribute_columns.end(), table->header[c]) != m.attribute_columns.end())
        e.attributes[table->header[c]] = row[c];
    if (!ids.insert(e.id).second)
      return fail(ErrorCode::kInvalidData, where + ": id '" + e.id + "' is used twice; ids must be unique (add an 'id' column)");
    m.entries.push_back(std::move(e));
  }
  if (m.entries.empty()) return fail(ErrorCode::kInvalidData, csv.string() + ": the manifest lists no images");
  return m;
}

Result<Manifest> scan_image_folder(const fs::path& root, const std::vector<std::string>& exclude) {
  std::error_code ec;
  if (!fs::is_directory(root, ec))
    return fail(ErrorCode::kNotFound, "image folder " + root.string() + " does not exist or is not a folder");
  std::vector<fs::path> classes;
  for (const auto& d : fs::directory_iterator(root, ec))
    if (d.is_directory() && !d.path().filename().string().starts_with(".")) classes.push_back(d.path());
  if (ec) return fail(ErrorCode::kIoError, "cannot list " + root.string() + ": " + ec.message());
  std::sort(classes.begin(), classes.end());
  if (classes.empty())
    return fail(ErrorCode::kInvalidData, root.string() + " has no sub-folders; an image folder holds one sub-folder per class "
                                                         "(ROOT/<class>/<image>), or describe the data with a CSV manifest");
  Manifest m;
  m.source = root.string();
  const fs::path abs_root = fs::absolute(root).lexically_normal();
  for (const auto& cls : classes) {
    std::vector<fs::path> files;
    for (auto it = fs::recursive_directory_iterator(cls, ec); !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
      if (!it->is_regular_file() || is_documentation(it->path())) continue;
      const std::string name = it->path().filename().string();
      bool skip = false;
      for (const auto& pattern : exclude) skip = skip || fnmatch(pattern.c_str(), name.c_str(), 0) == 0;
      if (!skip) files.push_back(it->path());
    }
    if (ec) return fail(ErrorCode::kIoError, "cannot list " + cls.string() + ": " + ec.message());
    std::sort(files.begin(), files.end());
    for (const auto& f : files) {
      ManifestEntry e;
      e.path = fs::absolute(f).lexically_normal();
      fs::path rel = e.path.lexically_relative(abs_root);
      e.id = rel.replace_extension().generic_string();
      e.label = cls.filename().string();
      e.patient = e.id;
      m.entries.push_back(std::move(e));
    }
  }
  if (m.entries.empty()) return fail(ErrorCode::kInvalidData, root.string() + ": no image files in its class sub-folders");
  return m;
}

Status write_manifest(const Manifest& m, const fs::path& csv) {
  const fs::path base = fs::absolute(csv).parent_path().lexically_normal();
  std::vector<std::string> header = {"id", "path", "label", "patient_id", "split"};
  header.insert(header.end(), m.attribute_columns.begin(), m.attribute_columns.end());
  std::string out = csv_row(header);
  for (const auto& e : m.entries) {
    fs::path rel = e.path.lexically_relative(base);
    const std::string path = !rel.empty() && !rel.string().starts_with("..") ? rel.generic_string() : e.path.string();
    std::vector<std::string> row = {e.id, path, e.label, e.patient, e.split};
    for (const auto& c : m.attribute_columns) {
      auto it = e.attributes.find(c);
      row.push_back(it == e.attributes.end() ? "" : it->second);
    }
    out += csv_row(row);
  }
  std::error_code ec;
  if (!base.empty()) fs::create_directories(base, ec);
  return write_file_atomically(csv, out);
}

Result<Manifest> split_by_patient(Manifest m, const SplitOptions& o) {
  if (o.val_fraction < 0 || o.test_fraction < 0 || o.val_fraction + o.test_fraction >= 1)
    return fail(ErrorCode::kInvalidArgument, "split fractions val " + std::to_string(o.val_fraction) + " and test " +
                                                 std::to_string(o.test_fraction) +
                                                 " are impossible: each must be ≥ 0 and together < 1");
  // Patients in order of first appearance, with their label counts.
  std::vector<std::string> patients;
  std::map<std::string, std::map<std::string, int64_t>> labels_of;
  for (const auto& e : m.entries) {
    if (!labels_of.count(e.patient)) patients.push_back(e.patient);
    ++labels_of[e.patient][e.label];
  }
  std::map<std::string, std::vector<std::string>> strata;  // majority label → patients
  for (const auto& p : patients) {
    const auto& counts = labels_of[p];
    auto best = std::max_element(counts.begin(), counts.end(),
                                 [](const auto& a, const auto& b) { return a.second < b.second; });
    strata[best->first].push_back(p);
  }
  std::map<std::string, std::string> split_of;
  Rng rng(o.seed);
  for (auto& [label, members] : strata) {
    // Fisher–Yates with the seeded Rng: identical on every platform.
    for (std::size_t i = members.size(); i > 1; --i)
      std::swap(members[i - 1], members[static_cast<std::size_t>(rng.integer(0, static_cast<int64_t>(i) - 1))]);
    const auto n = static_cast<double>(members.size());
    const auto n_test = static_cast<std::size_t>(std::llround(n * o.test_fraction));
    const auto n_val = static_cast<std::size_t>(std::llround(n * o.val_fraction));
    for (std::size_t i = 0; i < members.size(); ++i)
      split_of[members[i]] = i < n_test ? "test" : i < n_test + n_val ? "val" : "train";
  }
  for (auto& e : m.entries) e.split = split_of[e.patient];
  return m;
}

CheckReport check_manifest(const Manifest& m, const CheckOptions& o) {
  CheckReport report;
  const std::set<std::string> known(o.labels.begin(), o.labels.end());
  std::set<std::string> paths;
  std::map<std::string, std::set<std::string>> splits_of_patient;
  std::map<std::string, std::set<std::string>> patients_in;
  struct Shape {
    std::size_t entry;
    int64_t channels;
    std::vector<int64_t> size;
  };
  std::vector<Shape> shapes;
  auto problem = [&](const ManifestEntry& e, std::string what) { report.problems.push_back({e.id, e.path.string(), std::move(what)}); };
  for (std::size_t i = 0; i < m.entries.size(); ++i) {
    const auto& e = m.entries[i];
    ++report.images;
    if (!e.split.empty() && !kSplits.count(e.split))
      problem(e, "unknown split '" + e.split + "'; use train, val or test (or leave it empty)");
    if (!paths.insert(e.path.string()).second) problem(e, "the same file is listed twice");
    splits_of_patient[e.patient].insert(e.split);
    patients_in[e.split].insert(e.patient);
    const auto names = split_labels(e.label, o.multilabel);
    if (names.empty() || e.label.empty()) problem(e, "empty label");
    for (const auto& n : names) {
      ++report.counts[""][n];
      if (!e.split.empty()) ++report.counts[e.split][n];
      if (!known.empty() && !known.count(n)) problem(e, "unknown label '" + n + "' (known: " + join(o.labels) + ")");
    }
    std::error_code ec;
    if (!fs::exists(e.path, ec)) {
      problem(e, "file not found; fix the path in the manifest or restore the file");
      continue;
    }
    auto img = io::read_image(e.path);
    if (!img) {
      problem(e, "unreadable: " + img.error().message());
      continue;
    }
    auto t = image_tensor(*img);
    shapes.push_back({i, t.size(0), std::vector<int64_t>(t.sizes().begin() + 1, t.sizes().end())});
  }
  for (const auto& [split, ps] : patients_in) report.patients[split] = static_cast<int64_t>(ps.size());
  for (const auto& [patient, splits] : splits_of_patient) {
    if (splits.size() < 2) continue;
    std::vector<std::string> s(splits.begin(), splits.end());
    for (const auto& e : m.entries)
      if (e.patient == patient) {
        problem(e, "patient '" + patient + "' appears in several splits (" + join(s) +
                       "): images of one patient must share a split, or the test result is optimistic");
        break;
      }
  }
  // Channel count and rank: compare with the expected or the most common value.
  std::map<int64_t, int64_t> channel_votes;
  std::map<std::size_t, int64_t> rank_votes;
  for (const auto& s : shapes) {
    ++channel_votes[s.channels];
    ++rank_votes[s.size.size()];
  }
  auto most = [](const auto& votes) {
    return std::max_element(votes.begin(), votes.end(), [](const auto& a, const auto& b) { return a.second < b.second; })->first;
  };
  if (!shapes.empty()) {
    const int64_t channels = o.channels > 0 ? o.channels : most(channel_votes);
    const std::size_t rank = o.size.empty() ? most(rank_votes) : o.size.size();
    for (const auto& s : shapes) {
      const auto& e = m.entries[s.entry];
      if (s.channels != channels)
        problem(e, std::to_string(s.channels) + " channel(s), expected " + std::to_string(channels) +
                       "; convert the file or add a channel transform to the pipeline");
      if (s.size.size() != rank)
        problem(e, std::to_string(s.size.size()) + "-D image, expected " + std::to_string(rank) + "-D");
      else if (!o.size.empty() && s.size != o.size)
        problem(e, "size " + c10::str(at::IntArrayRef(s.size)) + ", expected " + c10::str(at::IntArrayRef(o.size)) +
                       " (yx/zyx); resize it or add `resize` to the preprocessing");
    }
  }
  return report;
}

Result<std::unique_ptr<TensorDataset>> load_manifest_split(const Manifest& m, const std::string& split,
                                                           const std::vector<std::string>& labels, Task task,
                                                           const transforms::Pipeline& preprocess, Rng& rng) {
  const bool multilabel = task == Task::kMultilabel;
  std::map<std::string, int64_t> index;
  for (std::size_t k = 0; k < labels.size(); ++k) index[labels[k]] = static_cast<int64_t>(k);
  std::vector<at::Tensor> images, targets;
  std::vector<std::string> ids;
  std::vector<int64_t> first_shape;
  std::string first_id;
  for (const auto& e : m.entries) {
    if (e.split != split) continue;
    const std::string where = m.source + ": case '" + e.id + "' (" + e.path.string() + ")";
    at::Tensor y = at::zeros({multilabel ? static_cast<int64_t>(labels.size()) : 1}, at::kLong);
    for (const auto& n : split_labels(e.label, multilabel)) {
      auto it = index.find(n);
      if (it == index.end())
        return fail(ErrorCode::kInvalidData, where + ": unknown label '" + n + "' (known: " + join(labels) +
                                                 "); run `lucent data check` to list every bad case");
      if (multilabel) y[it->second] = 1;
      else y[0] = it->second;
    }
    auto img = io::read_image(e.path);
    if (!img) return fail(img.error().code(), where + ": " + img.error().message() +
                                                  "; run `lucent data check` to list every bad case");
    transforms::Batch b{image_tensor(*img).unsqueeze(0), {}};
    if (auto st = preprocess.apply(b, rng); !st) return std::unexpected(st.error().with_context(where + " preprocessing"));
    std::vector<int64_t> shape(b.images.sizes().begin() + 1, b.images.sizes().end());
    if (first_shape.empty()) {
      first_shape = shape;
      first_id = e.id;
    } else if (shape != first_shape) {
      return fail(ErrorCode::kInvalidData, where + ": after preprocessing its shape is " + c10::str(at::IntArrayRef(shape)) +
                                               " but case '" + first_id + "' has " + c10::str(at::IntArrayRef(first_shape)) +
                                               "; add `resize` to pipeline.preprocess (and make the channel counts agree)");
    }
    images.push_back(b.images.squeeze(0).contiguous());
    targets.push_back(y);
    ids.push_back(e.id);
  }
  if (images.empty()) return fail(ErrorCode::kNotFound, m.source + ": the " + split + " split has no images");
  return std::make_unique<TensorDataset>(at::stack(images), at::stack(targets), task,
                                         static_cast<int64_t>(labels.size()), std::move(ids));
}

}  // namespace lucent::data
