#include "describe.h"

#include <ATen/ATen.h>

#include <cstdio>
#include <sstream>

namespace lucent::app {
namespace {

std::string fmt3(const Vec3& v, int dims, int precision) {
  std::ostringstream s;
  s.setf(std::ios::fixed);
  s.precision(precision);
  for (int i = 0; i < dims; ++i) s << (i ? "x" : "") << v[i];
  return s.str();
}

std::string dtype_name(const at::Tensor& t) {
  switch (t.scalar_type()) {
    case at::kByte: return "uint8";
    case at::kChar: return "int8";
    case at::kShort: return "int16";
    case at::kInt: return "int32";
    case at::kLong: return "int64";
    case at::kFloat: return "float32";
    case at::kDouble: return "float64";
    case at::kBool: return "bool";
    default: return std::string(at::toString(t.scalar_type()));
  }
}

}  // namespace

ImageSummary summarize(const Image& image) {
  ImageSummary s;
  s.format = image.meta.format;
  const int dims = image.geometry.spatial_dims;
  const auto ijk = image.size_ijk();
  std::ostringstream size;
  for (int i = 0; i < dims; ++i) size << (i ? "x" : "") << ijk[i];
  s.size = size.str();
  s.spacing = fmt3(image.geometry.spacing_mm, dims, 3);
  s.dtype = image.data.defined() ? dtype_name(image.data) : "none";
  s.modality = image.meta.modality;
  s.channels = image.channels();
  if (image.data.defined() && image.data.numel() > 0) {
    // min/max in the stored type (a double copy of a CT volume would cost 4x its memory)
    const at::Tensor t = image.data.scalar_type() == at::kBool ? image.data.to(at::kByte) : image.data;
    const auto mm = at::aminmax(t);
    s.min_value = std::get<0>(mm).to(at::kDouble).item<double>();
    s.max_value = std::get<1>(mm).to(at::kDouble).item<double>();
  }
  return s;
}

nlohmann::json to_json(const Image& image) {
  const ImageSummary s = summarize(image);
  const auto& g = image.geometry;
  nlohmann::json j;
  j["format"] = s.format;
  j["spatial_dims"] = g.spatial_dims;
  const auto ijk = image.size_ijk();
  j["size_xyz"] = {ijk[0], ijk[1], ijk[2]};
  j["channels"] = s.channels;
  j["spacing_mm"] = g.spacing_mm;
  j["origin_lps"] = g.origin_lps;
  j["direction_columns"] = {g.direction_column(0), g.direction_column(1), g.direction_column(2)};
  j["orientation"] = g.orientation_code();
  j["dtype"] = s.dtype;
  j["intensity_range"] = {s.min_value, s.max_value};
  const auto& m = image.meta;
  j["modality"] = m.modality;
  j["transfer_syntax_uid"] = m.transfer_syntax_uid;
  j["photometric_interpretation"] = m.photometric_interpretation;
  j["patient_id"] = m.patient_id;
  j["study_instance_uid"] = m.study_instance_uid;
  j["series_instance_uid"] = m.series_instance_uid;
  j["manufacturer"] = m.manufacturer;
  j["body_part"] = m.body_part;
  j["sex"] = m.sex;
  j["age"] = m.age;
  j["acquisition_date"] = m.acquisition_date;
  if (!m.dicom_attributes.empty()) j["dicom_attributes"] = m.dicom_attributes;
  if (!m.notes.empty()) j["notes"] = m.notes;
  return j;
}

std::string to_text(const Image& image) {
  const ImageSummary s = summarize(image);
  const auto& g = image.geometry;
  const auto& m = image.meta;
  std::ostringstream o;
  auto line = [&](const char* key, const std::string& value) {
    if (!value.empty()) o << "  " << key << std::string(18 - std::string(key).size(), ' ') << value << "\n";
  };
  line("format", s.format);
  line("size (x,y,z)", s.size + (s.channels > 1 ? "  (" + std::to_string(s.channels) + " channels)" : ""));
  line("spacing (mm)", s.spacing);
  line("origin (LPS mm)", fmt3(g.origin_lps, 3, 3));
  std::string dir;
  for (int c = 0; c < 3; ++c) dir += (c ? "  " : "") + fmt3(g.direction_column(c), 3, 5);
  line("direction (cols)", dir + "  [" + g.orientation_code() + "]");
  line("data type", s.dtype);
  std::ostringstream range;
  range << s.min_value << " .. " << s.max_value;
  line("intensity range", range.str());
  line("modality", m.modality);
  line("transfer syntax", m.transfer_syntax_uid);
  line("photometric", m.photometric_interpretation);
  line("manufacturer", m.manufacturer);
  line("series UID", m.series_instance_uid);
  for (const auto& n : m.notes) line("note", n);
  return o.str();
}

}  // namespace lucent::app
