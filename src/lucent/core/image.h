// Image: the one value that flows through Lucent — voxels, where they are, and what they are.
//
//   lucent::Image img = *lucent::io::read_image("ct/");    // tensor (1, Z, Y, X) + geometry
//   auto p = img.geometry.index_to_lps({0, 0, 0});          // first voxel, LPS mm
//
// `data` is a torch tensor, channels first: (C, Z, Y, X) for 3-D, (C, Y, X) for 2-D (see
// geometry.h for axis conventions). Values are physical where the format defines it (CT in HU
// after Rescale Slope/Intercept; MONOCHROME1 already inverted; colour as RGB channels).
// A plain struct: copying it shares the tensor storage (torch semantics); use `clone()` for a
// deep copy. Thread-compatible.
#pragma once

#include <ATen/core/Tensor.h>

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "lucent/core/geometry.h"

namespace lucent {

// The attributes a pipeline needs, taken from DICOM or a manifest. Empty string = unknown.
struct Metadata {
  std::string format;              // "DICOM", "NIfTI", "NRRD", "PNG", "MedMNIST", ...
  std::string patient_id;
  std::string study_instance_uid;
  std::string series_instance_uid;
  std::string sop_class_uid;
  std::string modality;
  std::string manufacturer;
  std::string body_part;
  std::string sex;                 // "M", "F", "O" as in DICOM (0010,0040)
  std::string age;                 // DICOM AS, e.g. "045Y"
  std::string acquisition_date;    // YYYYMMDD
  std::string transfer_syntax_uid;
  std::string photometric_interpretation;  // of the stored data, before Lucent's conversion
  // Raw DICOM attributes as "(gggg,eeee)" → value string, filled only on request
  // (io::ReadOptions::keep_dicom_attributes).
  std::map<std::string, std::string> dicom_attributes;
  // What a reader had to do to produce this image (e.g. series repairs under the repair
  // policy): never silent, each also logged as a warning.
  std::vector<std::string> notes;
};

struct Image {
  at::Tensor data;
  Geometry geometry;
  Metadata meta;

  [[nodiscard]] int spatial_dims() const { return geometry.spatial_dims; }
  [[nodiscard]] int64_t channels() const { return data.defined() ? data.size(0) : 0; }
  // Spatial size in index order (i, j, k) = (X, Y, Z); Z is 1 for 2-D images.
  [[nodiscard]] std::array<int64_t, 3> size_ijk() const;
  [[nodiscard]] Image clone() const;
};

}  // namespace lucent
