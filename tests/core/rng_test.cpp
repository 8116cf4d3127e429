#include "lucent/core/rng.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>

namespace lucent {
namespace {

TEST(Rng, SameSeedSameSequence) {
  Rng a(7), b(7);
  for (int i = 0; i < 5; ++i) EXPECT_EQ(a.uniform(0, 1), b.uniform(0, 1));
  EXPECT_TRUE(at::equal(at::randn({8}, a.generator()), at::randn({8}, b.generator())));
}

TEST(Rng, ForkedStreamsDifferAndAreReproducible) {
  Rng root(7);
  Rng w1 = root.fork(1), w2 = root.fork(2), w1b = root.fork(1);
  const double x1 = w1.uniform(0, 1);
  EXPECT_NE(x1, w2.uniform(0, 1));
  EXPECT_EQ(x1, w1b.uniform(0, 1));
}

}  // namespace
}  // namespace lucent
