#include "lucent/core/geometry.h"

#include <cmath>

namespace lucent {

double norm(const Vec3& a) { return std::sqrt(dot(a, a)); }

Vec3 normalized(const Vec3& a) {
  const double n = norm(a);
  if (n == 0.0) return a;
  return {a[0] / n, a[1] / n, a[2] / n};
}

Vec3 Geometry::index_to_lps(const Vec3& ijk) const {
  Vec3 p = origin_lps;
  for (int r = 0; r < 3; ++r)
    for (int c = 0; c < 3; ++c) p[r] += direction_at(r, c) * spacing_mm[c] * ijk[c];
  return p;
}

Vec3 Geometry::lps_to_index(const Vec3& lps) const {
  // Solve M x = (lps - origin) with M = D * diag(spacing) by Cramer's rule (3x3).
  double m[3][3];
  for (int r = 0; r < 3; ++r)
    for (int c = 0; c < 3; ++c) m[r][c] = direction_at(r, c) * spacing_mm[c];
  const Vec3 b{lps[0] - origin_lps[0], lps[1] - origin_lps[1], lps[2] - origin_lps[2]};
  auto det3 = [](const double a[3][3]) {
    return a[0][0] * (a[1][1] * a[2][2] - a[1][2] * a[2][1]) - a[0][1] * (a[1][0] * a[2][2] - a[1][2] * a[2][0]) +
           a[0][2] * (a[1][0] * a[2][1] - a[1][1] * a[2][0]);
  };
  const double det = det3(m);
  Vec3 x{0, 0, 0};
  if (det == 0.0) return x;
  for (int c = 0; c < 3; ++c) {
    double mc[3][3];
    for (int r = 0; r < 3; ++r)
      for (int k = 0; k < 3; ++k) mc[r][k] = (k == c) ? b[r] : m[r][k];
    x[c] = det3(mc) / det;
  }
  return x;
}

std::array<double, 16> Geometry::affine_lps() const {
  std::array<double, 16> a{};
  for (int r = 0; r < 3; ++r) {
    for (int c = 0; c < 3; ++c) a[r * 4 + c] = direction_at(r, c) * spacing_mm[c];
    a[r * 4 + 3] = origin_lps[r];
  }
  a[15] = 1.0;
  return a;
}

bool Geometry::is_orthonormal(double tol) const {
  for (int c = 0; c < 3; ++c) {
    if (std::abs(norm(direction_column(c)) - 1.0) > tol) return false;
    for (int d = c + 1; d < 3; ++d)
      if (std::abs(dot(direction_column(c), direction_column(d))) > tol) return false;
  }
  return true;
}

bool Geometry::is_close(const Geometry& o, double tol_mm, double tol) const {
  if (spatial_dims != o.spatial_dims) return false;
  for (int i = 0; i < 3; ++i) {
    if (std::abs(origin_lps[i] - o.origin_lps[i]) > tol_mm) return false;
    if (std::abs(spacing_mm[i] - o.spacing_mm[i]) > tol_mm) return false;
  }
  for (int i = 0; i < 9; ++i)
    if (std::abs(direction[i] - o.direction[i]) > tol) return false;
  return true;
}

std::string Geometry::orientation_code() const {
  // LPS: +x = L, +y = P, +z = S.
  static constexpr char kPos[3] = {'L', 'P', 'S'};
  static constexpr char kNeg[3] = {'R', 'A', 'I'};
  std::string code;
  for (int c = 0; c < 3; ++c) {
    const Vec3 v = direction_column(c);
    int best = 0;
    for (int r = 1; r < 3; ++r)
      if (std::abs(v[r]) > std::abs(v[best])) best = r;
    code += v[best] >= 0 ? kPos[best] : kNeg[best];
  }
  return code;
}

}  // namespace lucent
