// State-Aware Task-Oriented Tuning (paper §2.2, eqs. 7-8): windows are assigned to runtime states (nearest
// centroid in z); each state gets its own task models fitted on that state's training windows, sharing the
// backbone; a state with fewer than `min_state_windows` training windows uses the global model.
//   AD: a Gaussian over normal z (covariance shrunk towards (tr S / d) I); raw score = Mahalanobis distance
//       squared, reported as a robust z against the store's previous `history_windows` windows
//       (tuning/trailing_scores.h), so that a later period or another system is not flagged whole. Threshold
//       (`threshold`): the `quantile` of the tuning split's normal windows in those units (bounds the share of
//       normal windows flagged where the scores are stationary; the F1-best threshold on tuning, "f1", follows
//       tuning's base rate and flagged 63-77% of Nezha's later windows), measured on both. Threshold-free AUROC/AUPRC
//       and the oracle threshold's F1 (the best on the test split itself, a ceiling, not a rule) are reported beside.
//       The tuning normal windows' raw scores behind the centre and threshold are cross-fitted (`ad_folds`): each
//       under its model fitted without its fold, as every later window is scored by a model that never saw it.
//       A store with no tuning window (another system or deployment: `ad_reference` auto) is scored against its own
//       past instead, as FL is: the cosine distance of z to the median z of the store's previous `history_windows`
//       windows (tuning/trailing_scores.h), as a robust z over the same history, with a threshold chosen the same
//       way on the tuning split's scores of that kind. The tuning stores' Gaussians describe z of the systems they
//       saw; on another system they flagged abnormal windows below chance (demo, held-out system: AUPRC 18.9
//       trained, chance 19.9) while the store's own past separated them (38.8; docs/evaluation.md).
//   FL: a window's components ranked by how far their pod-level embedding moved from the windows before the fault
//       (cosine distance over their own spread there, shrunk halfway towards the median spread of the window's
//       pods: tuning/component_history.h); without such windows, from the
//       state's tuned baseline (mean over normal training windows), else from the mean of the window's components
//       (an unseen system). Per window, a fault's window ranks its pods by the incident so far (their mean score
//       over the fault's windows up to and including it, each store's windows in time order), and per fault event
//       (each fault ranked once, all its windows' scores averaged; services by their best pod), as Nezha evaluates.
//       Before ranking, each pod's score is discounted by the largest excess over the median pod among the pods it
//       calls that stand out (`fl_callee_discount` x; the store's call graph from its traces,
//       tuning/call_graph.h): a fault spreads to its callers, and the move a callee explains is not the caller's own.
//   FC: a window's fault signature = the top-ranked component's embedding - its reference (`fc_move`
//       displacement; direction: scaled to unit length, which weighs a slight move as a large one): how its culprit
//       moved, in its modality embeddings side by side (`fc_embedding` modalities: a network loss and a CPU load
//       differ in their pods' metrics and trace words, and the fused pod z FL ranks by had moved alike for both;
//       state: that z) against the mean of the same windows FL's reference is (`fc_signature` culprit; state_and_culprit puts unit(z - its state's normal mean) before it, which
//       state moved, and was the better one while FL's top pod was more often wrong). Prototypes per fault type over the
//       tuning split's abnormal windows (their culprit: the true root cause), per state where a state has 3+
//       windows of a type. Types ranked (`fc_model` gaussian) by the Mahalanobis distance to their prototype under
//       the tuning signatures' pooled within-type covariance, shrunk as AD's is (linear discriminant analysis with
//       equal priors: a signature's dimensions differ in how much they vary within a type, which the cosine to the
//       prototypes, `prototype`, weighs alike: the trained model's FC per window on the demo rose 20-23 points on
//       the held-out period and 10-13 on the held-out system, seeds 0 and 1; docs/evaluation.md). A test window's
//       culprit is FL's top pod of the incident so far. Only types present in tuning can be predicted: test windows
//       of other types are counted as unseen, not scored. Per fault event (fc.events): each event classified once,
//       from the mean of its windows' signatures with the event's top-ranked pod (FL per event) as the culprit.
#pragma once

#include <nlohmann/json.hpp>

#include <map>
#include <set>
#include <string>
#include <vector>

#include "tuning/embeddings.h"
#include "tuning/trailing_scores.h"

namespace rslicer::tuning {

struct TuneOptions {
  double shrinkage = 0.1;
  double quantile = 0.95;
  std::size_t min_state_windows = 20;
  std::size_t history_windows = 60;    // AD: windows before each window that centre its score
  // AD: the tuning windows' scores that set the centre and threshold come from models fitted without them, in this
  // many folds (contiguous in time) of each model's normal windows; 1: from the models themselves (in-sample).
  std::size_t ad_folds = 5;
  std::size_t reference_windows = 8;   // FL: a component's embedded windows before a fault that form its reference
  double fl_callee_discount = 1.0;     // FL: a pod's score less this x its outlying callees' largest excess (0: unused)
  std::string threshold = "quantile";  // AD: quantile (of tuning's normal windows) or f1 (best F1 on tuning)
  std::string fc_signature = "culprit";  // FC: culprit (the top-ranked pod's move) or state_and_culprit (and z's)
  std::string fc_model = "gaussian";     // FC: gaussian (shared shrunk covariance: LDA) or prototype (cosine)
  // FC per window: window (the window's own signature) or incident (the mean signature of the fault's windows so
  // far, its culprit FL's top pod so far, as FL ranks by the incident so far: lower on the demo's held-out period
  // in 3 of 3 seeds, bench/quality/fc-evidence-2026-12-07.md).
  std::string fc_evidence = "window";
  // FC: which pod embedding the culprit's move is taken in: modalities (its three modality embeddings side by side,
  // EmbeddingSet::comp_modalities) or state (the fused pod z that FL ranks by). Embeddings without the modality
  // embeddings are tuned with state, and the models say so.
  std::string fc_embedding = "modalities";
  // FC: the culprit's move as it is (displacement: how far it moved counts, a killed pod's move is not a delayed
  // one's) or scaled to unit length (direction).
  std::string fc_move = "displacement";
  std::string ad_reference = "auto";  // AD: auto (state models for tuned stores, own history for the others), state, history
};

// (x - mean)' precision (x - mean), precision [d, d] row-major.
double mahalanobis_squared(const float* x, const float* mean, const std::vector<double>& precision, std::size_t d);

struct GaussianModel {
  std::vector<float> mean;
  std::vector<double> precision;  // [d, d]
  std::size_t windows = 0;
  double score(const float* x, std::size_t d) const { return mahalanobis_squared(x, mean.data(), precision, d); }
};

// FC's Gaussian model of one fault type (LDA): its prototype p under the pooled within-type precision P, in the
// linear form that ranks the types as the Mahalanobis distance does: (x - p)' P (x - p) = x'Px - 2 x'(Pp) + p'Pp,
// and x'Px is the same for every type. d numbers a type instead of P's d x d, and as many operations a signature
// (3072-wide signatures with Qwen3-Embedding-0.6B's three modalities: 9.4M doubles in P).
struct LinearDiscriminant {
  std::vector<double> weights;  // P p
  double offset = 0;            // p' P p
  static LinearDiscriminant of(const std::vector<float>& prototype, const std::vector<double>& precision);
  // With the weights P p already solved for (tuning/linalg.h): the offset from them.
  static LinearDiscriminant of_weights(const std::vector<float>& prototype, std::vector<double> weights);
  // The Mahalanobis distance squared of x to the prototype, less x'Px.
  double score(const std::vector<float>& x) const;
};

struct StateModels {
  Matrix centroids;
  GaussianModel global_ad;
  std::vector<GaussianModel> state_ad;  // empty mean: use global
  RobustCentre normal_scores;           // raw scores of the tuning split's normal windows (the trailing fallback)
  double threshold = 0;                 // on the trailing robust z
  RobustCentre history_normal_scores;   // the same two for the own-history score (stores absent from tuning)
  double history_threshold = 0;
  std::set<std::string> tuned_stores;   // store paths with tuning windows (as the embeddings name them)
  std::map<int, std::vector<float>> global_prototypes;              // fault type -> mean signature
  std::vector<std::map<int, std::vector<float>>> state_prototypes;
  // fc_model gaussian: each prototype's discriminant, keyed as the prototypes are; empty: cosine to the prototypes
  std::map<int, LinearDiscriminant> global_discriminants;
  std::vector<std::map<int, LinearDiscriminant>> state_discriminants;
  std::map<std::pair<int, int>, std::vector<float>> global_baselines;  // (store, component) -> mean embedding
  std::vector<std::map<std::pair<int, int>, std::vector<float>>> state_baselines;
  TuneOptions options;

  nlohmann::json to_json() const;
  static StateModels from_json(const nlohmann::json& j);
  int state_of(const float* z) const;
  const GaussianModel& ad_model(int state) const;
  // Whether AD scores `store_path`'s windows against the store's own past (see the header).
  bool scores_against_own_history(const std::string& store_path) const;
};

// Throws ConfigError naming the tune.* key of the first option out of its range (ad_reference, fc_signature, fc_model,
// fl_callee_discount): one check for the config reader (to fail before loading embeddings) and the library.
void check_tune_options(const TuneOptions& options);

StateModels fit_state_models(const EmbeddingSet& e, const std::vector<std::size_t>& train_rows,
                             const Matrix& centroids, const TuneOptions& options);

struct Evaluation {
  nlohmann::json metrics;  // AD/FL/FC figures and counts
  std::vector<int> predicted_fault_type, true_fault_type;  // for the confusion matrix
};
Evaluation evaluate(const StateModels& models, const EmbeddingSet& e, const std::vector<std::size_t>& test_rows);

}  // namespace rslicer::tuning
