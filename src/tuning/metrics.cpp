#include "tuning/metrics.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <set>

namespace rslicer::tuning {

PRF binary_prf(const std::vector<int>& truth, const std::vector<int>& predicted) {
  double tp = 0, fp = 0, fn = 0;
  for (std::size_t i = 0; i < truth.size(); ++i) {
    tp += truth[i] == 1 && predicted[i] == 1;
    fp += truth[i] != 1 && predicted[i] == 1;
    fn += truth[i] == 1 && predicted[i] != 1;
  }
  PRF r;
  r.precision = tp + fp > 0 ? tp / (tp + fp) : 0;
  r.recall = tp + fn > 0 ? tp / (tp + fn) : 0;
  r.f1 = r.precision + r.recall > 0 ? 2 * r.precision * r.recall / (r.precision + r.recall) : 0;
  return r;
}

namespace {

// (score, truth) sorted by score, highest first; `groups` marks where each run of equal scores ends.
struct Ranked {
  std::vector<std::pair<double, int>> items;
  double positives = 0, negatives = 0;
};

Ranked rank_descending(const std::vector<double>& scores, const std::vector<int>& truth) {
  Ranked r;
  for (std::size_t i = 0; i < scores.size(); ++i) {
    r.items.emplace_back(scores[i], truth[i] == 1);
    (truth[i] == 1 ? r.positives : r.negatives) += 1;
  }
  std::sort(r.items.begin(), r.items.end(), [](auto& a, auto& b) { return a.first > b.first; });
  return r;
}

// Calls visit(tp, fp, threshold) after each run of equal scores (predict abnormal for score >= threshold).
template <typename Visit>
void sweep(const Ranked& r, Visit visit) {
  double tp = 0, fp = 0;
  for (std::size_t i = 0; i < r.items.size(); ++i) {
    (r.items[i].second ? tp : fp) += 1;
    if (i + 1 == r.items.size() || r.items[i + 1].first != r.items[i].first) visit(tp, fp, r.items[i].first);
  }
}

}  // namespace

double roc_auc(const std::vector<double>& scores, const std::vector<int>& truth) {
  Ranked r = rank_descending(scores, truth);
  if (r.positives == 0 || r.negatives == 0) return 0;
  double area = 0, last_tp = 0, last_fp = 0;
  sweep(r, [&](double tp, double fp, double) {
    area += (fp - last_fp) * (tp + last_tp) / 2;  // trapezoid: a tie run is a diagonal step
    last_tp = tp;
    last_fp = fp;
  });
  return area / (r.positives * r.negatives);
}

double average_precision(const std::vector<double>& scores, const std::vector<int>& truth) {
  Ranked r = rank_descending(scores, truth);
  if (r.positives == 0) return 0;
  double ap = 0, last_recall = 0;
  sweep(r, [&](double tp, double fp, double) {
    const double recall = tp / r.positives;
    ap += (recall - last_recall) * tp / (tp + fp);
    last_recall = recall;
  });
  return ap;
}

BestF1 best_f1(const std::vector<double>& scores, const std::vector<int>& truth) {
  Ranked r = rank_descending(scores, truth);
  BestF1 best;
  if (r.positives == 0) return best;
  sweep(r, [&](double tp, double fp, double threshold) {
    const double f1 = 2 * tp / (tp + fp + r.positives);
    if (f1 > best.f1) best = {f1, threshold};
  });
  return best;
}

PRF macro_prf(const std::vector<int>& truth, const std::vector<int>& predicted) {
  std::set<int> classes(truth.begin(), truth.end());
  classes.insert(predicted.begin(), predicted.end());
  PRF sum;
  for (int c : classes) {
    std::vector<int> t, p;
    for (std::size_t i = 0; i < truth.size(); ++i) {
      t.push_back(truth[i] == c);
      p.push_back(predicted[i] == c);
    }
    PRF r = binary_prf(t, p);
    sum.precision += r.precision;
    sum.recall += r.recall;
    sum.f1 += r.f1;
  }
  const double n = classes.empty() ? 1.0 : static_cast<double>(classes.size());
  return {sum.precision / n, sum.recall / n, sum.f1 / n};
}

namespace {
double entropy(const std::map<int, double>& counts, double n) {
  double h = 0;
  for (const auto& [k, c] : counts)
    if (c > 0) h -= c / n * std::log(c / n);
  return h;
}

// Counts of each label of a, of b, and of each (a, b) pair.
struct Contingency {
  double n = 0;
  std::map<int, double> a, b;
  std::map<std::pair<int, int>, double> joint;
  Contingency(const std::vector<int>& x, const std::vector<int>& y) : n(static_cast<double>(x.size())) {
    for (std::size_t i = 0; i < x.size(); ++i) {
      a[x[i]] += 1;
      b[y[i]] += 1;
      joint[{x[i], y[i]}] += 1;
    }
  }
};

}  // namespace

double normalized_mutual_info(const std::vector<int>& x, const std::vector<int>& y) {
  Contingency t(x, y);
  if (t.a.size() == 1 && t.b.size() == 1) return 1.0;  // sklearn: identical single-cluster labelings
  double mi = 0;
  for (const auto& [k, c] : t.joint) mi += c / t.n * std::log(c * t.n / (t.a[k.first] * t.b[k.second]));
  const double norm = (entropy(t.a, t.n) + entropy(t.b, t.n)) / 2;
  return norm > 0 ? std::max(0.0, mi) / norm : 0.0;
}

double normalized_mutual_info_within(const std::vector<int>& truth, const std::vector<int>& clusters,
                                     const std::vector<int>& group) {
  std::map<int, std::pair<std::vector<int>, std::vector<int>>> by_group;
  for (std::size_t i = 0; i < truth.size(); ++i) {
    by_group[group[i]].first.push_back(truth[i]);
    by_group[group[i]].second.push_back(clusters[i]);
  }
  double weighted = 0;
  for (const auto& [g, rows] : by_group)
    weighted += static_cast<double>(rows.first.size()) * normalized_mutual_info(rows.first, rows.second);
  return truth.empty() ? 0.0 : weighted / static_cast<double>(truth.size());
}

double adjusted_rand_index(const std::vector<int>& x, const std::vector<int>& y) {
  Contingency t(x, y);
  auto comb2 = [](double v) { return v * (v - 1) / 2; };
  double index = 0, sa = 0, sb = 0;
  for (const auto& [k, c] : t.joint) index += comb2(c);
  for (const auto& [k, c] : t.a) sa += comb2(c);
  for (const auto& [k, c] : t.b) sb += comb2(c);
  const double expected = sa * sb / comb2(t.n);
  const double max_index = (sa + sb) / 2;
  if (max_index == expected) return 1.0;
  return (index - expected) / (max_index - expected);
}

double purity(const std::vector<int>& truth, const std::vector<int>& clusters) {
  std::map<int, std::map<int, int>> table;
  for (std::size_t i = 0; i < truth.size(); ++i) table[clusters[i]][truth[i]]++;
  double correct = 0;
  for (const auto& [c, row] : table) {
    int best = 0;
    for (const auto& [t, n] : row) best = std::max(best, n);
    correct += best;
  }
  return truth.empty() ? 0 : correct / static_cast<double>(truth.size());
}

int rank_of(const std::vector<int>& ranking, int truth) {
  auto it = std::find(ranking.begin(), ranking.end(), truth);
  return it == ranking.end() ? 0 : static_cast<int>(it - ranking.begin()) + 1;
}

double top_k(const std::vector<int>& ranks, int k) {
  if (ranks.empty()) return 0;
  double hits = 0;
  for (int r : ranks) hits += r >= 1 && r <= k;
  return hits / static_cast<double>(ranks.size());
}

double mean_reciprocal_rank(const std::vector<int>& ranks) {
  if (ranks.empty()) return 0;
  double s = 0;
  for (int r : ranks) s += r > 0 ? 1.0 / r : 0.0;
  return s / static_cast<double>(ranks.size());
}

}  // namespace rslicer::tuning
