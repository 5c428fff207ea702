#include "tuning/state_models.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <set>

#include "core/error.h"
#include "tuning/clustering.h"
#include "tuning/metrics.h"

namespace rslicer::tuning {

namespace {

// Inverse of a symmetric positive-definite matrix by Gauss-Jordan elimination with partial pivoting.
std::vector<double> invert(std::vector<double> a, std::size_t d) {
  std::vector<double> inv(d * d, 0.0);
  for (std::size_t i = 0; i < d; ++i) inv[i * d + i] = 1.0;
  for (std::size_t c = 0; c < d; ++c) {
    std::size_t pivot = c;
    for (std::size_t r = c + 1; r < d; ++r)
      if (std::fabs(a[r * d + c]) > std::fabs(a[pivot * d + c])) pivot = r;
    if (std::fabs(a[pivot * d + c]) < 1e-300) throw Error("singular covariance", "tuning::AD", "a shrinkage > 0");
    for (std::size_t k = 0; k < d; ++k) {
      std::swap(a[c * d + k], a[pivot * d + k]);
      std::swap(inv[c * d + k], inv[pivot * d + k]);
    }
    const double p = a[c * d + c];
    for (std::size_t k = 0; k < d; ++k) {
      a[c * d + k] /= p;
      inv[c * d + k] /= p;
    }
    for (std::size_t r = 0; r < d; ++r) {
      if (r == c) continue;
      const double f = a[r * d + c];
      if (f == 0) continue;
      for (std::size_t k = 0; k < d; ++k) {
        a[r * d + k] -= f * a[c * d + k];
        inv[r * d + k] -= f * inv[c * d + k];
      }
    }
  }
  return inv;
}

std::vector<float> mean_of(const Matrix& m, const std::vector<std::size_t>& rows) {
  std::vector<double> s(m.cols, 0.0);
  for (auto r : rows)
    for (std::size_t j = 0; j < m.cols; ++j) s[j] += m.row(r)[j];
  std::vector<float> out(m.cols);
  for (std::size_t j = 0; j < m.cols; ++j) out[j] = static_cast<float>(s[j] / std::max<std::size_t>(rows.size(), 1));
  return out;
}

GaussianModel fit_gaussian(const Matrix& z, const std::vector<std::size_t>& normal_rows, double shrinkage) {
  GaussianModel g;
  const std::size_t d = z.cols;
  g.windows = normal_rows.size();
  g.mean = mean_of(z, normal_rows);
  std::vector<double> cov(d * d, 0.0);
  for (auto r : normal_rows)
    for (std::size_t i = 0; i < d; ++i) {
      const double di = z.row(r)[i] - g.mean[i];
      for (std::size_t j = i; j < d; ++j) cov[i * d + j] += di * (z.row(r)[j] - g.mean[j]);
    }
  const double n = std::max<double>(1.0, static_cast<double>(normal_rows.size()) - 1.0);
  double trace = 0;
  for (std::size_t i = 0; i < d; ++i)
    for (std::size_t j = i; j < d; ++j) {
      cov[i * d + j] /= n;
      cov[j * d + i] = cov[i * d + j];
      if (i == j) trace += cov[i * d + i];
    }
  const double target = std::max(trace / static_cast<double>(d), 1e-8);
  for (std::size_t i = 0; i < d; ++i)
    for (std::size_t j = 0; j < d; ++j) cov[i * d + j] = (1 - shrinkage) * cov[i * d + j] + (i == j ? shrinkage * target : 0.0);
  g.precision = invert(cov, d);
  return g;
}

// Threshold rule (see the header): best training F1 when abnormal windows exist, else a quantile of normal scores.
double choose_threshold(const GaussianModel& g, const EmbeddingSet& e, const std::vector<std::size_t>& rows,
                        double quantile) {
  std::vector<std::pair<double, int>> scored;
  for (auto r : rows)
    if (e.label[r] >= 0) scored.emplace_back(g.score(e.z.row(r), e.z.cols), e.label[r]);
  const bool has_abnormal = std::any_of(scored.begin(), scored.end(), [](auto& s) { return s.second == 1; });
  if (!has_abnormal) {
    std::vector<double> normal;
    for (auto& s : scored) normal.push_back(s.first);
    if (normal.empty()) return 0;
    std::sort(normal.begin(), normal.end());
    return normal[static_cast<std::size_t>(std::min<double>(normal.size() - 1, std::floor(quantile * normal.size())))];
  }
  std::sort(scored.begin(), scored.end());
  double best_f1 = -1, best = scored.back().first;
  double total_pos = 0;
  for (auto& s : scored) total_pos += s.second == 1;
  // Predict abnormal for score > threshold: sweep thresholds from high to low.
  double tp = 0, fp = 0;
  for (std::size_t k = scored.size(); k-- > 0;) {
    (scored[k].second == 1 ? tp : fp) += 1;
    const double threshold = k > 0 ? 0.5 * (scored[k].first + scored[k - 1].first) : scored[k].first - 1e-9;
    const double p = tp / (tp + fp), r = tp / total_pos, f1 = p + r > 0 ? 2 * p * r / (p + r) : 0;
    if (f1 > best_f1) {
      best_f1 = f1;
      best = threshold;
    }
  }
  return best;
}

}  // namespace

double GaussianModel::score(const float* x, std::size_t d) const {
  std::vector<double> diff(d);
  for (std::size_t i = 0; i < d; ++i) diff[i] = x[i] - mean[i];
  double s = 0;
  for (std::size_t i = 0; i < d; ++i) {
    double row = 0;
    for (std::size_t j = 0; j < d; ++j) row += precision[i * d + j] * diff[j];
    s += diff[i] * row;
  }
  return s;
}

int StateModels::state_of(const float* z) const {
  int best = 0;
  double best_d = 1e300;
  for (std::size_t k = 0; k < centroids.rows; ++k) {
    double d = squared_distance(z, centroids.row(k), centroids.cols);
    if (d < best_d) {
      best_d = d;
      best = static_cast<int>(k);
    }
  }
  return best;
}

StateModels fit_state_models(const EmbeddingSet& e, const std::vector<std::size_t>& train, const Matrix& centroids,
                             const TuneOptions& options) {
  StateModels m;
  m.options = options;
  m.centroids = centroids;
  const std::size_t K = centroids.rows;
  std::vector<int> state(e.size());
  for (std::size_t r = 0; r < e.size(); ++r) state[r] = m.state_of(e.z.row(r));

  std::vector<std::size_t> normal;
  for (auto r : train)
    if (e.label[r] == 0 || e.label[r] == -1) normal.push_back(r);
  if (normal.size() < 2) throw Error("fewer than 2 normal training windows", "tuning", "a split with normal windows");
  m.global_ad = fit_gaussian(e.z, normal, options.shrinkage);
  m.global_ad.threshold = choose_threshold(m.global_ad, e, train, options.quantile);
  m.state_ad.resize(K);
  m.state_prototypes.resize(K);
  m.state_baselines.resize(K);
  for (std::size_t k = 0; k < K; ++k) {
    std::vector<std::size_t> rows, normal_k;
    for (auto r : train)
      if (state[r] == static_cast<int>(k)) {
        rows.push_back(r);
        if (e.label[r] <= 0) normal_k.push_back(r);
      }
    if (normal_k.size() >= options.min_state_windows) {
      m.state_ad[k] = fit_gaussian(e.z, normal_k, options.shrinkage);
      m.state_ad[k].threshold = choose_threshold(m.state_ad[k], e, rows, options.quantile);
    }
  }
  // FC prototypes.
  std::map<int, std::vector<std::size_t>> by_type;
  std::vector<std::map<int, std::vector<std::size_t>>> by_state_type(K);
  for (auto r : train)
    if (e.label[r] == 1 && e.fault_type[r] >= 0) {
      by_type[e.fault_type[r]].push_back(r);
      by_state_type[static_cast<std::size_t>(state[r])][e.fault_type[r]].push_back(r);
    }
  for (auto& [t, rows] : by_type) m.global_prototypes[t] = mean_of(e.z, rows);
  for (std::size_t k = 0; k < K; ++k)
    for (auto& [t, rows] : by_state_type[k]) m.state_prototypes[k][t] = mean_of(e.z, rows);
  // FL baselines from normal training windows' component embeddings.
  std::set<std::size_t> train_set(train.begin(), train.end());
  std::map<std::pair<int, int>, std::vector<std::size_t>> comp_rows;
  std::vector<std::map<std::pair<int, int>, std::vector<std::size_t>>> state_comp_rows(K);
  for (std::size_t c = 0; c < e.comp_row.size(); ++c) {
    const auto r = static_cast<std::size_t>(e.comp_row[c]);
    if (!train_set.count(r) || e.label[r] == 1) continue;
    const std::pair<int, int> key{e.store[r], e.comp_id[c]};
    comp_rows[key].push_back(c);
    state_comp_rows[static_cast<std::size_t>(state[r])][key].push_back(c);
  }
  for (auto& [key, rows] : comp_rows) m.global_baselines[key] = mean_of(e.comp, rows);
  for (std::size_t k = 0; k < K; ++k)
    for (auto& [key, rows] : state_comp_rows[k])
      if (rows.size() >= 3) m.state_baselines[k][key] = mean_of(e.comp, rows);
  return m;
}

Evaluation evaluate(const StateModels& m, const EmbeddingSet& e, const std::vector<std::size_t>& test) {
  Evaluation out;
  const std::size_t d = e.z.cols;
  std::vector<int> truth, predicted;
  std::map<std::pair<int, int>, bool> event_detected;  // (store, fault) -> any window flagged
  std::vector<int> pod_ranks, service_ranks, type_ranks;
  std::size_t state_models_used = 0;
  for (auto r : test) {
    const int k = m.state_of(e.z.row(r));
    const GaussianModel& g = m.state_ad[static_cast<std::size_t>(k)].mean.empty() ? m.global_ad : m.state_ad[static_cast<std::size_t>(k)];
    state_models_used += &g != &m.global_ad;
    const int flag = g.score(e.z.row(r), d) > g.threshold;
    if (e.label[r] >= 0) {
      truth.push_back(e.label[r]);
      predicted.push_back(flag);
    }
    if (e.label[r] == 1 && e.fault[r] >= 0) {
      auto& detected = event_detected[{e.store[r], e.fault[r]}];
      detected = detected || flag;
    }
    if (e.label[r] != 1) continue;
    // FC: rank fault types by cosine to the state's prototypes (global ones fill the types the state lacks).
    std::map<int, std::vector<float>> protos = m.global_prototypes;
    for (auto& [t, p] : m.state_prototypes[static_cast<std::size_t>(k)]) protos[t] = p;
    std::vector<std::pair<double, int>> types;
    for (auto& [t, p] : protos) types.emplace_back(-cosine(e.z.row(r), p.data(), d), t);
    std::sort(types.begin(), types.end());
    std::vector<int> type_ranking;
    for (auto& [s, t] : types) type_ranking.push_back(t);
    if (e.fault_type[r] >= 0 && !type_ranking.empty()) {
      type_ranks.push_back(rank_of(type_ranking, e.fault_type[r]));
      out.true_fault_type.push_back(e.fault_type[r]);
      out.predicted_fault_type.push_back(type_ranking.front());
    }
    // FL: rank this window's components by deviation from their baseline in this state; a component without one
    // (a system never seen in training) is compared with its peers: the mean of the window's component embeddings.
    std::vector<std::size_t> window_comps;
    for (std::size_t c = 0; c < e.comp_row.size(); ++c)
      if (static_cast<std::size_t>(e.comp_row[c]) == r) window_comps.push_back(c);
    const std::vector<float> peers = mean_of(e.comp, window_comps);
    std::vector<std::pair<double, std::size_t>> comps;
    for (std::size_t c : window_comps) {
      const std::pair<int, int> key{e.store[r], e.comp_id[c]};
      const auto& sb = m.state_baselines[static_cast<std::size_t>(k)];
      const std::vector<float>* base = sb.count(key) ? &sb.at(key) : m.global_baselines.count(key) ? &m.global_baselines.at(key) : &peers;
      comps.emplace_back(-(1.0 - cosine(e.comp.row(c), base->data(), e.comp.cols)), c);
    }
    if (comps.empty() || e.root_cause[r] < 0) continue;
    std::sort(comps.begin(), comps.end());
    std::vector<int> pods, services;
    for (auto& [s, c] : comps) {
      pods.push_back(e.comp_id[c]);
      if (std::find(services.begin(), services.end(), e.comp_service[c]) == services.end())
        services.push_back(e.comp_service[c]);
    }
    pod_ranks.push_back(rank_of(pods, e.root_cause[r]));
    service_ranks.push_back(rank_of(services, e.root_service[r]));
  }
  PRF ad = binary_prf(truth, predicted);
  std::size_t detected = 0;
  for (auto& [k, v] : event_detected) detected += v;
  PRF fc = macro_prf(out.true_fault_type, out.predicted_fault_type);
  out.metrics = {
      {"ad", {{"precision", ad.precision}, {"recall", ad.recall}, {"f1", ad.f1}, {"windows", truth.size()},
              {"events", event_detected.size()},
              {"event_recall", event_detected.empty() ? 0.0 : static_cast<double>(detected) / event_detected.size()},
              {"state_models_used", state_models_used}}},
      {"fl", {{"pod", {{"top1", top_k(pod_ranks, 1)}, {"top3", top_k(pod_ranks, 3)}, {"top5", top_k(pod_ranks, 5)},
                       {"mrr", mean_reciprocal_rank(pod_ranks)}}},
              {"service", {{"top1", top_k(service_ranks, 1)}, {"top3", top_k(service_ranks, 3)},
                           {"top5", top_k(service_ranks, 5)}, {"mrr", mean_reciprocal_rank(service_ranks)}}},
              {"windows", pod_ranks.size()}}},
      {"fc", {{"precision", fc.precision}, {"recall", fc.recall}, {"f1", fc.f1},
              {"mrr", mean_reciprocal_rank(type_ranks)}, {"windows", type_ranks.size()}}}};
  return out;
}

nlohmann::json StateModels::to_json() const {
  auto gaussian = [](const GaussianModel& g) {
    return nlohmann::json{{"mean", g.mean}, {"precision", g.precision}, {"threshold", g.threshold}, {"windows", g.windows}};
  };
  nlohmann::json j;
  j["centroids"] = {{"rows", centroids.rows}, {"cols", centroids.cols}, {"data", centroids.data}};
  j["global_ad"] = gaussian(global_ad);
  j["state_ad"] = nlohmann::json::array();
  for (const auto& g : state_ad) j["state_ad"].push_back(g.mean.empty() ? nlohmann::json(nullptr) : gaussian(g));
  auto protos = [](const std::map<int, std::vector<float>>& p) {
    nlohmann::json o = nlohmann::json::object();
    for (const auto& [t, v] : p) o[std::to_string(t)] = v;
    return o;
  };
  auto bases = [](const std::map<std::pair<int, int>, std::vector<float>>& b) {
    nlohmann::json o = nlohmann::json::array();
    for (const auto& [k, v] : b) o.push_back({{"store", k.first}, {"component", k.second}, {"embedding", v}});
    return o;
  };
  j["global_prototypes"] = protos(global_prototypes);
  j["state_prototypes"] = nlohmann::json::array();
  for (const auto& p : state_prototypes) j["state_prototypes"].push_back(protos(p));
  j["global_baselines"] = bases(global_baselines);
  j["state_baselines"] = nlohmann::json::array();
  for (const auto& b : state_baselines) j["state_baselines"].push_back(bases(b));
  j["options"] = {{"shrinkage", options.shrinkage}, {"quantile", options.quantile},
                  {"min_state_windows", options.min_state_windows}};
  return j;
}

StateModels StateModels::from_json(const nlohmann::json& j) {
  StateModels m;
  m.centroids.rows = j["centroids"]["rows"];
  m.centroids.cols = j["centroids"]["cols"];
  m.centroids.data = j["centroids"]["data"].get<std::vector<float>>();
  auto gaussian = [](const nlohmann::json& g) {
    GaussianModel out;
    out.mean = g["mean"].get<std::vector<float>>();
    out.precision = g["precision"].get<std::vector<double>>();
    out.threshold = g["threshold"];
    out.windows = g["windows"];
    return out;
  };
  m.global_ad = gaussian(j["global_ad"]);
  for (const auto& g : j["state_ad"]) m.state_ad.push_back(g.is_null() ? GaussianModel{} : gaussian(g));
  auto protos = [](const nlohmann::json& o) {
    std::map<int, std::vector<float>> p;
    for (const auto& [t, v] : o.items()) p[std::stoi(t)] = v.get<std::vector<float>>();
    return p;
  };
  auto bases = [](const nlohmann::json& o) {
    std::map<std::pair<int, int>, std::vector<float>> b;
    for (const auto& x : o) b[{x["store"].get<int>(), x["component"].get<int>()}] = x["embedding"].get<std::vector<float>>();
    return b;
  };
  m.global_prototypes = protos(j["global_prototypes"]);
  for (const auto& p : j["state_prototypes"]) m.state_prototypes.push_back(protos(p));
  m.global_baselines = bases(j["global_baselines"]);
  for (const auto& b : j["state_baselines"]) m.state_baselines.push_back(bases(b));
  m.options.shrinkage = j["options"]["shrinkage"];
  m.options.quantile = j["options"]["quantile"];
  m.options.min_state_windows = j["options"]["min_state_windows"];
  return m;
}

}  // namespace rslicer::tuning
