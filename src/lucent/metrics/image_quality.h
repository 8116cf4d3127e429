// Image-quality metrics of an enhanced / reconstructed image against a reference: peak
// signal-to-noise ratio and structural similarity, in 2-D and 3-D.
//
//   auto p = psnr(denoised, reference, {.data_range = 4095});     // dB
//   auto s = ssim(denoised, reference, {.data_range = 4095});     // mean SSIM, 1 = identical
//
// Definitions (docs/metrics.md, "Segmentation and image-quality metrics"), equal to
// scikit-image 0.19's peak_signal_noise_ratio and structural_similarity(gaussian_weights=True,
// sigma=1.5, use_sample_covariance=False, data_range=R):
//  - PSNR = 10 log10(R² / MSE), MSE over all voxels and channels.
//  - SSIM (Wang et al. 2004): local means, variances and covariance under a Gaussian window
//    (σ = 1.5, truncated at 3.5 σ: 11 taps; SciPy's "reflect" border, i.e. d c b a | a b c d),
//    population (biased) moments, C1 = (K1 R)², C2 = (K2 R)², K1 = 0.01, K2 = 0.03;
//    SSIM map = (2 μx μy + C1)(2 σxy + C2) / ((μx² + μy² + C1)(σx² + σy² + C2)), averaged over
//    the voxels at least 5 from every border (every spatial axis, so 3-D windows are 11³).
//    Several channels: the mean of the per-channel values. Voxel spacing is not used.
//  - R (data range): given, else max − min of the reference (scikit-image instead derives it
//    from the dtype; give R explicitly to compare with it, e.g. 255 for 8-bit, or the window).
// Undefined (MetricValue with a reason): PSNR of identical images (infinite); either metric
// when R is not given and the reference is constant.
// Errors: kInvalidArgument for different shapes, a spatial size below the 11-voxel window
// (SSIM), R <= 0, or non-finite voxel values. Memory: SSIM keeps about 7 double copies of one
// channel. Pure functions; thread-safe.
#pragma once

#include <optional>
#include <span>

#include "lucent/core/error.h"
#include "lucent/core/image.h"
#include "lucent/metrics/metric_value.h"
#include "lucent/metrics/segmentation.h"

namespace lucent::metrics {

struct PsnrOptions {
  std::optional<double> data_range;  // R; default max − min of the reference
};

struct SsimOptions {
  std::optional<double> data_range;  // R; default max − min of the reference
  double sigma = 1.5;                // Gaussian window σ, in voxels
  double truncate = 3.5;             // window radius = int(truncate σ + 0.5) voxels
  double k1 = 0.01;
  double k2 = 0.03;
};

// Images: same channel count and spatial size (geometry is not compared).
[[nodiscard]] Result<MetricValue> psnr(const Image& pred, const Image& truth, const PsnrOptions& options = {});
[[nodiscard]] Result<MetricValue> ssim(const Image& pred, const Image& truth, const SsimOptions& options = {});

// One channel on a grid (spacing unused), values in ZYX order, X fastest.
[[nodiscard]] Result<MetricValue> psnr(std::span<const double> pred, std::span<const double> truth,
                                       const PsnrOptions& options = {});
[[nodiscard]] Result<MetricValue> ssim(std::span<const double> pred, std::span<const double> truth,
                                       const VoxelGrid& grid, const SsimOptions& options = {});

}  // namespace lucent::metrics
