#include "train/flat_adamw.h"

#include <ATen/Parallel.h>

#include <cmath>

namespace rslicer::train {

AdamWStep adamw_step(const AdamWHyper& h, std::int64_t step, float grad_scale) {
  // Scalars in the order torch computes them, so results agree with torch::optim::AdamW to float rounding.
  const double bias1 = 1.0 - std::pow(h.beta1, static_cast<double>(step));
  const double bias2 = 1.0 - std::pow(h.beta2, static_cast<double>(step));
  return {static_cast<float>(1.0 - h.lr * h.weight_decay),
          static_cast<float>(h.beta1),
          static_cast<float>(1.0 - h.beta1),
          static_cast<float>(h.beta2),
          static_cast<float>(1.0 - h.beta2),
          static_cast<float>(h.lr / bias1),
          static_cast<float>(std::sqrt(bias2)),
          static_cast<float>(h.eps),
          grad_scale};
}

void fused_adamw(float* param, const float* grad, float* exp_avg, float* exp_avg_sq, std::int64_t n,
                 const AdamWHyper& h, std::int64_t step, float grad_scale) {
  const AdamWStep s = adamw_step(h, step, grad_scale);
  // 32K elements a task: large enough that the thread hand-off is noise, small enough to split a layer.
  at::parallel_for(0, n, 1 << 15, [&](std::int64_t begin, std::int64_t end) {
    adamw_kernel(s, param + begin, grad + begin, exp_avg + begin, exp_avg_sq + begin, end - begin);
  });
}

}  // namespace rslicer::train
