// DICOM files, folders and series: header scans, slice ordering, consistency checks and
// repairs, and assembly into one output tensor decoded in place (see dicom.h).
#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <numeric>
#include <set>
#include <sstream>

#include "lucent/core/log.h"
#include "lucent/core/threads.h"
#include "lucent/io/dicom.h"
#include "lucent/io/internal/dicom_internal.h"
#include "lucent/io/internal/dicom_mosaic.h"

namespace lucent::io {
namespace fs = std::filesystem;
using internal::FramePlane;
using internal::FrameTarget;
using internal::ParsedHeader;

namespace {

constexpr double kOrientationTol = 1e-4;
constexpr double kDuplicateTolMm = 0.01;
constexpr double kSpacingRelTol = 1e-3;
constexpr double kSpacingAbsTolMm = 1e-3;
constexpr double kTiltTolRad = 1e-4;
constexpr double kThicknessRelTol = 1e-3;

std::string fmt(double v) {
  std::ostringstream os;
  os.precision(6);
  os << v;
  return os.str();
}

std::string fmt3(const Vec3& v) { return "(" + fmt(v[0]) + ", " + fmt(v[1]) + ", " + fmt(v[2]) + ")"; }

struct Slice {
  std::size_t header = 0;
  int64_t frame = 0;
  FramePlane plane;
  double d = 0;  // position along the normal, mm
};

std::string slice_name(const std::vector<ParsedHeader>& headers, const Slice& s) {
  const ParsedHeader& h = headers[s.header];
  std::string n = h.info.path.string();
  if (h.layout.frames > 1) n += " frame " + std::to_string(s.frame + 1);
  return n;
}

// The output volume (C, Z, Y, X): written once, slice by slice, so it asks for huge pages.
at::Tensor empty_volume(at::IntArrayRef shape, at::ScalarType dtype) {
  at::Tensor out = at::empty(shape, at::TensorOptions().dtype(dtype));
  advise_huge_pages(out.data_ptr(), out.nbytes());
  return out;
}

Vec3 row_dir(const FramePlane& p) { return normalized({p.orientation[0], p.orientation[1], p.orientation[2]}); }
Vec3 col_dir(const FramePlane& p) { return normalized({p.orientation[3], p.orientation[4], p.orientation[5]}); }

// Runs decode jobs (one per file) in parallel; returns the first error in file order.
Status run_decodes(const std::vector<ParsedHeader>& headers, const std::vector<std::vector<FrameTarget>>& jobs,
                   at::Tensor& out, std::atomic<bool>* overflow) {
  std::vector<std::optional<Error>> errors(jobs.size());
  at::parallel_for(0, static_cast<int64_t>(jobs.size()), 1, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) {
      if (jobs[i].empty()) continue;
      try {
        auto st = internal::decode_into(headers[i].info.path, headers[i], jobs[i], out, overflow);
        if (!st) errors[i] = st.error();
      } catch (...) {
        errors[i] = Error(ErrorCode::kInternal, headers[i].info.path.string() + ": unexpected exception while decoding");
      }
    }
  });
  for (auto& e : errors)
    if (e) return std::unexpected(*e);
  return ok();
}

Status check_same_layout(const std::vector<ParsedHeader>& headers, const std::string& label) {
  const ParsedHeader& a = headers.front();
  for (const ParsedHeader& b : headers) {
    auto differ = [&](const std::string& tag, const std::string& va, const std::string& vb) {
      return fail(ErrorCode::kInconsistentSeries,
                  label + ": " + tag + " differs between files: " + a.info.path.string() + " has " + va + ", " +
                      b.info.path.string() + " has " + vb + "; the files do not form one volume — read them separately");
    };
    if (a.layout.rows != b.layout.rows)
      return differ("(0028,0010) Rows", std::to_string(a.layout.rows), std::to_string(b.layout.rows));
    if (a.layout.cols != b.layout.cols)
      return differ("(0028,0011) Columns", std::to_string(a.layout.cols), std::to_string(b.layout.cols));
    if (a.layout.spp != b.layout.spp)
      return differ("(0028,0002) Samples per Pixel", std::to_string(a.layout.spp), std::to_string(b.layout.spp));
    if (a.layout.bits_allocated != b.layout.bits_allocated)
      return differ("(0028,0100) Bits Allocated", std::to_string(a.layout.bits_allocated),
                    std::to_string(b.layout.bits_allocated));
    if (a.layout.bits_stored != b.layout.bits_stored || a.layout.pixel_representation != b.layout.pixel_representation)
      return differ("(0028,0101) Bits Stored / (0028,0103) Pixel Representation",
                    std::to_string(a.layout.bits_stored) + "/" + std::to_string(a.layout.pixel_representation),
                    std::to_string(b.layout.bits_stored) + "/" + std::to_string(b.layout.pixel_representation));
    if (a.layout.photometric != b.layout.photometric)
      return differ("(0028,0004) Photometric Interpretation", a.layout.photometric, b.layout.photometric);
    if (a.layout.kind != b.layout.kind) return differ("pixel data element", "one kind", "another");
  }
  return ok();
}

// Bilinear in-plane shift of one slab: out(i, j) = in(i - di, j - dj); outside → slab minimum.
void shift_slab(at::Tensor& vol, int64_t k, double di, double dj) {
  for (int64_t c = 0; c < vol.size(0); ++c) {
    at::Tensor slab = vol.select(0, c).select(0, k);
    at::Tensor src = slab.to(at::kDouble).contiguous();
    const int64_t ny = src.size(0), nx = src.size(1);
    const double fill = src.min().item<double>();
    at::Tensor dst = at::empty_like(src);
    const double* s = src.data_ptr<double>();
    double* d = dst.data_ptr<double>();
    for (int64_t j = 0; j < ny; ++j) {
      for (int64_t i = 0; i < nx; ++i) {
        const double x = i - di, y = j - dj;
        const double fx = std::floor(x), fy = std::floor(y);
        const int64_t x0 = static_cast<int64_t>(fx), y0 = static_cast<int64_t>(fy);
        const double wx = x - fx, wy = y - fy;
        auto at = [&](int64_t xx, int64_t yy) {
          return (xx < 0 || yy < 0 || xx >= nx || yy >= ny) ? fill : s[yy * nx + xx];
        };
        d[j * nx + i] = (1 - wy) * ((1 - wx) * at(x0, y0) + wx * at(x0 + 1, y0)) +
                        wy * ((1 - wx) * at(x0, y0 + 1) + wx * at(x0 + 1, y0 + 1));
      }
    }
    if (at::isIntegralType(slab.scalar_type(), false)) dst = dst.round();
    slab.copy_(dst);
  }
}

// Assembles positioned slices (from one or many files) into one volume.
Result<Image> assemble(const std::vector<ParsedHeader>& headers, std::vector<Slice> slices, const ReadOptions& opt,
                       const std::string& label) {
  const bool repair = opt.policy == SeriesPolicy::kRepair;
  if (auto st = check_same_layout(headers, label); !st) return std::unexpected(st.error());
  const FramePlane& ref = slices.front().plane;
  const Vec3 r = row_dir(ref), c = col_dir(ref);
  const Vec3 n = normalized(cross(r, c));
  for (const Slice& s : slices) {
    for (int i = 0; i < 6; ++i) {
      if (std::abs(s.plane.orientation[i] - ref.orientation[i]) > kOrientationTol)
        return fail(ErrorCode::kInconsistentSeries,
                    label + ": mixed orientations: (0020,0037) Image Orientation (Patient) of " +
                        slice_name(headers, s) + " differs from " + slice_name(headers, slices.front()) +
                        " (component " + std::to_string(i) + ": " + fmt(s.plane.orientation[i]) + " vs " +
                        fmt(ref.orientation[i]) + "); split the series by orientation and read each part");
    }
    const double ta = std::max(kSpacingAbsTolMm, kSpacingRelTol * ref.spacing_row_mm);
    if (std::abs(s.plane.spacing_row_mm - ref.spacing_row_mm) > ta ||
        std::abs(s.plane.spacing_col_mm - ref.spacing_col_mm) > ta)
      return fail(ErrorCode::kInconsistentSeries,
                  label + ": (0028,0030) Pixel Spacing of " + slice_name(headers, s) + " is " +
                      fmt(s.plane.spacing_row_mm) + "\\" + fmt(s.plane.spacing_col_mm) + ", expected " +
                      fmt(ref.spacing_row_mm) + "\\" + fmt(ref.spacing_col_mm) + " as in " +
                      slice_name(headers, slices.front()) + "; the slices do not form one volume");
  }
  for (Slice& s : slices) s.d = dot(s.plane.position, n);
  std::stable_sort(slices.begin(), slices.end(), [](const Slice& a, const Slice& b) { return a.d < b.d; });

  // Duplicate positions.
  std::vector<Slice> unique;
  std::vector<std::pair<std::size_t, Slice>> duplicates;  // index into unique, duplicate slice
  for (const Slice& s : slices) {
    if (!unique.empty() && std::abs(s.d - unique.back().d) < kDuplicateTolMm) {
      if (!repair)
        return fail(ErrorCode::kInconsistentSeries,
                    label + ": duplicate position: " + slice_name(headers, unique.back()) + " and " +
                        slice_name(headers, s) + " both lie at " + fmt(s.d) +
                        " mm along the slice normal; remove one, or read with policy repair (drops duplicates "
                        "with identical pixels)");
      duplicates.emplace_back(unique.size() - 1, s);
      continue;
    }
    unique.push_back(s);
  }
  const std::size_t nu = unique.size();

  // Spacing, gaps.
  std::vector<int64_t> k_of(nu, 0);
  double spacing = 0;
  if (nu >= 2) {
    double smin = std::numeric_limits<double>::infinity();
    for (std::size_t i = 1; i < nu; ++i) smin = std::min(smin, unique[i].d - unique[i - 1].d);
    const double tol = std::max(kSpacingAbsTolMm, kSpacingRelTol * smin);
    int64_t k = 0;
    for (std::size_t i = 1; i < nu; ++i) {
      const double diff = unique[i].d - unique[i - 1].d;
      const double m = std::round(diff / smin);
      if (std::abs(diff - smin) <= tol * 1.0) {
        k += 1;
      } else if (m >= 2 && std::abs(diff - m * smin) <= tol * m) {
        if (!repair)
          return fail(ErrorCode::kInconsistentSeries,
                      label + ": missing slice(s): gap of " + fmt(diff) + " mm between " +
                          slice_name(headers, unique[i - 1]) + " and " + slice_name(headers, unique[i]) +
                          " (slice index " + std::to_string(k) + " → " + std::to_string(k + 1) +
                          "), expected spacing " + fmt(smin) + " mm; " + std::to_string(static_cast<int64_t>(m) - 1) +
                          " slice(s) missing — add them, or read with policy repair (fills by interpolation)");
        k += static_cast<int64_t>(m);
      } else {
        return fail(ErrorCode::kInconsistentSeries,
                    label + ": non-uniform slice spacing: " + fmt(diff) + " mm between " +
                        slice_name(headers, unique[i - 1]) + " and " + slice_name(headers, unique[i]) +
                        ", expected " + fmt(smin) + " mm (or a whole multiple of it); the slices do not form one "
                        "regular volume — resample them or read the slices separately");
      }
      k_of[i] = k;
    }
    spacing = (unique.back().d - unique.front().d) / static_cast<double>(k);
  }
  const int64_t nz = nu >= 2 ? k_of.back() + 1 : 1;
  if (nz > 2 * static_cast<int64_t>(nu) || nz > (1 << 20))
    return fail(ErrorCode::kInconsistentSeries, label + ": filling gaps would create " + std::to_string(nz) + " slices from " +
                                                    std::to_string(nu) + " real ones (more missing than present); "
                                                    "the positions are implausible — check the series");

  // Gantry tilt: the slice progression must follow the normal.
  std::vector<std::pair<double, double>> shift_px(nu, {0.0, 0.0});
  bool tilted = false;
  double tilt_deg = 0;
  if (nu >= 2) {
    const Vec3 v{unique.back().plane.position[0] - unique.front().plane.position[0],
                 unique.back().plane.position[1] - unique.front().plane.position[1],
                 unique.back().plane.position[2] - unique.front().plane.position[2]};
    const double lateral = norm(cross(normalized(v), n));
    if (lateral > kTiltTolRad) {
      tilted = true;
      tilt_deg = std::asin(std::min(1.0, lateral)) * 180.0 / M_PI;
      if (!repair)
        return fail(ErrorCode::kInconsistentSeries,
                    label + ": gantry tilt: slices progress " + fmt(tilt_deg) +
                        " degrees away from the slice normal (first " + slice_name(headers, unique.front()) + " at " +
                        fmt3(unique.front().plane.position) + ", last " + slice_name(headers, unique.back()) + " at " +
                        fmt3(unique.back().plane.position) +
                        "); read with policy repair (resamples onto an orthogonal grid)");
      for (std::size_t i = 0; i < nu; ++i) {
        Vec3 lat;
        for (int a = 0; a < 3; ++a)
          lat[a] = unique[i].plane.position[a] - unique.front().plane.position[a] - (unique[i].d - unique.front().d) * n[a];
        shift_px[i] = {dot(lat, r) / ref.spacing_col_mm, dot(lat, c) / ref.spacing_row_mm};
      }
    }
  }
  // Slice thickness.
  bool variable_thickness = false;
  for (const Slice& s : unique)
    if (std::abs(s.plane.thickness_mm - ref.thickness_mm) > kThicknessRelTol * std::max(ref.thickness_mm, 1e-6))
      variable_thickness = true;
  if (variable_thickness && !repair) {
    double lo = ref.thickness_mm, hi = ref.thickness_mm;
    for (const Slice& s : unique) lo = std::min(lo, s.plane.thickness_mm), hi = std::max(hi, s.plane.thickness_mm);
    return fail(ErrorCode::kInconsistentSeries,
                label + ": variable slice thickness: (0018,0050) Slice Thickness ranges from " + fmt(lo) + " to " +
                    fmt(hi) + " mm; read with policy repair to accept it");
  }

  // Output.
  std::vector<const ParsedHeader*> hp;
  for (const auto& h : headers) hp.push_back(&h);
  const internal::OutputPlan plan = internal::plan_output(hp);
  const ParsedHeader& first_h = headers[unique.front().header];
  const int64_t ny = first_h.layout.rows, nx = first_h.layout.cols;
  const int64_t nextra = static_cast<int64_t>(duplicates.size());
  at::Tensor out;
  try {
    out = empty_volume({plan.channels, nz + nextra, ny, nx}, plan.dtype);
  } catch (const std::exception& e) {
    return fail(ErrorCode::kResourceExhausted, label + ": cannot allocate the volume (" + std::to_string(nz) +
                                                   " slices of " + std::to_string(ny) + " x " + std::to_string(nx) + ")");
  }
  std::vector<std::vector<FrameTarget>> jobs(headers.size());
  std::vector<bool> present(static_cast<std::size_t>(nz), false);
  for (std::size_t i = 0; i < nu; ++i) {
    const Slice& s = unique[i];
    jobs[s.header].push_back({s.frame, k_of[i], s.plane.slope, s.plane.intercept});
    present[static_cast<std::size_t>(k_of[i])] = true;
  }
  for (std::size_t j = 0; j < duplicates.size(); ++j) {
    const Slice& s = duplicates[j].second;
    jobs[s.header].push_back({s.frame, nz + static_cast<int64_t>(j), s.plane.slope, s.plane.intercept});
  }
  std::atomic<bool> overflow{false};
  if (auto st = run_decodes(headers, jobs, out, &overflow); !st) return std::unexpected(st.error().with_context(label));
  if (overflow && plan.fallback != at::ScalarType::Undefined) {
    // Values beyond int16: decode again into the wider type (rare; the header range allowed it).
    log_debug(label + ": values exceed int16; decoding again as " + std::string(c10::toString(plan.fallback)));
    out = at::Tensor();  // release the int16 attempt first
    out = empty_volume({plan.channels, nz + nextra, ny, nx}, plan.fallback);
    if (auto st = run_decodes(headers, jobs, out, nullptr); !st) return std::unexpected(st.error().with_context(label));
  }

  // Repairs, each logged and recorded in the image's metadata.
  std::vector<std::string> repairs;
  auto note = [&](std::string m) {
    log_warn(m);
    repairs.push_back(std::move(m));
  };
  for (std::size_t j = 0; j < duplicates.size(); ++j) {
    const Slice& kept = unique[duplicates[j].first];
    const Slice& dup = duplicates[j].second;
    const at::Tensor a = out.select(1, k_of[duplicates[j].first]);
    const at::Tensor b = out.select(1, nz + static_cast<int64_t>(j));
    if (!at::equal(a, b))
      return fail(ErrorCode::kInconsistentSeries,
                  label + ": duplicate position with different pixels: " + slice_name(headers, kept) + " and " +
                      slice_name(headers, dup) + " both lie at " + fmt(dup.d) +
                      " mm along the normal but differ; they are different acquisitions (echoes, phases?) — "
                      "separate them before reading");
    note(label + ": repair: dropped " + slice_name(headers, dup) + ", a duplicate of " +
             slice_name(headers, kept) + " (same position, identical pixels)");
  }
  if (nextra > 0) out = out.narrow(1, 0, nz).contiguous();
  // Tilt first, so that filled slices interpolate corrected neighbours.
  if (tilted) {
    for (std::size_t i = 0; i < nu; ++i)
      if (shift_px[i].first != 0.0 || shift_px[i].second != 0.0)
        shift_slab(out, k_of[i], shift_px[i].first, shift_px[i].second);
    note(label + ": repair: gantry tilt of " + fmt(tilt_deg) +
             " degrees corrected by resampling each slice in-plane onto an orthogonal grid (linear interpolation)");
  }
  for (int64_t k = 0; k < nz; ++k) {
    if (present[static_cast<std::size_t>(k)]) continue;
    int64_t a = k - 1, b = k + 1;  // nearest real slices (k is never the first or the last)
    while (!present[static_cast<std::size_t>(a)]) --a;
    while (!present[static_cast<std::size_t>(b)]) ++b;
    const double w = static_cast<double>(k - a) / static_cast<double>(b - a);
    at::Tensor fa = out.select(1, a).to(at::kDouble), fb = out.select(1, b).to(at::kDouble);
    at::Tensor f = fa * (1.0 - w) + fb * w;
    if (at::isIntegralType(out.scalar_type(), false)) f = f.round();
    out.select(1, k).copy_(f);
    note(label + ": repair: slice " + std::to_string(k) + " was missing; filled by linear interpolation of slices " +
             std::to_string(a) + " and " + std::to_string(b));
  }
  if (variable_thickness) note(label + ": repair: variable slice thickness accepted");

  Image img;
  img.data = out;
  img.meta = first_h.meta;
  img.meta.notes = repairs;
  img.geometry.spatial_dims = 3;
  img.geometry.origin_lps = unique.front().plane.position;
  img.geometry.set_direction_column(0, r);
  img.geometry.set_direction_column(1, c);
  img.geometry.set_direction_column(2, n);
  double sz = spacing;
  if (nz == 1) sz = ref.spacing_between_mm > 0 ? ref.spacing_between_mm : (ref.thickness_mm > 0 ? ref.thickness_mm : 1.0);
  img.geometry.spacing_mm = {ref.spacing_col_mm, ref.spacing_row_mm, sz};
  return img;
}

Result<Image> read_single(const ParsedHeader& h0, const ReadOptions& opt) {
  if (auto st = internal::validate_layout(h0); !st) return std::unexpected(st.error());
  const std::string p = h0.info.path.string();
  const auto& L = h0.layout;
  std::vector<ParsedHeader> headers{h0};
  const ParsedHeader& h = headers.front();
  const FramePlane& f0 = h.frames.front();
  auto identity_warning = [&](const char* what) {
    log_warn(p + ": no (0020,0032) Image Position / (0020,0037) Image Orientation (Patient); " + what +
             " uses identity direction and origin 0");
  };
  // Positioned multi-frame: enhanced per-frame positions or RT Dose grid offsets.
  if (L.frames > 1) {
    std::vector<Slice> slices;
    const bool all_oriented = std::all_of(h.frames.begin(), h.frames.end(), [](const FramePlane& f) { return f.has_orientation; });
    if (h.per_frame_positions && all_oriented) {
      for (int64_t f = 0; f < L.frames; ++f) slices.push_back({0, f, h.frames[f], 0});
    } else if (static_cast<int64_t>(h.grid_frame_offsets.size()) == L.frames && f0.has_position && f0.has_orientation) {
      const Vec3 n = normalized(cross(row_dir(f0), col_dir(f0)));
      for (int64_t f = 0; f < L.frames; ++f) {
        Slice s{0, f, h.frames[f], 0};
        for (int a = 0; a < 3; ++a) s.plane.position[a] = f0.position[a] + h.grid_frame_offsets[f] * n[a];
        slices.push_back(s);
      }
    }
    if (!slices.empty()) {
      // Several stacks at the same positions: keep the first frame at each position.
      const Vec3 n = normalized(cross(row_dir(slices[0].plane), col_dir(slices[0].plane)));
      std::vector<std::pair<double, int64_t>> dpos;
      for (const Slice& s : slices) dpos.emplace_back(dot(s.plane.position, n), s.frame);
      std::stable_sort(dpos.begin(), dpos.end());
      std::vector<std::vector<int64_t>> groups;
      for (std::size_t i = 0; i < dpos.size(); ++i) {
        if (i == 0 || dpos[i].first - dpos[i - 1].first >= kDuplicateTolMm) groups.emplace_back();
        groups.back().push_back(dpos[i].second);
      }
      std::size_t lo = groups.front().size(), hi = lo;
      for (const auto& g : groups) lo = std::min(lo, g.size()), hi = std::max(hi, g.size());
      if (hi > 1) {
        if (lo != hi)
          return fail(ErrorCode::kInconsistentSeries,
                      p + ": the " + std::to_string(L.frames) + " frames lie at " + std::to_string(groups.size()) +
                          " positions repeated unevenly (" + std::to_string(lo) + " to " + std::to_string(hi) +
                          " frames per position, e.g. sparse segments or mixed stacks); cannot form one volume");
        std::vector<Slice> first;
        for (const auto& g : groups) {
          const int64_t f = *std::min_element(g.begin(), g.end());
          first.push_back(slices[static_cast<std::size_t>(f)]);
        }
        log_warn(p + ": holds " + std::to_string(groups.size()) + " positions x " + std::to_string(hi) +
                 " frames each (several stacks: time points, echoes, image types or segments); reading only the "
                 "first frame at each position");
        slices = std::move(first);
      }
      auto img = assemble(headers, std::move(slices), opt, "file " + p);
      return img;
    }
  }
  std::vector<const ParsedHeader*> hp{&h};
  const internal::OutputPlan plan = internal::plan_output(hp);
  at::Tensor out;
  try {
    out = empty_volume({plan.channels, L.frames, L.rows, L.cols}, plan.dtype);
  } catch (const std::exception&) {
    return fail(ErrorCode::kResourceExhausted, p + ": cannot allocate " + std::to_string(L.frames) + " frames of " +
                                                   std::to_string(L.rows) + " x " + std::to_string(L.cols));
  }
  std::vector<FrameTarget> targets;
  for (int64_t f = 0; f < L.frames; ++f) targets.push_back({f, f, h.frames[f].slope, h.frames[f].intercept});
  std::atomic<bool> overflow{false};
  if (auto st = internal::decode_into(h.info.path, h, targets, out, &overflow); !st) return std::unexpected(st.error());
  if (overflow && plan.fallback != at::ScalarType::Undefined) {
    out = at::Tensor();
    out = empty_volume({plan.channels, L.frames, L.rows, L.cols}, plan.fallback);
    if (auto st = internal::decode_into(h.info.path, h, targets, out, nullptr); !st) return std::unexpected(st.error());
  }
  Image img;
  img.meta = h.meta;
  Geometry& g = img.geometry;
  if (f0.has_position && f0.has_orientation) {
    g.origin_lps = f0.position;
    const Vec3 r = row_dir(f0), c = col_dir(f0);
    g.set_direction_column(0, r);
    g.set_direction_column(1, c);
    g.set_direction_column(2, normalized(cross(r, c)));
  } else {
    identity_warning(L.frames > 1 ? "the frame stack" : "the image");
  }
  if (L.frames == 1) {
    g.spatial_dims = 2;
    img.data = out.reshape({plan.channels, L.rows, L.cols});
    const double sz = f0.spacing_between_mm > 0 ? f0.spacing_between_mm : (f0.thickness_mm > 0 ? f0.thickness_mm : 1.0);
    g.spacing_mm = {f0.spacing_col_mm, f0.spacing_row_mm, sz};
  } else {
    g.spatial_dims = 3;
    img.data = out;
    g.spacing_mm = {f0.spacing_col_mm, f0.spacing_row_mm, 1.0};
    log_warn(p + ": " + std::to_string(L.frames) +
             " frames without per-frame positions (classic multi-frame, e.g. cine); stacked along k with spacing 1 mm");
  }
  return img;
}

Result<std::vector<ParsedHeader>> read_headers(const std::vector<fs::path>& files, bool keep) {
  std::vector<std::optional<Result<ParsedHeader>>> res(files.size());
  at::parallel_for(0, static_cast<int64_t>(files.size()), 4, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) res[i] = internal::read_header(files[i], keep);
  });
  std::vector<ParsedHeader> out;
  out.reserve(files.size());
  for (auto& r : res) {
    if (!*r) return std::unexpected(r->error());
    out.push_back(std::move(**r));
  }
  return out;
}

Result<Image> read_series_headers(std::vector<ParsedHeader> headers, const ReadOptions& opt) {
  if (headers.empty()) return fail(ErrorCode::kInvalidArgument, "read_dicom_series: no files given");
  if (headers.size() == 1) return read_single(headers.front(), opt);
  for (const auto& h : headers)
    if (auto st = internal::validate_layout(h); !st) return std::unexpected(st.error());
  std::set<std::string> uids;
  for (const auto& h : headers) uids.insert(h.info.series_instance_uid);
  if (uids.size() > 1) {
    std::string list;
    for (const auto& u : uids) list += (list.empty() ? "" : ", ") + (u.empty() ? std::string("<none>") : u);
    return fail(ErrorCode::kInvalidArgument, "the " + std::to_string(headers.size()) + " files belong to " +
                                                 std::to_string(uids.size()) + " series (" + list +
                                                 "); pass the files of one series (or set ReadOptions::series_uid)");
  }
  const std::string label = "series " + *uids.begin();
  std::vector<Slice> slices;
  bool multi = false;
  for (std::size_t i = 0; i < headers.size(); ++i) {
    const ParsedHeader& h = headers[i];
    if (h.layout.frames > 1) multi = true;
    for (int64_t f = 0; f < h.layout.frames; ++f) {
      const FramePlane& pl = h.frames[static_cast<std::size_t>(f)];
      const bool positioned = h.layout.frames == 1 ? (pl.has_position && pl.has_orientation)
                                                   : (h.per_frame_positions && pl.has_orientation);
      if (!positioned)
        return fail(ErrorCode::kInconsistentSeries,
                    label + ": " + h.info.path.string() +
                        (h.layout.frames > 1 ? " is multi-frame without per-frame positions"
                                             : " has no (0020,0032) Image Position / (0020,0037) Image Orientation (Patient)") +
                        "; slices cannot be ordered by position — read the files one at a time");
      slices.push_back({i, f, pl, 0});
    }
  }
  if (multi) {
    const Vec3 n = normalized(cross(row_dir(slices[0].plane), col_dir(slices[0].plane)));
    std::vector<double> d;
    for (const auto& s : slices) d.push_back(dot(s.plane.position, n));
    std::sort(d.begin(), d.end());
    std::size_t distinct = d.empty() ? 0 : 1;
    for (std::size_t i = 1; i < d.size(); ++i)
      if (d[i] - d[i - 1] >= kDuplicateTolMm) ++distinct;
    if (distinct != d.size())
      return fail(ErrorCode::kInconsistentSeries,
                  label + ": " + std::to_string(headers.size()) + " multi-frame files hold " +
                      std::to_string(d.size()) + " frames at only " + std::to_string(distinct) +
                      " distinct positions (the files repeat positions: time points, echoes or separate volumes); "
                      "read each file with read_dicom_file");
  }
  return assemble(headers, std::move(slices), opt, label);
}

struct InternalScan {
  std::map<std::string, std::vector<ParsedHeader>> series;
  std::vector<std::pair<fs::path, std::string>> skipped;
};

Result<InternalScan> scan_internal(const fs::path& folder, bool keep) {
  std::error_code ec;
  if (!fs::exists(folder, ec)) return fail(ErrorCode::kNotFound, "no such folder " + folder.string() + "; check the path");
  if (!fs::is_directory(folder, ec))
    return fail(ErrorCode::kInvalidArgument, folder.string() + " is not a folder; use read_dicom_file for one file");
  std::vector<fs::path> files;
  fs::recursive_directory_iterator it(folder, fs::directory_options::skip_permission_denied, ec), end;
  if (ec) return fail(ErrorCode::kIoError, "cannot list " + folder.string() + ": " + ec.message());
  for (; it != end; it.increment(ec)) {
    if (ec) return fail(ErrorCode::kIoError, "cannot list " + folder.string() + ": " + ec.message());
    std::error_code e2;
    if (it->is_regular_file(e2)) files.push_back(it->path());
  }
  std::sort(files.begin(), files.end());
  std::vector<std::optional<Result<ParsedHeader>>> res(files.size());
  at::parallel_for(0, static_cast<int64_t>(files.size()), 4, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) res[i] = internal::read_header(files[i], keep);
  });
  InternalScan scan;
  for (std::size_t i = 0; i < files.size(); ++i) {
    auto& r = *res[i];
    if (!r) {
      scan.skipped.emplace_back(files[i], r.error().message());
      continue;
    }
    if (auto st = internal::validate_layout(*r); !st) {
      scan.skipped.emplace_back(files[i], st.error().message());
      continue;
    }
    scan.series[r->info.series_instance_uid].push_back(std::move(*r));
  }
  return scan;
}

}  // namespace

Result<DicomFileInfo> scan_dicom_file(const fs::path& path) {
  auto h = internal::read_header(path, false);
  if (!h) return std::unexpected(h.error());
  if (!h->looks_like_dicom)
    return fail(ErrorCode::kInvalidData, path.string() + " is not a DICOM file (no File Meta header, no SOP Class "
                                                         "UID, no Pixel Data); check the path");
  return h->info;
}

Result<DicomFolderScan> scan_dicom_folder(const fs::path& folder) {
  auto s = scan_internal(folder, false);
  if (!s) return std::unexpected(s.error());
  DicomFolderScan out;
  out.skipped = std::move(s->skipped);
  for (auto& [uid, hs] : s->series) {
    DicomSeriesSummary sum;
    sum.series_instance_uid = uid;
    sum.modality = hs.front().info.modality;
    sum.description = hs.front().info.series_description;
    for (auto& h : hs) sum.files.push_back(h.info);
    out.series.push_back(std::move(sum));
  }
  return out;
}

Result<Image> read_dicom_file(const fs::path& path, const ReadOptions& options) {
  auto h = internal::read_header(path, options.keep_dicom_attributes);
  if (!h) return std::unexpected(h.error());
  auto image = read_single(*h, options);
  if (!image || image->geometry.spatial_dims != 2) return image;
  auto mosaic = internal::detect_mosaic(path);
  if (!mosaic) return std::unexpected(mosaic.error());
  if (!*mosaic) return image;
  return internal::unpack_mosaic(std::move(*image), **mosaic, path.string());
}

Result<Image> read_dicom_series(const std::vector<fs::path>& files, const ReadOptions& options) {
  if (files.empty()) return fail(ErrorCode::kInvalidArgument, "read_dicom_series: no files given");
  if (files.size() == 1) return read_dicom_file(files.front(), options);
  auto hs = read_headers(files, options.keep_dicom_attributes);
  if (!hs) return std::unexpected(hs.error());
  return read_series_headers(std::move(*hs), options);
}

Result<Image> read_dicom_folder(const fs::path& folder, const ReadOptions& options) {
  auto s = scan_internal(folder, options.keep_dicom_attributes);
  if (!s) return std::unexpected(s.error());
  if (s->series.empty()) {
    std::string why;
    for (std::size_t i = 0; i < s->skipped.size() && i < 3; ++i)
      why += "; " + s->skipped[i].first.filename().string() + ": " + s->skipped[i].second;
    return fail(ErrorCode::kNotFound, "no readable DICOM image in " + folder.string() + " (" +
                                          std::to_string(s->skipped.size()) + " file(s) skipped" + why + ")");
  }
  if (!options.series_uid.empty()) {
    auto it = s->series.find(options.series_uid);
    if (it == s->series.end()) {
      std::string list;
      for (const auto& [u, _] : s->series) list += (list.empty() ? "" : ", ") + u;
      return fail(ErrorCode::kInvalidArgument, "series " + options.series_uid + " is not in " + folder.string() +
                                                   "; it holds " + list);
    }
    return read_series_headers(std::move(it->second), options);
  }
  if (s->series.size() > 1) {
    std::string list;
    for (const auto& [u, hs] : s->series)
      list += (list.empty() ? "" : ", ") + u + " (" + std::to_string(hs.size()) + " files, " +
              (hs.front().info.modality.empty() ? std::string("?") : hs.front().info.modality) + ")";
    return fail(ErrorCode::kInvalidArgument, folder.string() + " holds " + std::to_string(s->series.size()) +
                                                 " series: " + list + "; choose one with ReadOptions::series_uid");
  }
  return read_series_headers(std::move(s->series.begin()->second), options);
}

}  // namespace lucent::io
