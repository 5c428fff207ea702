// State-Aware Task-Oriented Tuning (paper §2.2, eqs. 7-8): windows are assigned to runtime states (nearest
// centroid in z); each state gets its own task models fitted on that state's training windows, sharing the
// backbone; a state with fewer than `min_state_windows` training windows uses the global model.
//   AD: a Gaussian over normal z (covariance shrunk towards (tr S / d) I); score = Mahalanobis distance squared;
//       threshold rule: the score that maximises F1 on the state's training windows when they contain abnormal
//       ones, else the `quantile` of its normal training scores.
//   FL: per component, the mean embedding of its pod-level text over normal training windows of the state; a
//       window's components are ranked by 1 - cos(embedding, that baseline), services by their best pod; a
//       component with no baseline (an unseen system) is compared with the mean of the window's components.
//   FC: prototypes (mean z) per fault type over abnormal training windows of the state, completed by global
//       prototypes; types ranked by cosine similarity.
#pragma once

#include <nlohmann/json.hpp>

#include <map>
#include <vector>

#include "tuning/embeddings.h"

namespace rslicer::tuning {

struct TuneOptions {
  double shrinkage = 0.1;
  double quantile = 0.99;
  std::size_t min_state_windows = 20;
};

struct GaussianModel {
  std::vector<float> mean;
  std::vector<double> precision;  // [d, d]
  double threshold = 0;
  std::size_t windows = 0;
  double score(const float* x, std::size_t d) const;
};

struct StateModels {
  Matrix centroids;
  GaussianModel global_ad;
  std::vector<GaussianModel> state_ad;  // empty mean: use global
  std::map<int, std::vector<float>> global_prototypes;              // fault type -> mean z
  std::vector<std::map<int, std::vector<float>>> state_prototypes;
  std::map<std::pair<int, int>, std::vector<float>> global_baselines;  // (store, component) -> mean embedding
  std::vector<std::map<std::pair<int, int>, std::vector<float>>> state_baselines;
  TuneOptions options;

  nlohmann::json to_json() const;
  static StateModels from_json(const nlohmann::json& j);
  int state_of(const float* z) const;
};

StateModels fit_state_models(const EmbeddingSet& e, const std::vector<std::size_t>& train_rows,
                             const Matrix& centroids, const TuneOptions& options);

struct Evaluation {
  nlohmann::json metrics;  // AD/FL/FC figures and counts
  std::vector<int> predicted_fault_type, true_fault_type;  // for the confusion matrix
};
Evaluation evaluate(const StateModels& models, const EmbeddingSet& e, const std::vector<std::size_t>& test_rows);

}  // namespace rslicer::tuning
