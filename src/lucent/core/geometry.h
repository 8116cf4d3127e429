// Geometry: where the voxels of an image lie in the patient, in DICOM patient space (LPS, mm).
//
// Index axes follow ITK/DICOM: i is the fastest (column, "x"), j the row ("y"), k the slice
// ("z"). The tensor of an Image is stored channels-first with the *reverse* order,
// (C, k, j, i) = (C, Z, Y, X) for 3-D and (C, j, i) = (C, Y, X) for 2-D. A 2-D image still has
// a 3-D origin and direction (a DICOM slice lies somewhere in the patient); its third direction
// column is the slice normal.
//
//   physical_lps = origin_lps + D * diag(spacing_mm) * (i, j, k)
//
// where column c of D (`direction(r, c)`) is the unit direction of index axis c in LPS.
// NIfTI's RAS is converted at the NIfTI reader/writer, nowhere else.
// A plain value type; thread-compatible.
#pragma once

#include <array>
#include <string>

namespace lucent {

using Vec3 = std::array<double, 3>;

struct Geometry {
  int spatial_dims = 3;                   // 2 or 3
  Vec3 origin_lps{0.0, 0.0, 0.0};         // physical position of index (0,0,0), mm
  Vec3 spacing_mm{1.0, 1.0, 1.0};         // along index axes i, j, k
  std::array<double, 9> direction{1, 0, 0, 0, 1, 0, 0, 0, 1};  // row-major 3x3, columns = axes

  [[nodiscard]] double direction_at(int row, int col) const { return direction[row * 3 + col]; }
  [[nodiscard]] Vec3 direction_column(int col) const {
    return {direction[col], direction[3 + col], direction[6 + col]};
  }
  void set_direction_column(int col, const Vec3& v) {
    direction[col] = v[0];
    direction[3 + col] = v[1];
    direction[6 + col] = v[2];
  }

  // Continuous index (i, j, k) → physical point, LPS mm.
  [[nodiscard]] Vec3 index_to_lps(const Vec3& ijk) const;
  // Physical point → continuous index. Exact inverse of index_to_lps for any invertible D.
  [[nodiscard]] Vec3 lps_to_index(const Vec3& lps) const;
  // 4x4 voxel-to-world matrix in LPS (row-major).
  [[nodiscard]] std::array<double, 16> affine_lps() const;
  // Columns of D are unit length and mutually orthogonal within `tol`.
  [[nodiscard]] bool is_orthonormal(double tol = 1e-4) const;
  // All fields equal within `tol_mm` (origin, spacing) and `tol` (direction).
  [[nodiscard]] bool is_close(const Geometry& other, double tol_mm = 1e-4, double tol = 1e-5) const;
  // Three-letter orientation code of the index axes, e.g. "LPS", "RAS" (closest axis each).
  [[nodiscard]] std::string orientation_code() const;
};

// Vector helpers used across modules.
[[nodiscard]] inline double dot(const Vec3& a, const Vec3& b) { return a[0] * b[0] + a[1] * b[1] + a[2] * b[2]; }
[[nodiscard]] inline Vec3 cross(const Vec3& a, const Vec3& b) {
  return {a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0]};
}
[[nodiscard]] double norm(const Vec3& a);
[[nodiscard]] Vec3 normalized(const Vec3& a);

}  // namespace lucent
