// One training step of the Qwen3 backbone on a GPU (issue 6/10 GPU figures): forward of B sequences of S tokens,
// last-token pooling + L2 norm, an InfoNCE loss between the two halves of the batch, backward, AdamW. Reports step
// time, tokens/s, peak GPU memory and MFU = model FLOPs / time / peak. Model FLOPs per token (fwd+bwd):
// 6 * (non-embedding parameters) + 12 * layers * heads * head_dim * S (attention scores and values, unmasked), as
// in the PaLM paper's appendix; the last layer runs at every position here (last_layer_pooled_only off) so the
// count is the work done. bench/reference/hf_train_step.py runs the same step with HF transformers.
//
//   gpu_step_bench CONFIG.json BATCH SEQ PRECISION(fp32|bf16) STEPS PEAK_TFLOPS [fused|explicit]
#include <c10/cuda/CUDACachingAllocator.h>
#include <torch/torch.h>

#include <chrono>
#include <cstdio>
#include <string>

#include "model/autocast.h"
#include "model/qwen3.h"

using namespace rslicer::model;

int main(int argc, char** argv) {
  if (argc < 7) {
    std::fprintf(stderr, "usage: gpu_step_bench CONFIG.json BATCH SEQ fp32|bf16 STEPS PEAK_TFLOPS [fused|explicit]\n");
    return 2;
  }
  const Qwen3Config c = Qwen3Config::from_json_file(argv[1]);
  const std::int64_t B = std::stoll(argv[2]), S = std::stoll(argv[3]), steps = std::stoll(argv[5]);
  const Precision precision = parse_precision(argv[4]);
  const double peak = std::stod(argv[6]) * 1e12;
  const bool fused = argc < 8 || std::string(argv[7]) != "explicit";
  if (!torch::cuda::is_available()) {
    std::fprintf(stderr, "error: no CUDA device, gpu_step_bench needs one\n");
    return 1;
  }
  const torch::Device dev(torch::kCUDA, 0);
  torch::manual_seed(0);
  Qwen3Model model(c);
  model->reset_parameters(1);
  model->set_fused_attention(fused);
  model->last_layer_pooled_only = false;
  model->to(dev);
  torch::optim::AdamW opt(model->parameters(), torch::optim::AdamWOptions(1e-4).weight_decay(0.01));
  auto ids = torch::randint(0, c.vocab_size, {B, S}, torch::TensorOptions().dtype(torch::kInt64).device(dev));
  auto mask = torch::ones({B, S}, torch::TensorOptions().dtype(torch::kInt64).device(dev));
  auto labels = torch::arange(B / 2, torch::TensorOptions().dtype(torch::kInt64).device(dev));

  auto step = [&] {
    opt.zero_grad();
    torch::Tensor z;
    {
      AutocastGuard autocast(dev, precision);
      z = model->embed(ids, mask);
    }
    z = z.to(torch::kFloat32);
    auto logits = torch::matmul(z.slice(0, 0, B / 2), z.slice(0, B / 2, B).t()) / 0.05;
    auto loss = torch::nn::functional::cross_entropy(logits, labels);
    loss.backward();
    opt.step();
    return loss;
  };
  for (int i = 0; i < 3; ++i) step();  // warm-up: allocator, cuBLAS handles, kernel selection
  torch::cuda::synchronize();
  c10::cuda::CUDACachingAllocator::resetPeakStats(0);
  const auto t0 = std::chrono::steady_clock::now();
  float last = 0;
  for (std::int64_t i = 0; i < steps; ++i) last = step().item<float>();
  torch::cuda::synchronize();
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() / static_cast<double>(steps);
  // Where a step's time goes (synchronising between phases, so these add up to a little more than step_s).
  double t_forward = 0, t_backward = 0, t_optimizer = 0;
  for (int i = 0; i < 3; ++i) {
    auto mark = [] { torch::cuda::synchronize(); return std::chrono::steady_clock::now(); };
    auto a = mark();
    opt.zero_grad();
    torch::Tensor z;
    {
      AutocastGuard autocast(dev, precision);
      z = model->embed(ids, mask);
    }
    z = z.to(torch::kFloat32);
    auto loss = torch::nn::functional::cross_entropy(torch::matmul(z.slice(0, 0, B / 2), z.slice(0, B / 2, B).t()) / 0.05, labels);
    auto b = mark();
    loss.backward();
    auto c2 = mark();
    opt.step();
    auto d = mark();
    t_forward += std::chrono::duration<double>(b - a).count() / 3;
    t_backward += std::chrono::duration<double>(c2 - b).count() / 3;
    t_optimizer += std::chrono::duration<double>(d - c2).count() / 3;
  }
  const auto stats = c10::cuda::CUDACachingAllocator::getDeviceStats(0);
  const double peak_gib = static_cast<double>(stats.allocated_bytes[0].peak) / (1 << 30);

  const double params = static_cast<double>(c.parameter_count());
  const double non_embedding = params - static_cast<double>(c.vocab_size * c.hidden_size);
  const double tokens = static_cast<double>(B * S);
  const double flops = tokens * (6.0 * non_embedding + 12.0 * static_cast<double>(c.num_hidden_layers * c.num_attention_heads * c.head_dim * S));
  std::printf("{\"impl\": \"rslicer\", \"params\": %.0f, \"batch\": %lld, \"seq\": %lld, \"precision\": \"%s\", "
              "\"attention\": \"%s\", \"step_s\": %.5f, \"tokens_per_s\": %.0f, \"tflops\": %.1f, \"mfu\": %.4f, "
              "\"peak_gib\": %.2f, \"loss\": %.4f, \"forward_s\": %.4f, \"backward_s\": %.4f, \"optimizer_s\": %.4f}\n",
              params, static_cast<long long>(B), static_cast<long long>(S), argv[4], fused ? "fused" : "explicit", seconds,
              tokens / seconds, flops / seconds / 1e12, flops / seconds / peak, peak_gib, last, t_forward, t_backward,
              t_optimizer);
  return 0;
}
