// The cached loss (train.cached_loss; GradCache, Gao et al. 2021, as sentence-transformers' CachedMultipleNegatives
// RankingLoss): global batches larger than the activations that fit. The contrastive losses need every embedding of
// the global batch at once, but the encoder's graph is only needed one chunk at a time:
//   1. encode the micro-batch chunk by chunk without graphs (no activations kept);
//   2. compute the losses over all embeddings (still gathered over ranks with gradient) and their gradients with
//      respect to the embeddings only (a small [B, d] each);
//   3. encode each chunk again, with its graph, and backpropagate the cached embedding gradients through it.
// The parameters' gradients equal the direct loss's (the chain rule split at the embeddings), for about one more
// forward pass. The generator state is restored before each re-encoding, so a model with dropout draws the same
// masks in steps 1 and 3.
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <functional>

#include "model/autocast.h"
#include "model/runtime_slicer.h"

namespace rslicer::train {

struct ChunkedInputs {
  model::TokenTensors metrics, traces, logs;
  std::int64_t chunk_windows = 0;  // windows per chunk (> 0)
  model::Precision precision = model::Precision::fp32;
  torch::DeviceType device = torch::kCPU;  // where autocast applies (the trainer's device)
};

struct CachedEmbeddings {
  model::Encoded leaves;            // every window's embeddings, leaves that require grad
  torch::Tensor generator_state;    // the CPU generator's state before step 1, restored before step 3
};

// Step 1: the embeddings of every window, encoded chunk by chunk without graphs (the losses are computed on the
// leaves; their .grad is not used: see embedding_gradients).
CachedEmbeddings encode_without_graphs(model::RuntimeSlicer& model, const ChunkedInputs& in);

// Step 2: d loss / d (e_m, e_t, e_l, z) for leaves from encode_without_graphs; `extra` (e.g. a learnable
// temperature) gets its gradient as well, returned in `extra_grad` (undefined when `extra` is undefined).
model::Encoded embedding_gradients(const torch::Tensor& loss, const model::Encoded& leaves, const torch::Tensor& extra,
                                   torch::Tensor& extra_grad);

// Step 3: each chunk encoded again with its graph and backpropagated from its rows of `grads`. Before each chunk's
// backward, before_backward(last_chunk) is called (the gradient reducer launches its reductions on the last one);
// `extra` * `extra_grad` joins the last chunk's backward, so that `extra` gets its gradient in the same pass.
void backward_through_chunks(model::RuntimeSlicer& model, const ChunkedInputs& in, const CachedEmbeddings& cached,
                             const model::Encoded& grads,
                             const std::function<void(bool last_chunk)>& before_backward,
                             const torch::Tensor& extra = {}, const torch::Tensor& extra_grad = {});

}  // namespace rslicer::train
