// AdamW over flat fp32 buffers: one fused pass per element (no temporaries), split over intra-op threads.
// Same rule as torch.optim.AdamW (decoupled weight decay, bias-corrected moments):
//   p *= 1 - lr*wd;  m = b1*m + (1-b1)*g;  v = b2*v + (1-b2)*g^2;
//   p -= (lr / (1 - b1^t)) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)
// `grad_scale` multiplies every gradient first (gradient clipping folded in). The ZeRO-1 update calls it on the
// rank's slice; the reference is torch::optim::AdamW (tests/train/test_optimizer.cpp).
#pragma once

#include <cstdint>

namespace rslicer::train {

struct AdamWHyper {
  double lr = 1e-3, beta1 = 0.9, beta2 = 0.999, eps = 1e-8, weight_decay = 0.01;
};

// The scalars of one update, computed once per step (the sparse path runs the kernel once per row).
struct AdamWStep {
  float decay, b1, one_minus_b1, b2, one_minus_b2, step_size, bias2_sqrt, eps, grad_scale;
};
// `step` counts from 1 (this update included).
AdamWStep adamw_step(const AdamWHyper& h, std::int64_t step, float grad_scale = 1.0f);

// The update of n elements on the calling thread, vectorized for the CPU it runs on (flat_adamw_kernel.cpp); the
// four buffers must not overlap. Every instruction set gives the same bits (no fused multiply-adds).
void adamw_kernel(const AdamWStep& s, float* param, const float* grad, float* exp_avg, float* exp_avg_sq,
                  std::int64_t n);

// Updates n elements in place, over the intra-op threads.
void fused_adamw(float* param, const float* grad, float* exp_avg, float* exp_avg_sq, std::int64_t n,
                 const AdamWHyper& h, std::int64_t step, float grad_scale = 1.0f);

}  // namespace rslicer::train
