#include "train/flat_adamw.h"

#include <ATen/Parallel.h>

#include <cmath>

namespace rslicer::train {

void fused_adamw(float* param, const float* grad, float* exp_avg, float* exp_avg_sq, std::int64_t n,
                 const AdamWHyper& h, std::int64_t step, float grad_scale) {
  // Scalars in the order torch computes them, so results agree with torch::optim::AdamW to float rounding.
  const double bias1 = 1.0 - std::pow(h.beta1, static_cast<double>(step));
  const double bias2 = 1.0 - std::pow(h.beta2, static_cast<double>(step));
  const float decay = static_cast<float>(1.0 - h.lr * h.weight_decay);
  const float b1 = static_cast<float>(h.beta1), one_minus_b1 = static_cast<float>(1.0 - h.beta1);
  const float b2 = static_cast<float>(h.beta2), one_minus_b2 = static_cast<float>(1.0 - h.beta2);
  const float step_size = static_cast<float>(h.lr / bias1);
  const float bias2_sqrt = static_cast<float>(std::sqrt(bias2));
  const float eps = static_cast<float>(h.eps);
  // 32K elements a task: large enough that the thread hand-off is noise, small enough to split a layer.
  at::parallel_for(0, n, 1 << 15, [&](std::int64_t begin, std::int64_t end) {
    for (std::int64_t i = begin; i < end; ++i) {
      const float g = grad[i] * grad_scale;
      float p = param[i] * decay;
      const float m = b1 * exp_avg[i] + one_minus_b1 * g;
      const float v = b2 * exp_avg_sq[i] + one_minus_b2 * g * g;
      p -= step_size * (m / (std::sqrt(v) / bias2_sqrt + eps));
      exp_avg[i] = m;
      exp_avg_sq[i] = v;
      param[i] = p;
    }
  });
}

}  // namespace rslicer::train
