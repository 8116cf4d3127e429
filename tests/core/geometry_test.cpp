#include "lucent/core/geometry.h"

#include <gtest/gtest.h>

namespace lucent {
namespace {

Geometry oblique() {
  Geometry g;
  g.origin_lps = {-120.5, 30.25, 7.0};
  g.spacing_mm = {0.7, 0.8, 2.5};
  // Rotation of 30 degrees about z, then the identity slice axis.
  const double c = 0.8660254037844387, s = 0.5;
  g.set_direction_column(0, {c, s, 0});
  g.set_direction_column(1, {-s, c, 0});
  g.set_direction_column(2, {0, 0, 1});
  return g;
}

TEST(Geometry, IndexToPhysicalFollowsDicomFormula) {
  Geometry g = oblique();
  const Vec3 p = g.index_to_lps({2, 3, 4});
  // origin + col0 * 0.7 * 2 + col1 * 0.8 * 3 + col2 * 2.5 * 4
  EXPECT_NEAR(p[0], -120.5 + 0.8660254037844387 * 1.4 - 0.5 * 2.4, 1e-12);
  EXPECT_NEAR(p[1], 30.25 + 0.5 * 1.4 + 0.8660254037844387 * 2.4, 1e-12);
  EXPECT_NEAR(p[2], 7.0 + 10.0, 1e-12);
}

TEST(Geometry, PhysicalToIndexInvertsIndexToPhysical) {
  Geometry g = oblique();
  for (const Vec3 ijk : {Vec3{0, 0, 0}, Vec3{10.5, -3, 2}, Vec3{511, 511, 299}}) {
    const Vec3 back = g.lps_to_index(g.index_to_lps(ijk));
    for (int i = 0; i < 3; ++i) EXPECT_NEAR(back[i], ijk[i], 1e-9);
  }
}

TEST(Geometry, OrientationCodeNamesClosestAxes) {
  Geometry g;
  EXPECT_EQ(g.orientation_code(), "LPS");
  g.set_direction_column(0, {-1, 0, 0});
  g.set_direction_column(1, {0, -1, 0});
  EXPECT_EQ(g.orientation_code(), "RAS");
  EXPECT_TRUE(g.is_orthonormal());
  g.set_direction_column(2, {0, 0.5, 0.5});
  EXPECT_FALSE(g.is_orthonormal());
}

}  // namespace
}  // namespace lucent
