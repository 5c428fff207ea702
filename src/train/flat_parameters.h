// The trainable parameters laid out in one flat fp32 buffer (as FSDP's FlatParameter and DeepSpeed's ZeRO do):
// each parameter's data becomes a view into it, so an optimizer updates one contiguous range, a rank's ZeRO-1
// slice is a plain [begin, end) of it, an all-gather of the slices restores every parameter at once, and a
// checkpoint is the same buffer cut by the partition. The buffer is padded to a multiple of the world size so the
// all-gather has equal parts; padding is never saved.
#pragma once

#include <torch/torch.h>

#include <string>
#include <vector>

namespace rslicer::train {

struct FlatEntry {
  std::string name;
  std::vector<std::int64_t> shape;
  std::int64_t offset = 0, numel = 0;
};

class FlatParameters {
 public:
  // `names` and `parameters` in the same order; `world` sets the partition; the buffers live on `device` (the
  // parameters' device).
  FlatParameters(std::vector<std::string> names, std::vector<torch::Tensor> parameters, int world,
                 torch::Device device = torch::kCPU);

  std::int64_t numel() const { return numel_; }                   // without padding
  const std::vector<FlatEntry>& entries() const { return entries_; }
  torch::Tensor& params() { return params_; }                      // [padded]
  torch::Tensor& grads() { return grads_; }                        // [padded]
  // Rank r owns [partition[r], partition[r+1]): equal chunks of ceil(numel / world), the last one shorter.
  const std::vector<std::int64_t>& partition() const { return partition_; }
  std::int64_t chunk() const { return chunk_; }

  // Copies every parameter's .grad into grads() (zeros where a parameter has none). The entry `skip` (a parameter
  // whose gradient is handled elsewhere, the sparse embedding) is left untouched.
  void collect_grads(std::int64_t skip = -1);
  // The index of the entry called `name`, or -1.
  std::int64_t find(const std::string& name) const;

 private:
  std::vector<FlatEntry> entries_;
  std::vector<torch::Tensor> parameters_;
  torch::Tensor params_, grads_;
  std::int64_t numel_ = 0, chunk_ = 0;
  std::vector<std::int64_t> partition_;
};

// [world + 1] offsets of equal chunks of ceil(numel / world).
std::vector<std::int64_t> even_partition(std::int64_t numel, int world);

}  // namespace rslicer::train
