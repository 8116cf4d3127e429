#include "lucent/data/segmentation.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <numeric>
#include <set>
#include <sstream>

#include "lucent/core/atomic_file.h"
#include "lucent/core/csv.h"
#include "lucent/io/image_io.h"

namespace lucent::data {
namespace fs = std::filesystem;

namespace {

std::string shape_text(const at::Tensor& t, int64_t first_spatial) {
  std::string s;
  for (int64_t d = first_spatial; d < t.dim(); ++d) s += (s.empty() ? "" : "x") + std::to_string(t.size(d));
  return s;
}

bool is_image_file(const fs::path& p) {
  static const std::set<std::string> skip = {".txt", ".md", ".csv", ".json", ".tsv", ".yaml", ".yml"};
  const std::string name = p.filename().string();
  if (name.empty() || name[0] == '.' || name == "SHA256SUMS" || name == "SOURCES.tsv") return false;
  std::string ext = p.extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return std::tolower(c); });
  return !skip.count(ext);
}

// File stem without every extension (a.nii.gz → a).
std::string bare_stem(const fs::path& p) {
  std::string name = p.filename().string();
  const std::string ext = full_extension(p);
  if (!ext.empty() && name.size() > ext.size()) name.resize(name.size() - ext.size());
  return name;
}

std::vector<fs::path> files_under(const fs::path& dir) {
  std::vector<fs::path> out;
  for (const auto& e : fs::recursive_directory_iterator(dir))
    if (e.is_regular_file() && is_image_file(e.path())) out.push_back(e.path());
  std::sort(out.begin(), out.end());
  return out;
}

// True when `stem` is `base + suffix` or `base + suffix + "_<digits>"`.
bool matches_mask(const std::string& stem, const std::string& base, const std::string& suffix) {
  const std::string head = base + suffix;
  if (stem == head) return true;
  if (stem.size() <= head.size() + 1 || stem.compare(0, head.size(), head) != 0 || stem[head.size()] != '_') return false;
  return std::all_of(stem.begin() + static_cast<std::ptrdiff_t>(head.size()) + 1, stem.end(),
                     [](unsigned char c) { return std::isdigit(c); });
}

bool looks_like_mask(const std::string& stem, const std::string& suffix) {
  if (suffix.empty()) return false;
  const auto pos = stem.rfind(suffix);
  if (pos == std::string::npos) return false;
  return matches_mask(stem, stem.substr(0, pos), suffix);
}

// One channel of label values, int64 ([Z,] Y, X).
at::Tensor label_channel(const Image& img) { return img.data.select(0, 0).round().to(at::kLong); }

}  // namespace

Result<SegCaseList> read_seg_manifest(const fs::path& csv) {
  auto t = read_csv(csv);
  if (!t) return std::unexpected(t.error());
  const int ci = t->column("image"), cm = t->column("mask"), cr = t->column("roi"), cp = t->column("patient_id"),
            cs = t->column("split"), cid = t->column("id");
  if (ci < 0 || cm < 0)
    return fail(ErrorCode::kInvalidData, csv.string() + ": a segmentation manifest needs the columns `image` and `mask` "
                                                        "(optional: roi, patient_id, split, id); found: " +
                                             [&] {
                                               std::string h;
                                               for (const auto& c : t->header) h += (h.empty() ? "" : ", ") + c;
                                               return h;
                                             }());
  const fs::path base = fs::absolute(csv).parent_path();
  auto resolve = [&](const std::string& p) { return fs::path(p).is_absolute() ? fs::path(p) : base / p; };
  SegCaseList out;
  out.source = csv.string();
  std::set<std::string> ids;
  for (std::size_t r = 0; r < t->rows.size(); ++r) {
    const auto& row = t->rows[r];
    const std::string where = csv.string() + " line " + std::to_string(t->lines[r]);
    SegCase c;
    if (row[ci].empty() || row[cm].empty())
      return fail(ErrorCode::kInvalidData, where + ": `image` and `mask` must not be empty");
    c.image = resolve(row[ci]);
    std::stringstream ms(row[cm]);
    for (std::string m; std::getline(ms, m, ';');)
      if (!m.empty()) c.masks.push_back(resolve(m));
    if (cr >= 0 && !row[cr].empty()) c.roi = resolve(row[cr]);
    c.id = cid >= 0 && !row[cid].empty() ? row[cid] : fs::path(row[ci]).replace_extension().generic_string();
    c.patient = cp >= 0 && !row[cp].empty() ? row[cp] : c.id;
    if (cs >= 0) {
      c.split = row[cs];
      if (!c.split.empty() && c.split != "train" && c.split != "val" && c.split != "test")
        return fail(ErrorCode::kInvalidData, where + ": split is '" + c.split + "'; expected train, val, test or empty");
    }
    if (!ids.insert(c.id).second) return fail(ErrorCode::kInvalidData, where + ": duplicated id '" + c.id + "'");
    out.cases.push_back(std::move(c));
  }
  if (out.cases.empty()) return fail(ErrorCode::kInvalidData, csv.string() + " lists no cases");
  return out;
}

Result<SegCaseList> scan_seg_folder(const fs::path& root, const SegFolderOptions& o) {
  const fs::path images = root / o.images, masks = root / o.masks, roi = o.roi.empty() ? fs::path() : root / o.roi;
  for (const auto& d : {images, masks, roi})
    if (!d.empty() && !fs::is_directory(d))
      return fail(ErrorCode::kNotFound, d.string() + " is not a folder; check data.path, data.images, data.masks and data.roi");
  if (images == masks && o.mask_suffix.empty())
    return fail(ErrorCode::kInvalidArgument, root.string() + ": images and masks share a folder, so data.mask_suffix "
                                                             "is needed to tell them apart (e.g. \"_mask\")");
  // Index the mask and ROI files by folder and stem.
  auto index = [](const fs::path& dir) {
    std::map<fs::path, std::vector<fs::path>> by_folder;
    for (const auto& f : files_under(dir)) by_folder[fs::relative(f.parent_path(), dir)].push_back(f);
    return by_folder;
  };
  const auto mask_index = index(masks);
  const auto roi_index = roi.empty() ? decltype(mask_index){} : index(roi);
  auto find = [](const auto& idx, const fs::path& rel_dir, const std::string& stem, const std::string& suffix) {
    std::vector<fs::path> found;
    if (auto it = idx.find(rel_dir); it != idx.end())
      for (const auto& f : it->second)
        if (matches_mask(bare_stem(f), stem, suffix)) found.push_back(f);
    return found;
  };
  SegCaseList out;
  out.source = root.string();
  std::string missing;
  int64_t n_missing = 0;
  for (const auto& f : files_under(images)) {
    const std::string stem = bare_stem(f);
    if (images == masks && looks_like_mask(stem, o.mask_suffix)) continue;
    if (!roi.empty() && images == roi && looks_like_mask(stem, o.roi_suffix)) continue;
    const fs::path rel_dir = fs::relative(f.parent_path(), images);
    SegCase c;
    c.image = f;
    c.id = (rel_dir / stem).generic_string();
    if (c.id.starts_with("./")) c.id = c.id.substr(2);
    c.patient = c.id;
    c.masks = find(mask_index, rel_dir, stem, o.mask_suffix);
    if (c.masks.empty()) {
      if (++n_missing <= 10) missing += "\n  " + f.string() + ": no " + (masks / rel_dir / (stem + o.mask_suffix)).string() + ".*";
      continue;
    }
    if (!roi.empty()) {
      auto r = find(roi_index, rel_dir, stem, o.roi_suffix);
      if (r.size() != 1) {
        if (++n_missing <= 10)
          missing += "\n  " + f.string() + ": " + std::to_string(r.size()) + " ROI files " +
                     (roi / rel_dir / (stem + o.roi_suffix)).string() + ".* (expected one)";
        continue;
      }
      c.roi = r[0];
    }
    out.cases.push_back(std::move(c));
  }
  if (n_missing > 0)
    return fail(ErrorCode::kInvalidData, root.string() + ": " + std::to_string(n_missing) +
                                             " image(s) without their mask or ROI; add them, remove the images, or fix "
                                             "data.masks / data.mask_suffix:" + missing +
                                             (n_missing > 10 ? "\n  …" : ""));
  if (out.cases.empty()) return fail(ErrorCode::kInvalidData, images.string() + " holds no images");
  return out;
}

Result<SegCaseList> scan_drive(const fs::path& root) {
  SegCaseList out;
  out.source = root.string();
  struct Part {
    std::vector<std::string> folders;
    std::string split, roi_word;
  };
  for (const Part& part : {Part{{"training"}, "train", "training"}, Part{{"test", "testing"}, "test", "test"}}) {
    fs::path dir;
    for (const auto& f : part.folders)
      if (fs::is_directory(root / f)) dir = root / f;
    if (dir.empty())
      return fail(ErrorCode::kNotFound, root.string() + " has no " + part.folders[0] + "/ folder; expected DRIVE's layout "
                                                                                     "(training/ and test/ with images/, 1st_manual/, mask/)");
    for (const auto& f : files_under(dir / "images")) {
      const std::string stem = bare_stem(f);
      const std::string id = stem.substr(0, stem.find('_'));
      SegCase c;
      c.id = id;
      c.patient = id;
      c.split = part.split;
      c.image = f;
      c.masks = {dir / "1st_manual" / (id + "_manual1.gif")};
      c.roi = dir / "mask" / (id + "_" + part.roi_word + "_mask.gif");
      out.cases.push_back(std::move(c));
    }
  }
  return out;
}

Result<SegCaseList> split_seg_cases(SegCaseList list, const SegSplitOptions& o) {
  if (o.val_fraction < 0 || o.test_fraction < 0 || o.val_fraction + o.test_fraction >= 1)
    return fail(ErrorCode::kInvalidArgument, "split fractions must be ≥ 0 and leave training data (val + test < 1)");
  // Patients without a split, in sorted order, shuffled by the seed.
  std::set<std::string> free_set;
  for (const auto& c : list.cases)
    if (c.split.empty()) free_set.insert(c.patient);
  std::vector<std::string> patients(free_set.begin(), free_set.end());
  Rng rng(o.seed);
  for (std::size_t i = patients.size(); i > 1; --i)
    std::swap(patients[i - 1], patients[static_cast<std::size_t>(rng.integer(0, static_cast<int64_t>(i) - 1))]);
  const auto n = static_cast<int64_t>(patients.size());
  auto count = [n](double f) { return f > 0 ? std::max<int64_t>(1, static_cast<int64_t>(std::llround(f * n))) : 0; };
  const int64_t n_test = std::min(n, count(o.test_fraction));
  std::map<std::string, std::string> assign;
  for (int64_t i = 0; i < n; ++i) assign[patients[i]] = i < n_test ? "test" : "train";
  // Validation: from the training patients (both the newly assigned and the pre-split ones
  // when val_count is given).
  std::vector<std::string> train_patients;
  std::set<std::string> seen;
  for (const auto& p : patients)
    if (assign[p] == "train") train_patients.push_back(p);
  if (o.val_count > 0) {
    std::set<std::string> pre;
    for (const auto& c : list.cases)
      if (c.split == "train") pre.insert(c.patient);
    std::vector<std::string> pool(pre.begin(), pre.end());
    Rng r2 = rng.fork(1);
    for (std::size_t i = pool.size(); i > 1; --i)
      std::swap(pool[i - 1], pool[static_cast<std::size_t>(r2.integer(0, static_cast<int64_t>(i) - 1))]);
    pool.insert(pool.end(), train_patients.begin(), train_patients.end());
    if (o.val_count >= static_cast<int64_t>(pool.size()))
      return fail(ErrorCode::kInvalidArgument, "data.split.val_count " + std::to_string(o.val_count) + " leaves no training cases (" +
                                                   std::to_string(pool.size()) + " training patients)");
    for (int64_t i = 0; i < o.val_count; ++i) assign[pool[i]] = "val";
    for (auto& c : list.cases)
      if (assign.count(c.patient)) c.split = assign[c.patient];
  } else {
    const int64_t n_val = std::min<int64_t>(static_cast<int64_t>(train_patients.size()) - 1, count(o.val_fraction));
    for (int64_t i = 0; i < n_val; ++i) assign[train_patients[i]] = "val";
    for (auto& c : list.cases)
      if (c.split.empty()) c.split = assign[c.patient];
  }
  for (const char* s : {"train", "val"})
    if (std::none_of(list.cases.begin(), list.cases.end(), [s](const SegCase& c) { return c.split == s; }))
      return fail(ErrorCode::kInvalidArgument, list.source + ": the split leaves no " + s +
                                                   " cases; add cases or change data.split");
  return list;
}

Status write_seg_manifest(const SegCaseList& list, const fs::path& csv) {
  std::string text = csv_row({"id", "image", "mask", "roi", "patient_id", "split"});
  for (const auto& c : list.cases) {
    std::string masks;
    for (const auto& m : c.masks) masks += (masks.empty() ? "" : ";") + m.string();
    text += csv_row({c.id, c.image.string(), masks, c.roi.string(), c.patient, c.split});
  }
  return write_file_atomically(csv, text);
}

Result<SegSample> load_seg_case(const SegCase& c, const SegLoadOptions& o, std::vector<SegProblem>& problems) {
  const std::size_t before = problems.size();
  auto problem = [&](std::string what) { problems.push_back({c.id, std::move(what)}); };
  auto img = io::read_image(c.image);
  if (!img) {
    problem("cannot read image: " + img.error().message());
    return fail(ErrorCode::kInvalidData, problems.back().what);
  }
  const int64_t dims = img->spatial_dims();
  const std::string img_size = shape_text(img->data, 1);
  at::Tensor labels;
  for (const auto& mp : c.masks) {
    auto m = io::read_image(mp);
    if (!m) {
      problem("cannot read mask: " + m.error().message());
      continue;
    }
    if (!m->data.sizes().slice(1).equals(img->data.sizes().slice(1))) {
      problem("image " + c.image.string() + " is " + img_size + " but mask " + mp.string() + " is " + shape_text(m->data, 1) +
              "; masks must have the image's size (resample the mask, or pair the right files)");
      continue;
    }
    at::Tensor raw = label_channel(*m);
    at::Tensor mapped = raw.clone();
    for (const auto& [from, to] : o.remap) mapped.masked_fill_(raw == from, to);
    const auto bad = (mapped < 0) | (mapped >= o.num_classes);
    if (bad.any().item<bool>()) {
      const auto values = std::get<0>(at::_unique(raw.masked_select(bad)));
      std::string list;
      for (int64_t i = 0; i < std::min<int64_t>(values.numel(), 8); ++i)
        list += (list.empty() ? "" : ", ") + std::to_string(values[i].item<int64_t>());
      problem("mask " + mp.string() + " holds label value(s) " + list + " outside 0.." + std::to_string(o.num_classes - 1) +
              " (after data.remap); map them with data.remap (e.g. {255: 1}) or set data.num_classes");
      continue;
    }
    labels = labels.defined() ? at::maximum(labels, mapped) : mapped;
  }
  at::Tensor roi;
  if (!c.roi.empty()) {
    auto r = io::read_image(c.roi);
    if (!r) {
      problem("cannot read ROI mask: " + r.error().message());
    } else if (!r->data.sizes().slice(1).equals(img->data.sizes().slice(1))) {
      problem("image " + c.image.string() + " is " + img_size + " but ROI mask " + c.roi.string() + " is " +
              shape_text(r->data, 1) + "; the ROI must have the image's size");
    } else {
      roi = r->data.select(0, 0) != 0;
    }
  }
  if (problems.size() != before) return fail(ErrorCode::kInvalidData, problems.back().what);
  if (!labels.defined()) {
    problem("no mask listed");
    return fail(ErrorCode::kInvalidData, problems.back().what);
  }
  SegSample s;
  s.id = c.id;
  s.image = img->data.to(at::kFloat).contiguous();
  s.roi = roi.defined() ? roi : at::ones(labels.sizes(), at::kBool);
  s.labels = labels.masked_fill(s.roi.logical_not(), kIgnoreLabel).contiguous();
  s.geometry = img->geometry;
  s.image_path = c.image;
  (void)dims;
  return s;
}

Result<std::vector<SegSample>> load_seg_cases(const std::vector<SegCase>& cases, const SegLoadOptions& o,
                                              const transforms::Pipeline& preprocess, Rng& rng) {
  if (o.num_classes < 1 || o.num_classes >= kIgnoreLabel)
    return fail(ErrorCode::kInvalidArgument, "data.num_classes must lie in 1..254, got " + std::to_string(o.num_classes));
  std::vector<SegProblem> problems;
  std::vector<SegSample> out;
  for (const auto& c : cases) {
    auto s = load_seg_case(c, o, problems);
    if (s) out.push_back(std::move(*s));
  }
  if (!problems.empty()) {
    std::string list;
    for (std::size_t i = 0; i < std::min<std::size_t>(problems.size(), 20); ++i)
      list += "\n  " + problems[i].id + ": " + problems[i].what;
    if (problems.size() > 20) list += "\n  … and " + std::to_string(problems.size() - 20) + " more";
    return fail(ErrorCode::kInvalidData, std::to_string(problems.size()) +
                                             " problem(s) in the segmentation data; fix them (or drop the cases) and run again:" + list);
  }
  for (auto& s : out) {
    transforms::Batch b{s.image.unsqueeze(0), s.labels.unsqueeze(0).unsqueeze(0).to(at::kFloat)};
    if (auto st = preprocess.apply(b, rng); !st)
      return std::unexpected(st.error().with_context("preprocessing case " + s.id));
    s.image = b.images.squeeze(0).contiguous();
    at::Tensor labels = b.masks.squeeze(0).squeeze(0).round().to(at::kLong).contiguous();
    if (!labels.sizes().equals(s.labels.sizes())) s.roi = labels != kIgnoreLabel;  // a spatial preprocess step
    s.labels = labels;
  }
  return out;
}

// ---- patches ----

PatchSampler::PatchSampler(const std::vector<SegSample>& samples, PatchOptions options, uint64_t seed)
    : samples_(&samples), options_(std::move(options)), seed_(seed) {
  for (const auto& s : samples) {
    const auto flat = s.labels.reshape({-1});
    foreground_.push_back(at::nonzero((flat >= 1) & (flat != kIgnoreLabel)).reshape({-1}));
    inside_.push_back(at::nonzero(s.roi.reshape({-1})).reshape({-1}));
  }
}

Result<PatchSampler> PatchSampler::create(const std::vector<SegSample>& samples, PatchOptions options, uint64_t seed) {
  if (samples.empty()) return fail(ErrorCode::kInvalidArgument, "patch sampling needs at least one training case");
  const auto dims = static_cast<std::size_t>(samples[0].labels.dim());
  if (options.patch_size.size() != dims)
    return fail(ErrorCode::kInvalidArgument, "train.patch_size has " + std::to_string(options.patch_size.size()) +
                                                 " entries but the images have " + std::to_string(dims) + " spatial axes");
  for (auto p : options.patch_size)
    if (p < 1) return fail(ErrorCode::kInvalidArgument, "train.patch_size entries must be ≥ 1");
  if (options.pos_fraction < 0 || options.pos_fraction > 1)
    return fail(ErrorCode::kInvalidArgument, "train.pos_fraction must lie in [0, 1]");
  return PatchSampler(samples, std::move(options), seed);
}

PatchBatch PatchSampler::sample(int64_t epoch, int64_t batch_index, int64_t batch_size) const {
  const auto& samples = *samples_;
  Rng rng = Rng(seed_).fork(static_cast<uint64_t>(epoch) * 1000003ULL + static_cast<uint64_t>(batch_index) + 17);
  const auto& patch = options_.patch_size;
  const auto dims = static_cast<int64_t>(patch.size());
  const int64_t channels = samples[0].image.size(0);
  std::vector<int64_t> img_shape{batch_size, channels}, lab_shape{batch_size};
  img_shape.insert(img_shape.end(), patch.begin(), patch.end());
  lab_shape.insert(lab_shape.end(), patch.begin(), patch.end());
  PatchBatch out;
  out.images = at::zeros(img_shape, at::kFloat);
  out.labels = at::full(lab_shape, kIgnoreLabel, at::kLong);
  for (int64_t b = 0; b < batch_size; ++b) {
    const int64_t ci = rng.integer(0, static_cast<int64_t>(samples.size()) - 1);
    const auto& s = samples[static_cast<std::size_t>(ci)];
    const bool want_pos = rng.bernoulli(options_.pos_fraction);
    const at::Tensor& pool = want_pos && foreground_[ci].numel() > 0 ? foreground_[ci] : inside_[ci];
    std::vector<int64_t> centre(static_cast<std::size_t>(dims));
    if (pool.numel() > 0) {
      int64_t flat = pool[rng.integer(0, pool.numel() - 1)].item<int64_t>();
      for (int64_t d = dims - 1; d >= 0; --d) {
        const int64_t n = s.labels.size(d);
        centre[static_cast<std::size_t>(d)] = flat % n;
        flat /= n;
      }
    } else {
      for (int64_t d = 0; d < dims; ++d) centre[static_cast<std::size_t>(d)] = rng.integer(0, s.labels.size(d) - 1);
    }
    if (want_pos && foreground_[ci].numel() > 0) ++out.positive;
    out.cases.push_back(ci);
    // Source and destination ranges per axis (the patch may cross the border: padding stays).
    at::Tensor src_img = s.image, src_lab = s.labels;
    at::Tensor dst_img = out.images[b], dst_lab = out.labels[b];
    bool empty = false;
    for (int64_t d = 0; d < dims; ++d) {
      const int64_t p = patch[static_cast<std::size_t>(d)], n = s.labels.size(d);
      const int64_t start = centre[static_cast<std::size_t>(d)] - p / 2;
      const int64_t lo = std::max<int64_t>(0, start), hi = std::min(n, start + p);
      if (hi <= lo) {
        empty = true;
        break;
      }
      src_img = src_img.narrow(d + 1, lo, hi - lo);
      src_lab = src_lab.narrow(d, lo, hi - lo);
      dst_img = dst_img.narrow(d + 1, lo - start, hi - lo);
      dst_lab = dst_lab.narrow(d, lo - start, hi - lo);
    }
    if (empty) continue;
    dst_img.copy_(src_img);
    dst_lab.copy_(src_lab);
  }
  return out;
}

}  // namespace lucent::data
