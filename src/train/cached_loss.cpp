#include "train/cached_loss.h"

#include <ATen/CPUGeneratorImpl.h>

#include <mutex>
#include <vector>

namespace rslicer::train {

namespace {

model::TokenTensors rows(const model::TokenTensors& t, std::int64_t begin, std::int64_t count) {
  return {t.ids.narrow(0, begin, count), t.mask.narrow(0, begin, count)};
}

std::int64_t windows_of(const ChunkedInputs& in) { return in.metrics.ids.size(0); }

template <typename Visit>
void for_each_chunk(const ChunkedInputs& in, Visit visit) {
  const std::int64_t n = windows_of(in);
  for (std::int64_t begin = 0; begin < n; begin += in.chunk_windows) {
    const std::int64_t count = std::min(in.chunk_windows, n - begin);
    visit(begin, count, begin + count == n);
  }
}

model::Encoded encode_chunk(model::RuntimeSlicer& model, const ChunkedInputs& in, std::int64_t begin,
                            std::int64_t count) {
  return model->encode(rows(in.metrics, begin, count), rows(in.traces, begin, count), rows(in.logs, begin, count),
                       in.precision, in.device);
}

}  // namespace

CachedEmbeddings encode_without_graphs(model::RuntimeSlicer& model, const ChunkedInputs& in) {
  CachedEmbeddings out;
  {
    at::Generator generator = at::detail::getDefaultCPUGenerator();
    std::lock_guard<std::mutex> lock(generator.mutex());
    out.generator_state = generator.get_state();
  }
  std::vector<torch::Tensor> m, t, l, z;
  {
    torch::NoGradGuard no_graph;
    for_each_chunk(in, [&](std::int64_t begin, std::int64_t count, bool) {
      const model::Encoded e = encode_chunk(model, in, begin, count);
      m.push_back(e.e_m);
      t.push_back(e.e_t);
      l.push_back(e.e_l);
      z.push_back(e.z);
    });
  }
  auto leaf = [](const std::vector<torch::Tensor>& parts) { return torch::cat(parts, 0).requires_grad_(true); };
  out.leaves = {leaf(m), leaf(t), leaf(l), leaf(z)};
  return out;
}

model::Encoded embedding_gradients(const torch::Tensor& loss, const model::Encoded& leaves, const torch::Tensor& extra,
                                   torch::Tensor& extra_grad) {
  std::vector<torch::Tensor> inputs = {leaves.e_m, leaves.e_t, leaves.e_l, leaves.z};
  if (extra.defined()) inputs.push_back(extra);
  // allow_unused: a loss term switched off (lambda 0) leaves an embedding out of the graph; its gradient is zero.
  auto grads = torch::autograd::grad({loss}, inputs, /*grad_outputs=*/{}, /*retain_graph=*/false,
                                     /*create_graph=*/false, /*allow_unused=*/true);
  for (std::size_t i = 0; i < grads.size(); ++i)
    if (!grads[i].defined()) grads[i] = torch::zeros_like(inputs[i]);
  extra_grad = extra.defined() ? grads[4] : torch::Tensor();
  return {grads[0], grads[1], grads[2], grads[3]};
}

void backward_through_chunks(model::RuntimeSlicer& model, const ChunkedInputs& in, const CachedEmbeddings& cached,
                             const model::Encoded& grads, const std::function<void(bool last_chunk)>& before_backward,
                             const torch::Tensor& extra, const torch::Tensor& extra_grad) {
  // The chunks are encoded again in step 1's order and backward draws nothing, so restoring the generator's state
  // of before step 1 makes every chunk draw what it drew there.
  {
    at::Generator generator = at::detail::getDefaultCPUGenerator();
    std::lock_guard<std::mutex> lock(generator.mutex());
    generator.set_state(cached.generator_state);
  }
  for_each_chunk(in, [&](std::int64_t begin, std::int64_t count, bool last) {
    const model::Encoded e = encode_chunk(model, in, begin, count);
    // The surrogate's gradient with respect to each embedding is the cached one: sum(e * g) backpropagates g.
    torch::Tensor surrogate = (e.e_m * grads.e_m.narrow(0, begin, count)).sum() +
                              (e.e_t * grads.e_t.narrow(0, begin, count)).sum() +
                              (e.e_l * grads.e_l.narrow(0, begin, count)).sum() +
                              (e.z * grads.z.narrow(0, begin, count)).sum();
    if (last && extra.defined() && extra_grad.defined()) surrogate = surrogate + (extra * extra_grad).sum();
    before_backward(last);
    surrogate.backward();
  });
}

}  // namespace rslicer::train
