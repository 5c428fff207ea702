#include "model/autocast.h"

#include <ATen/autocast_mode.h>
#include <torch/version.h>

#include "core/error.h"

namespace rslicer::model {

// LibTorch 2.4 replaced the per-device functions (set_enabled = CUDA, set_cpu_enabled = CPU) by ones taking the
// device type; both are wrapped here so that the CPU build (Debian's 1.13) and the GPU build (2.x) share the guard.
namespace {
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 4)
bool autocast_enabled(torch::DeviceType t) { return at::autocast::is_autocast_enabled(t); }
void set_autocast_enabled(torch::DeviceType t, bool on) { at::autocast::set_autocast_enabled(t, on); }
torch::ScalarType autocast_dtype(torch::DeviceType t) { return at::autocast::get_autocast_dtype(t); }
void set_autocast_dtype(torch::DeviceType t, torch::ScalarType d) { at::autocast::set_autocast_dtype(t, d); }
#else
bool autocast_enabled(torch::DeviceType t) { return t == torch::kCPU ? at::autocast::is_cpu_enabled() : at::autocast::is_enabled(); }
void set_autocast_enabled(torch::DeviceType t, bool on) {
  t == torch::kCPU ? at::autocast::set_cpu_enabled(on) : at::autocast::set_enabled(on);
}
torch::ScalarType autocast_dtype(torch::DeviceType t) {
  return t == torch::kCPU ? at::autocast::get_autocast_cpu_dtype() : at::autocast::get_autocast_gpu_dtype();
}
void set_autocast_dtype(torch::DeviceType t, torch::ScalarType d) {
  t == torch::kCPU ? at::autocast::set_autocast_cpu_dtype(d) : at::autocast::set_autocast_gpu_dtype(d);
}
#endif
}  // namespace

Precision parse_precision(const std::string& value) {
  if (value == "fp32") return Precision::fp32;
  if (value == "bf16") return Precision::bf16;
  throw ConfigError("unknown precision '" + value + "'", "model.precision", "fp32 or bf16");
}

AutocastGuard::AutocastGuard(torch::Device device, Precision precision) {
  if (precision == Precision::fp32) return;
  if (!device.is_cpu() && !device.is_cuda())
    throw Error("autocast on " + device.str() + " is not supported", "model.precision", "a CPU or CUDA device");
  active_ = true;
  device_type_ = device.type();
  was_enabled_ = autocast_enabled(device_type_);
  previous_dtype_ = autocast_dtype(device_type_);
  set_autocast_enabled(device_type_, true);
  set_autocast_dtype(device_type_, torch::kBFloat16);
  at::autocast::increment_nesting();
}

AutocastGuard::~AutocastGuard() {
  if (!active_) return;
  if (at::autocast::decrement_nesting() == 0) at::autocast::clear_cache();
  set_autocast_enabled(device_type_, was_enabled_);
  set_autocast_dtype(device_type_, previous_dtype_);
}

bool fused_attention_available() { return TORCH_VERSION_MAJOR >= 2; }

}  // namespace rslicer::model
