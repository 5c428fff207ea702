// Mixed precision as torch.autocast: inside an AutocastGuard, matrix products and attention on `device` run in
// `dtype` (bf16 on GPU) while reductions, norms and softmax stay in fp32 (our RMSNorm and softmax ask for fp32
// themselves). Parameters and their gradients stay fp32. The guard restores the previous state (nesting allowed)
// and clears the cast cache on leaving the outermost scope, as torch.autocast's __exit__ does.
#pragma once

#include <torch/torch.h>

#include <string>

namespace rslicer::model {

enum class Precision { fp32, bf16 };
// "fp32" | "bf16" (config value `model.precision`); throws ConfigError otherwise.
Precision parse_precision(const std::string& value);

class AutocastGuard {
 public:
  // fp32: does nothing. bf16: autocast to bfloat16 on device.type() (CUDA, or CPU).
  AutocastGuard(torch::Device device, Precision precision);
  ~AutocastGuard();
  AutocastGuard(const AutocastGuard&) = delete;
  AutocastGuard& operator=(const AutocastGuard&) = delete;

 private:
  bool active_ = false;
  torch::DeviceType device_type_ = torch::kCPU;
  bool was_enabled_ = false;
  torch::ScalarType previous_dtype_ = torch::kFloat32;
};

// Whether this LibTorch has the fused scaled_dot_product_attention (>= 2.0; Debian's 1.13 has not).
bool fused_attention_available();

}  // namespace rslicer::model
