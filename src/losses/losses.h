// The pre-training losses (docs/design.md §1, paper eqs. 4-6) over the global batch. Each rank computes its local rows
// against the gathered (global) columns; global normalisers are all-reduced (no gradient) and rank r's loss is
// scaled so that the mean over ranks equals the single-process loss on the global batch. The ranks may hold
// different numbers of rows (LossInputs::rows_per_rank: the batch split by the ranks' pace); the scaling then
// weighs each rank's mean by its share of the global batch.
//   modal (4):    symmetric InfoNCE for (T,M), (T,L), (M,L); cosine similarity / temperature; labels offset by rank
//   temporal (5): 1/Z sum_{i!=j} omega_ij max(delta - sim(s_i, s_j), 0), omega = overlap / window length
//   anomaly (6):  mean over (normal, abnormal) pairs of max(sim(s_n, s_a) - gamma, 0); 0 without such pairs
//   type:         supervised contrastive (Khosla et al. 2020) over the abnormal rows whose fault type is known: each
//                 such row's positives are the other rows of its type that do not overlap it, its softmax runs over
//                 the other such rows that do not overlap it (normal rows are the anomaly term's: not here); mean
//                 over rows with a positive, 0 without any. Like the anomaly term it reads weak labels (the training
//                 side's only); it gives pre-training the fault-type signal that failure classification needs
//                 (data/fault_pairs.h puts same-type pairs from different fault events in every batch).
//   neighbourhood: supervised contrastive over the rows not labelled abnormal: each row's positives are the other
//                 such rows that begin within `neighbourhood_s` of it and do not overlap it, its softmax runs over
//                 all such rows that do not overlap it (Temporal Neighborhood Coding, Tonekaboni et al. 2021, with
//                 the batch's other clusters as the distant windows). A system's load, mix and pressure persist for
//                 tens of minutes (its runtime state or regime) while its events change window to window; the term
//                 asks z to keep what a window shares with its neighbourhood minutes away, which the temporal term
//                 (overlapping windows only, which share their events) does not. Abnormal rows stay out: a fault's
//                 windows are not their neighbours' state.
#pragma once

#include <torch/torch.h>

#include <vector>

#include "dist/communicator.h"

namespace rslicer::losses {

struct LossOptions {
  double temperature = 0.07;
  double lambda_temp = 0.5;
  double lambda_anom = 0.5;
  double delta = 0.8;
  double gamma = 0.2;
  double lambda_modal = 1.0;  // weight of the modal term (0: ablated)
  // InfoNCE leaves the windows that overlap the anchor out of its softmax: they share most of its events, so as
  // negatives they are near duplicates of the positive (false negatives the loss cannot separate).
  bool mask_overlapping = true;
  double lambda_type = 0.0;  // weight of the fault-type term (0: off)
  double lambda_neighbourhood = 0.0;  // weight of the neighbourhood term (0: off)
  double neighbourhood_s = 600;       // its horizon: rows that begin at most this far apart are positives
};

// Throws ConfigError naming the loss.* key of the first option out of its range: a positive, finite temperature and
// neighbourhood horizon; finite, non-negative weights (a negative weight would maximise its term); delta and gamma,
// cosine similarities, in [-1, 1]. One check for the config reader and for code that builds LossOptions itself.
void check_loss_options(const LossOptions& options);

struct LossInputs {
  torch::Tensor e_m, e_t, e_l, z;  // [B_local, d] (this rank's rows; gradients flow through all of them)
  torch::Tensor begin_ns, end_ns;  // [B_local] int64
  torch::Tensor labels;            // [B_local] int64: -1 unknown, 0 normal, 1 abnormal
  torch::Tensor logit_scale;       // optional learnable log(1/temperature) (scalar); undefined: fixed temperature
  // Every rank's rows in the global batch (the same on every rank); empty: every rank holds B_local rows.
  std::vector<std::int64_t> rows_per_rank;
  torch::Tensor fault_types;  // [B_local] int64, canonical type id (data/fault_types.h) or -1; undefined: all -1
};

struct LossTerms {
  // scalars; rank-scaled (their mean over ranks is the global loss)
  torch::Tensor total, modal, temporal, anomaly, type, neighbourhood;
};

// What the losses read of every rank's rows: the four embeddings (with gradient) and the windows' times and labels,
// [B_global, ...] in rank order. runtime_slicer_loss gathers them once: one all-gather of the embeddings side
// by side (and one reduce-scatter of their gradients in backward) and one of the times and labels, instead of one
// per loss and tensor (z was gathered twice): 2 sync points forward and 1 backward instead of 8 and 5.
struct GlobalBatch {
  torch::Tensor e_m, e_t, e_l, z;
  torch::Tensor begin_ns, end_ns, labels;
  std::int64_t offset = 0;  // this rank's first row in it
  torch::Tensor fault_types;  // undefined: all -1
};
GlobalBatch gather_global_batch(const LossInputs& in, dist::Communicator& comm);

// InfoNCE of local rows `a` against global columns `b_global` (row i's positive is column i + offset); columns
// where `excluded` [n, N] is true are left out of row i's softmax (undefined: none).
torch::Tensor info_nce(const torch::Tensor& a_local, const torch::Tensor& b_global, std::int64_t offset,
                       const torch::Tensor& scale, const torch::Tensor& excluded = {});
// The columns each local row's InfoNCE leaves out when masking overlaps: other windows that overlap it.
torch::Tensor overlapping_negatives(const torch::Tensor& begin_local, const torch::Tensor& end_local,
                                    const torch::Tensor& begin_global, const torch::Tensor& end_global,
                                    std::int64_t offset);
// Each loss of this rank's rows against the global batch `g` (this rank is one of `world`).
torch::Tensor modal_loss(const LossInputs& in, const GlobalBatch& g, int world, double temperature,
                         bool mask_overlapping = false);
torch::Tensor temporal_loss(const LossInputs& in, const GlobalBatch& g, int world, double delta);
torch::Tensor anomaly_loss(const LossInputs& in, const GlobalBatch& g, int world, double gamma);
torch::Tensor type_loss(const LossInputs& in, const GlobalBatch& g, int world, double temperature);
torch::Tensor neighbourhood_loss(const LossInputs& in, const GlobalBatch& g, int world, double temperature,
                                 std::int64_t horizon_ns);
// The same, each gathering what it reads itself, tensor by tensor (the reference of the one gather).
torch::Tensor modal_loss(const LossInputs& in, dist::Communicator& comm, double temperature,
                         bool mask_overlapping = false);
torch::Tensor temporal_loss(const LossInputs& in, dist::Communicator& comm, double delta);
torch::Tensor anomaly_loss(const LossInputs& in, dist::Communicator& comm, double gamma);
torch::Tensor type_loss(const LossInputs& in, dist::Communicator& comm, double temperature);
torch::Tensor neighbourhood_loss(const LossInputs& in, dist::Communicator& comm, double temperature,
                                 std::int64_t horizon_ns);
// The four terms and their weighted sum over one gather_global_batch.
LossTerms runtime_slicer_loss(const LossInputs& in, dist::Communicator& comm, const LossOptions& options);

// omega_ij = overlap([b_i, e_i), [b_j, e_j)) / max(length_i, length_j): [n, m] float.
torch::Tensor overlap_weights(const torch::Tensor& begin_a, const torch::Tensor& end_a, const torch::Tensor& begin_b,
                              const torch::Tensor& end_b);

}  // namespace rslicer::losses
