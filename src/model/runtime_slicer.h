// The RuntimeSlicer module (docs/design.md §4, eqs. 2-3): one shared Qwen3 backbone encodes the three modality texts in
// one batched call; the fusion g_phi (MLP, optional softmax gates over the modalities) gives the state embedding z.
// Parameter names: "model.*" (the backbone, HF names) and "fusion.*".
#pragma once

#include <torch/torch.h>

#include "model/autocast.h"
#include "model/qwen3.h"

namespace rslicer::model {

struct FusionConfig {
  std::int64_t hidden_dim = 256;
  std::int64_t out_dim = 128;
  bool gating = true;
};

struct FusionImpl : torch::nn::Module {
  FusionImpl(std::int64_t embed_dim, const FusionConfig& c);
  // e_* [B, d] -> z [B, out_dim], L2-normalised.
  torch::Tensor forward(const torch::Tensor& e_m, const torch::Tensor& e_t, const torch::Tensor& e_l);
  torch::Tensor gates(const torch::Tensor& e_m, const torch::Tensor& e_t, const torch::Tensor& e_l);  // [B, 3]
  torch::nn::Linear gate{nullptr}, fc1{nullptr}, fc2{nullptr};
  bool gating;
};
TORCH_MODULE(Fusion);

// Token ids and masks of one modality, [B, S] int64, left padded.
struct TokenTensors {
  torch::Tensor ids, mask;
};

struct Encoded {
  torch::Tensor e_m, e_t, e_l, z;  // [B, d] each (z: [B, out_dim])
};

struct RuntimeSlicerImpl : torch::nn::Module {
  RuntimeSlicerImpl(const Qwen3Config& backbone, const FusionConfig& fusion, std::int64_t mrl_dim = 0);
  Encoded encode(const TokenTensors& metrics, const TokenTensors& traces, const TokenTensors& logs);
  // The same under autocast at `precision` on `device` (model.precision), the outputs back in fp32 (what the losses
  // and the embedding stores take); fp32 is the plain encode.
  Encoded encode(const TokenTensors& metrics, const TokenTensors& traces, const TokenTensors& logs,
                 Precision precision, torch::DeviceType device);
  void reset_parameters(std::uint64_t seed);

  Qwen3Model model{nullptr};
  Fusion fusion{nullptr};
  std::int64_t mrl_dim;
};
TORCH_MODULE(RuntimeSlicer);

// Left-pads a [B, S] batch to `length` (ids with `pad_id`, mask with 0).
TokenTensors left_pad(const TokenTensors& t, std::int64_t length, std::int64_t pad_id);

}  // namespace rslicer::model
