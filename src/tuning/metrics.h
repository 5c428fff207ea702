// Evaluation metrics, defined as scikit-learn defines them (tests compare with sklearn.metrics).
#pragma once

#include <vector>

namespace rslicer::tuning {

struct PRF {
  double precision = 0, recall = 0, f1 = 0;
};

// Binary P/R/F1 of label 1 (zero_division = 0).
PRF binary_prf(const std::vector<int>& truth, const std::vector<int>& predicted);
// Macro-averaged P/R/F1 over the classes present in truth or predictions.
PRF macro_prf(const std::vector<int>& truth, const std::vector<int>& predicted);
// Threshold-free detection figures of scores (higher: more abnormal) against 0/1 truth, as sklearn's
// roc_auc_score (ties count one half) and average_precision_score (step-wise, no interpolation); 0 when a class
// is absent.
double roc_auc(const std::vector<double>& scores, const std::vector<int>& truth);
double average_precision(const std::vector<double>& scores, const std::vector<int>& truth);
// The best F1 over every threshold of the scores (the oracle threshold: a ceiling, not a deployable rule), and it.
struct BestF1 {
  double f1 = 0, threshold = 0;
};
BestF1 best_f1(const std::vector<double>& scores, const std::vector<int>& truth);
double normalized_mutual_info(const std::vector<int>& a, const std::vector<int>& b);  // arithmetic mean normaliser
// The NMI within each group (a store: its windows' regimes against the clusters they fall in), averaged with the
// groups' sizes as weights. Clusters that only tell the groups apart score 0 here, and the NMI over all rows would
// let them score what separating the groups is worth: two systems pooled, each with its own regimes.
double normalized_mutual_info_within(const std::vector<int>& truth, const std::vector<int>& clusters,
                                     const std::vector<int>& group);
double adjusted_rand_index(const std::vector<int>& a, const std::vector<int>& b);
double purity(const std::vector<int>& truth, const std::vector<int>& clusters);
// Rank (1-based) of `truth` in `ranking`, or 0 when absent.
int rank_of(const std::vector<int>& ranking, int truth);
double top_k(const std::vector<int>& ranks, int k);           // share of ranks in [1, k]
double mean_reciprocal_rank(const std::vector<int>& ranks);   // 1/rank, 0 when absent

}  // namespace rslicer::tuning
