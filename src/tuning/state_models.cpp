#include "tuning/state_models.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <set>
#include <tuple>

#include "core/error.h"
#include "tuning/call_graph.h"
#include "tuning/clustering.h"
#include "tuning/component_history.h"
#include "tuning/linalg.h"
#include "tuning/metrics.h"

namespace rslicer::tuning {

namespace {

// The covariance of `rows` of `z` shrunk towards (tr S / d) I by `shrinkage`: invertible however few the rows.
std::vector<double> shrunk_covariance(const Matrix& z, const std::vector<std::size_t>& rows, const std::vector<float>& mean,
                                      double shrinkage) {
  const std::size_t d = z.cols;
  std::vector<double> cov = covariance(z, rows, mean);
  double trace = 0;
  for (std::size_t i = 0; i < d; ++i) trace += cov[i * d + i];
  const double target = std::max(trace / static_cast<double>(d), 1e-8);
  for (std::size_t i = 0; i < d; ++i)
    for (std::size_t j = 0; j < d; ++j) cov[i * d + j] = (1 - shrinkage) * cov[i * d + j] + (i == j ? shrinkage * target : 0.0);
  return cov;
}

GaussianModel fit_gaussian(const Matrix& z, const std::vector<std::size_t>& normal_rows, double shrinkage) {
  GaussianModel g;
  g.windows = normal_rows.size();
  g.mean = mean_of(z, normal_rows);
  g.precision = CholeskyFactor(shrunk_covariance(z, normal_rows, g.mean, shrinkage), z.cols, "tuning::AD").inverse();
  return g;
}

// Best-F1 threshold over `rows` (labelled ones) of `scores` ("f1", when they hold abnormal windows), else the
// quantile of the normal ones.
double choose_threshold(const std::vector<double>& scores, const EmbeddingSet& e, const std::vector<std::size_t>& rows,
                        double quantile, const std::string& rule) {
  if (rule != "f1" && rule != "quantile")
    throw ConfigError("unknown threshold rule '" + rule + "'", "tune.threshold", "f1 or quantile");
  std::vector<double> labelled, normal;
  std::vector<int> truth;
  for (auto r : rows) {
    if (e.label[r] < 0) continue;
    labelled.push_back(scores[r]);
    truth.push_back(e.label[r]);
    if (e.label[r] == 0) normal.push_back(scores[r]);
  }
  if (rule == "f1" && std::find(truth.begin(), truth.end(), 1) != truth.end()) return best_f1(labelled, truth).threshold;
  if (normal.empty()) return 0;
  std::sort(normal.begin(), normal.end());
  return normal[static_cast<std::size_t>(std::min<double>(normal.size() - 1, std::floor(quantile * normal.size())))];
}

std::vector<float> unit(std::vector<float> v) {
  double n = 0;
  for (float x : v) n += static_cast<double>(x) * x;
  n = std::sqrt(n);
  if (n > 0)
    for (float& x : v) x = static_cast<float>(x / n);
  return v;
}

// What the task models read of the embeddings, computed once for a fitted (or partly fitted) model.
struct Scene {
  const EmbeddingSet& e;
  std::vector<int> state;                         // per window row
  std::vector<std::vector<std::size_t>> comps;    // per window row: its component rows
  FaultOnsets onsets;
  ComponentHistory history;

  Scene(const StateModels& m, const EmbeddingSet& set) : e(set), onsets(fault_onsets(set)),
                                                         history(set, m.options.reference_windows) {
    state.resize(e.size());
    for (std::size_t r = 0; r < e.size(); ++r) state[r] = m.state_of(e.z.row(r));
    comps.resize(e.size());
    for (std::size_t c = 0; c < e.comp_row.size(); ++c) comps[static_cast<std::size_t>(e.comp_row[c])].push_back(c);
  }
  // A window's reference time: its fault's onset (the windows before it are normal), else its own begin.
  std::int64_t reference_time(std::size_t r) const {
    auto it = e.fault[r] >= 0 ? onsets.find({e.store[r], e.fault[r]}) : onsets.end();
    return it != onsets.end() ? it->second : e.begin_ns[r];
  }
};

std::vector<double> raw_ad_scores(const StateModels& m, const Scene& s) {
  std::vector<double> raw(s.e.size());
  for (std::size_t r = 0; r < s.e.size(); ++r) raw[r] = m.ad_model(s.state[r]).score(s.e.z.row(r), s.e.z.cols);
  return raw;
}

constexpr std::size_t kMinHistory = 5;  // a window with fewer predecessors in its store uses the tuning fallback

std::vector<double> state_ad_scores(const StateModels& m, const Scene& s) {
  return trailing_robust_z(raw_ad_scores(m, s), s.e.store, s.e.begin_ns, m.options.history_windows, kMinHistory,
                           m.normal_scores);
}

std::vector<double> raw_history_scores(const StateModels& m, const EmbeddingSet& e) {
  return trailing_median_distance(e.z, e.store, e.begin_ns, m.options.history_windows);
}

std::vector<double> history_ad_scores(const StateModels& m, const EmbeddingSet& e, const std::vector<double>& raw) {
  return trailing_robust_z(raw, e.store, e.begin_ns, m.options.history_windows, kMinHistory, m.history_normal_scores);
}

// Every window's AD score under the reference its store gets (see the header).
struct AdScores {
  std::vector<double> score;
  std::vector<char> own_history;  // per window: scored against its store's own past (threshold: history_threshold)
  double threshold(const StateModels& m, std::size_t r) const { return own_history[r] ? m.history_threshold : m.threshold; }
};

AdScores ad_scores(const StateModels& m, const Scene& s) {
  const EmbeddingSet& e = s.e;
  AdScores out{state_ad_scores(m, s), std::vector<char>(e.size(), 0)};
  for (std::size_t r = 0; r < e.size(); ++r)
    out.own_history[r] = m.scores_against_own_history(e.stores[static_cast<std::size_t>(e.store[r])]);
  if (std::find(out.own_history.begin(), out.own_history.end(), 1) == out.own_history.end()) return out;
  const std::vector<double> own = history_ad_scores(m, e, raw_history_scores(m, e));
  for (std::size_t r = 0; r < e.size(); ++r)
    if (out.own_history[r]) out.score[r] = own[r];
  return out;
}

// How far a pod moved, and from what: its own windows before the fault, else a tuned baseline, else the window's
// pods (`reference_rows` and `baseline` both empty). FC reads the culprit's move against the same reference.
struct Deviation {
  std::size_t comp;                          // component row
  double score;                              // larger: moved more
  std::vector<std::size_t> reference_rows;   // the component's own windows its reference is the mean of
  const std::vector<float>* baseline = nullptr;  // else the state's / global tuned baseline (the models own it)
};

// A pod's distance in units of its normal variation. Its spread comes from a few overlapping windows (8: four
// minutes), a noisy estimate that makes a pod that happened to sit still look far moved; each is shrunk halfway
// towards the median spread of the window's pods (a pooled estimate, as James-Stein shrinks). Measured on two
// make quality runs' embeddings: per-event pod AS@1 on the demo's held-out system 50 -> 62 and 42 -> 62, held-out
// period 64 -> 68 and 60 -> 60, Nezha unchanged (docs/evaluation.md). Pods without a reference keep the distance.
void divide_by_shrunk_spread(std::vector<Deviation>& devs, const std::vector<double>& spreads) {
  std::vector<double> known;
  for (double x : spreads)
    if (x > 0) known.push_back(x);
  if (known.empty()) return;
  const double pooled = robust_centre(known).median;
  for (std::size_t k = 0; k < devs.size(); ++k)
    if (spreads[k] > 0) devs[k].score /= 0.5 * spreads[k] + 0.5 * pooled + 1e-9;
}

// How far each of window r's components moved (see the header): from its own windows before the fault, else the
// state's / global tuned baseline, else the window's mean component.
std::vector<Deviation> deviations(const StateModels& m, const Scene& s, std::size_t r) {
  const EmbeddingSet& e = s.e;
  const std::size_t d = e.comp.cols;
  const std::vector<float> peers = mean_of(e.comp, s.comps[r]);
  const auto& state_baselines = m.state_baselines[static_cast<std::size_t>(s.state[r])];
  std::vector<Deviation> out;
  std::vector<double> spreads;  // per deviation: its pod's spread before the fault (0: no such reference)
  Reference ref;
  for (std::size_t c : s.comps[r]) {
    const std::pair<int, int> key{e.store[r], e.comp_id[c]};
    double spread = 0;
    const std::vector<float>* base = &peers;
    const bool has_history = s.history.reference(key.first, key.second, s.reference_time(r), ref);
    if (has_history) {
      base = &ref.mean;
      spread = ref.spread;
    } else if (state_baselines.count(key)) {
      base = &state_baselines.at(key);
    } else if (m.global_baselines.count(key)) {
      base = &m.global_baselines.at(key);
    }
    Deviation dev{c, 1.0 - cosine(e.comp.row(c), base->data(), d), {}, nullptr};
    if (has_history) dev.reference_rows = ref.rows;
    else if (base != &peers) dev.baseline = base;
    out.push_back(std::move(dev));
    spreads.push_back(spread);
  }
  divide_by_shrunk_spread(out, spreads);
  std::sort(out.begin(), out.end(), [](const Deviation& a, const Deviation& b) { return a.score > b.score; });
  return out;
}

// How window r's culprit moved in the embedding FC reads: its fused pod z (fc_embedding state) against FL's
// reference for it, or its modality embeddings against the mean of the same reference rows (none: the window's
// pods; there are no tuned baselines of the modality embeddings). Taken for the culprit alone: deviations() serves
// FL, every pod of every window.
std::vector<float> fc_move(const StateModels& m, const Scene& s, std::size_t r, const Deviation& culprit) {
  const bool fused = m.options.fc_embedding == "state";
  const Matrix& x = fused ? s.e.comp : s.e.comp_modalities;
  const std::vector<float> base = fused && culprit.reference_rows.empty() && culprit.baseline
                                      ? *culprit.baseline
                                      : mean_of(x, culprit.reference_rows.empty() ? s.comps[r] : culprit.reference_rows);
  std::vector<float> out(x.cols);
  for (std::size_t j = 0; j < x.cols; ++j) out[j] = x.row(culprit.comp)[j] - base[j];
  return out;
}

// FC's fault signature of window r (see the header), with `culprit` the component taken as the root cause.
std::vector<float> signature(const StateModels& m, const Scene& s, std::size_t r, const Deviation* culprit) {
  const EmbeddingSet& e = s.e;
  const std::size_t width = m.options.fc_embedding == "state" ? e.comp.cols : e.comp_modalities.cols;
  std::vector<float> moved = culprit ? fc_move(m, s, r, *culprit) : std::vector<float>(width, 0.0f);
  if (m.options.fc_move == "direction") moved = unit(std::move(moved));
  if (m.options.fc_signature == "culprit") return moved;
  const GaussianModel& g = m.ad_model(s.state[r]);
  std::vector<float> shift(e.z.cols);
  for (std::size_t j = 0; j < e.z.cols; ++j) shift[j] = e.z.row(r)[j] - g.mean[j];
  std::vector<float> out = unit(std::move(shift));
  out.insert(out.end(), moved.begin(), moved.end());
  return out;
}

// The rows of `train` AD's Gaussians are fitted on: normal (0) or unlabelled (-1).
std::vector<std::size_t> normal_rows(const EmbeddingSet& e, const std::vector<std::size_t>& train) {
  std::vector<std::size_t> normal;
  for (auto r : train)
    if (e.label[r] == 0 || e.label[r] == -1) normal.push_back(r);
  return normal;
}

// Each normal tuning window's raw score under its model (its state's, else the global one) fitted without the
// window's fold: the model's normal windows in `folds` contiguous blocks of time (overlapping windows share events,
// so a fold is a stretch, not a stride). In-sample distances are smaller than those of windows the model never saw
// (a Gaussian of tens of windows in hundreds of dimensions fits them closely), so a centre and threshold from them
// misjudge every later window: on Nezha, with states of normal windows, 63% of Online Boutique's later windows
// flagged and none of Train-Ticket's.
void cross_fit_normal_raw(const StateModels& m, const EmbeddingSet& e, const std::vector<std::size_t>& normal,
                          const std::vector<int>& state, std::vector<double>& raw) {
  std::map<const GaussianModel*, std::vector<std::size_t>> scored_by;  // model -> the normal rows it scores
  for (auto r : normal) scored_by[&m.ad_model(state[r])].push_back(r);
  for (const auto& [model, scored] : scored_by) {
    // the rows the model was fitted on: its state's normal windows, or all of them for the global model
    std::vector<std::size_t> fitted = model == &m.global_ad ? normal : scored;
    std::sort(fitted.begin(), fitted.end(), [&](std::size_t a, std::size_t b) {
      return std::make_pair(e.store[a], e.begin_ns[a]) < std::make_pair(e.store[b], e.begin_ns[b]);
    });
    const std::set<std::size_t> scored_set(scored.begin(), scored.end());
    const std::size_t n = fitted.size(), folds = std::min(m.options.ad_folds, n);
    for (std::size_t f = 0; f < folds; ++f) {
      const std::size_t begin = f * n / folds, end = (f + 1) * n / folds;
      std::vector<std::size_t> rest(fitted.begin(), fitted.begin() + static_cast<std::ptrdiff_t>(begin));
      rest.insert(rest.end(), fitted.begin() + static_cast<std::ptrdiff_t>(end), fitted.end());
      if (rest.size() < 2) continue;
      const GaussianModel without = fit_gaussian(e.z, rest, m.options.shrinkage);
      for (std::size_t i = begin; i < end; ++i)
        if (scored_set.count(fitted[i])) raw[fitted[i]] = without.score(e.z.row(fitted[i]), e.z.cols);
    }
  }
}

void fit_ad(StateModels& m, const EmbeddingSet& e, const std::vector<std::size_t>& train,
            const std::vector<int>& state) {
  const std::size_t K = m.centroids.rows;
  const std::vector<std::size_t> normal = normal_rows(e, train);
  if (normal.size() < 2) throw Error("fewer than 2 normal training windows", "tuning", "a split with normal windows");
  m.global_ad = fit_gaussian(e.z, normal, m.options.shrinkage);
  m.state_ad.assign(K, GaussianModel{});
  for (std::size_t k = 0; k < K; ++k) {
    std::vector<std::size_t> normal_k;
    for (auto r : normal)
      if (state[r] == static_cast<int>(k)) normal_k.push_back(r);
    if (normal_k.size() >= m.options.min_state_windows) m.state_ad[k] = fit_gaussian(e.z, normal_k, m.options.shrinkage);
  }
}

// The scores' fallback centre and the threshold, from the windows' raw AD scores with the normal tuning windows'
// cross-fitted (ad_folds > 1).
void fit_ad_threshold(StateModels& m, const Scene& s, const std::vector<std::size_t>& train) {
  std::vector<double> raw = raw_ad_scores(m, s);
  const std::vector<std::size_t> normal = normal_rows(s.e, train);
  if (m.options.ad_folds > 1) cross_fit_normal_raw(m, s.e, normal, s.state, raw);
  std::vector<double> normal_raw;
  for (auto r : normal) normal_raw.push_back(raw[r]);
  m.normal_scores = robust_centre(std::move(normal_raw));
  const std::vector<double> scores = trailing_robust_z(raw, s.e.store, s.e.begin_ns, m.options.history_windows,
                                                       kMinHistory, m.normal_scores);
  m.threshold = choose_threshold(scores, s.e, train, m.options.quantile, m.options.threshold);
}

// The own-history score's fallback centre and threshold, from the tuning split as the state models' are.
void fit_history_ad(StateModels& m, const EmbeddingSet& e, const std::vector<std::size_t>& train) {
  const std::vector<double> raw = raw_history_scores(m, e);
  std::vector<double> normal_raw;
  for (auto r : train)
    if (e.label[r] != 1) normal_raw.push_back(raw[r]);
  m.history_normal_scores = robust_centre(std::move(normal_raw));
  m.history_threshold =
      choose_threshold(history_ad_scores(m, e, raw), e, train, m.options.quantile, m.options.threshold);
}

void fit_fl_baselines(StateModels& m, const EmbeddingSet& e, const std::vector<std::size_t>& train,
                      const std::vector<int>& state) {
  const std::size_t K = m.centroids.rows;
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
  m.state_baselines.assign(K, {});
  for (auto& [key, rows] : comp_rows) m.global_baselines[key] = mean_of(e.comp, rows);
  for (std::size_t k = 0; k < K; ++k)
    for (auto& [key, rows] : state_comp_rows[k])
      if (rows.size() >= 3) m.state_baselines[k][key] = mean_of(e.comp, rows);
}

// The signatures' covariance about their own type's mean (pooled over types), shrunk as AD's is, factored.
CholeskyFactor within_type_covariance(const std::map<int, std::vector<std::vector<float>>>& by_type,
                                      const std::map<int, std::vector<float>>& type_means, double shrinkage) {
  Matrix residuals;
  residuals.cols = type_means.begin()->second.size();
  for (const auto& [t, sigs] : by_type) {
    const std::vector<float>& mean = type_means.at(t);
    for (const auto& sig : sigs) {
      for (std::size_t j = 0; j < sig.size(); ++j) residuals.data.push_back(sig[j] - mean[j]);
      ++residuals.rows;
    }
  }
  std::vector<std::size_t> rows(residuals.rows);
  std::iota(rows.begin(), rows.end(), std::size_t{0});
  return CholeskyFactor(shrunk_covariance(residuals, rows, mean_of(residuals, rows), shrinkage), residuals.cols,
                        "tuning::FC");
}

// Every prototype (global and per state) beside the place of its linear discriminant, the state ones emptied.
std::vector<std::pair<const std::vector<float>*, LinearDiscriminant*>> discriminant_slots(StateModels& m) {
  m.state_discriminants.assign(m.state_prototypes.size(), {});
  std::vector<std::pair<const std::vector<float>*, LinearDiscriminant*>> slots;
  for (const auto& [t, p] : m.global_prototypes) slots.emplace_back(&p, &m.global_discriminants[t]);
  for (std::size_t k = 0; k < m.state_prototypes.size(); ++k)
    for (const auto& [t, p] : m.state_prototypes[k]) slots.emplace_back(&p, &m.state_discriminants[k][t]);
  return slots;
}

// Every prototype's linear discriminant under the within-type covariance: their weights (P p) solved together, one
// right-hand side a prototype.
void set_discriminants(StateModels& m, const CholeskyFactor& within) {
  const auto targets = discriminant_slots(m);
  const std::size_t d = within.dim(), n = targets.size();
  std::vector<double> prototypes(d * n);
  for (std::size_t i = 0; i < n; ++i)
    for (std::size_t j = 0; j < d; ++j) prototypes[j * n + i] = (*targets[i].first)[j];
  const std::vector<double> weights = within.solve(prototypes, n);
  for (std::size_t i = 0; i < n; ++i) {
    std::vector<double> w(d);
    for (std::size_t j = 0; j < d; ++j) w[j] = weights[j * n + i];
    *targets[i].second = LinearDiscriminant::of_weights(*targets[i].first, std::move(w));
  }
}

void fit_fc_prototypes(StateModels& m, const Scene& s, const std::vector<std::size_t>& train) {
  const EmbeddingSet& e = s.e;
  const std::size_t K = m.centroids.rows;
  std::map<int, std::vector<std::vector<float>>> by_type;
  std::vector<std::map<int, std::vector<std::vector<float>>>> by_state_type(K);
  for (auto r : train) {
    if (e.label[r] != 1 || e.fault_type[r] < 0) continue;
    auto devs = deviations(m, s, r);
    const Deviation* culprit = devs.empty() ? nullptr : &devs.front();
    for (const auto& d : devs)
      if (e.comp_id[d.comp] == e.root_cause[r]) culprit = &d;
    auto sig = signature(m, s, r, culprit);
    by_type[e.fault_type[r]].push_back(sig);
    by_state_type[static_cast<std::size_t>(s.state[r])][e.fault_type[r]].push_back(std::move(sig));
  }
  auto mean = [](const std::vector<std::vector<float>>& v) {
    std::vector<float> out(v.front().size(), 0.0f);
    for (const auto& x : v)
      for (std::size_t j = 0; j < x.size(); ++j) out[j] += x[j] / static_cast<float>(v.size());
    return out;
  };
  m.state_prototypes.assign(K, {});
  for (auto& [t, sigs] : by_type) m.global_prototypes[t] = mean(sigs);
  for (std::size_t k = 0; k < K; ++k)
    for (auto& [t, sigs] : by_state_type[k])
      if (sigs.size() >= 3) m.state_prototypes[k][t] = mean(sigs);
  m.state_discriminants.assign(K, {});
  if (m.options.fc_model == "gaussian" && !by_type.empty())
    set_discriminants(m, within_type_covariance(by_type, m.global_prototypes, m.options.shrinkage));
}

}  // namespace

double mahalanobis_squared(const float* x, const float* mean, const std::vector<double>& precision, std::size_t d) {
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

LinearDiscriminant LinearDiscriminant::of(const std::vector<float>& prototype, const std::vector<double>& precision) {
  const std::size_t d = prototype.size();
  std::vector<double> weights(d, 0.0);
  for (std::size_t i = 0; i < d; ++i)
    for (std::size_t j = 0; j < d; ++j) weights[i] += precision[i * d + j] * prototype[j];
  return of_weights(prototype, std::move(weights));
}

LinearDiscriminant LinearDiscriminant::of_weights(const std::vector<float>& prototype, std::vector<double> weights) {
  LinearDiscriminant out;
  out.weights = std::move(weights);
  for (std::size_t i = 0; i < prototype.size(); ++i) out.offset += out.weights[i] * prototype[i];
  return out;
}

double LinearDiscriminant::score(const std::vector<float>& x) const {
  double dot = 0;
  for (std::size_t i = 0; i < x.size(); ++i) dot += weights[i] * x[i];
  return offset - 2 * dot;
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

void check_tune_options(const TuneOptions& o) {
  if (o.ad_folds < 1) throw ConfigError("tune.ad_folds 0", "tune.ad_folds", "at least 1 (1: in-sample)");
  if (o.ad_reference != "auto" && o.ad_reference != "state" && o.ad_reference != "history")
    throw ConfigError("unknown AD reference '" + o.ad_reference + "'", "tune.ad_reference", "auto, state or history");
  if (o.fc_signature != "culprit" && o.fc_signature != "state_and_culprit")
    throw ConfigError("unknown FC signature '" + o.fc_signature + "'", "tune.fc_signature", "culprit or state_and_culprit");
  if (o.fc_evidence != "incident" && o.fc_evidence != "window")
    throw ConfigError("unknown FC evidence '" + o.fc_evidence + "'", "tune.fc_evidence", "incident or window");
  if (o.fc_embedding != "modalities" && o.fc_embedding != "state")
    throw ConfigError("unknown FC embedding '" + o.fc_embedding + "'", "tune.fc_embedding", "modalities or state");
  if (o.fc_move != "displacement" && o.fc_move != "direction")
    throw ConfigError("unknown FC move '" + o.fc_move + "'", "tune.fc_move", "displacement or direction");
  if (o.fc_model != "gaussian" && o.fc_model != "prototype")
    throw ConfigError("unknown FC model '" + o.fc_model + "'", "tune.fc_model", "gaussian or prototype");
  if (!(o.fl_callee_discount >= 0 && o.fl_callee_discount <= 10))
    throw ConfigError(fmt::format("FL callee discount {} out of range", o.fl_callee_discount), "tune.fl_callee_discount",
                      "a weight in [0, 10] (0: the call graph unused)");
}

bool StateModels::scores_against_own_history(const std::string& store_path) const {
  return options.ad_reference == "history" || (options.ad_reference == "auto" && !tuned_stores.count(store_path));
}

const GaussianModel& StateModels::ad_model(int state) const {
  const auto k = static_cast<std::size_t>(state);
  return k < state_ad.size() && !state_ad[k].mean.empty() ? state_ad[k] : global_ad;
}

StateModels fit_state_models(const EmbeddingSet& e, const std::vector<std::size_t>& train, const Matrix& centroids,
                             const TuneOptions& options) {
  StateModels m;
  m.options = options;
  m.centroids = centroids;
  check_tune_options(options);
  if (options.fc_embedding == "modalities" && (e.comp_modalities.rows != e.comp.rows || e.comp.rows == 0)) {
    spdlog::warn("the embeddings have no modality embeddings per pod (written before them, or with "
                 "embed.components.embedding=text): FC reads the fused pod embedding (tune.fc_embedding=state)");
    m.options.fc_embedding = "state";
  }
  for (auto r : train) m.tuned_stores.insert(e.stores[static_cast<std::size_t>(e.store[r])]);
  Scene scene(m, e);
  fit_ad(m, e, train, scene.state);
  fit_ad_threshold(m, scene, train);
  fit_history_ad(m, e, train);
  fit_fl_baselines(m, e, train, scene.state);
  fit_fc_prototypes(m, scene, train);
  return m;
}

namespace {

struct RankingFigures {
  std::vector<int> pod, service;
  // Top-k shares (named `prefix`k: top1 per window, as1 per event as Nezha names its accuracy) and MRR.
  nlohmann::json to_json(const std::string& prefix) const {
    auto level = [&](const std::vector<int>& ranks) {
      return nlohmann::json{{prefix + "1", top_k(ranks, 1)}, {prefix + "3", top_k(ranks, 3)},
                            {prefix + "5", top_k(ranks, 5)}, {"mrr", mean_reciprocal_rank(ranks)}};
    };
    return {{"pod", level(pod)}, {"service", level(service)}};
  }
  void add(const EmbeddingSet& e, const std::vector<std::pair<double, std::size_t>>& ranked_comps, std::size_t r) {
    std::vector<int> pods, services;
    for (const auto& [score, c] : ranked_comps) {
      pods.push_back(e.comp_id[c]);
      if (std::find(services.begin(), services.end(), e.comp_service[c]) == services.end())
        services.push_back(e.comp_service[c]);
    }
    pod.push_back(rank_of(pods, e.root_cause[r]));
    service.push_back(rank_of(services, e.root_service[r]));
  }
};

nlohmann::json detection_figures(const StateModels& m, const EmbeddingSet& e, const AdScores& ad_score,
                                 const std::vector<std::size_t>& test, const std::vector<int>& state) {
  const std::vector<double>& score = ad_score.score;
  std::vector<int> truth, predicted;
  std::vector<double> scores;
  std::map<std::pair<int, int>, bool> event_detected;  // (store, fault) -> any window flagged
  std::size_t state_models_used = 0, own_history_windows = 0;
  for (auto r : test) {
    own_history_windows += ad_score.own_history[r];
    state_models_used += &m.ad_model(state[r]) != &m.global_ad;
    const int flag = score[r] > ad_score.threshold(m, r);
    if (e.label[r] >= 0) {
      truth.push_back(e.label[r]);
      predicted.push_back(flag);
      scores.push_back(score[r]);
    }
    if (e.label[r] == 1 && e.fault[r] >= 0) {
      auto& detected = event_detected[{e.store[r], e.fault[r]}];
      detected = detected || flag;
    }
  }
  PRF ad = binary_prf(truth, predicted);
  std::size_t detected = 0;
  for (auto& [k, v] : event_detected) detected += v;
  const std::size_t flagged = static_cast<std::size_t>(std::count(predicted.begin(), predicted.end(), 1));
  const std::size_t positives = static_cast<std::size_t>(std::count(truth.begin(), truth.end(), 1));
  return {{"precision", ad.precision}, {"recall", ad.recall}, {"f1", ad.f1},
          {"auroc", roc_auc(scores, truth)}, {"auprc", average_precision(scores, truth)},
          {"oracle_f1", best_f1(scores, truth).f1}, {"threshold", m.threshold},
          {"history_threshold", m.history_threshold}, {"own_history_windows", own_history_windows},
          {"flagged_share", truth.empty() ? 0.0 : static_cast<double>(flagged) / static_cast<double>(truth.size())},
          {"base_rate", truth.empty() ? 0.0 : static_cast<double>(positives) / static_cast<double>(truth.size())},
          {"windows", truth.size()}, {"events", event_detected.size()},
          {"event_recall", event_detected.empty() ? 0.0 : static_cast<double>(detected) / event_detected.size()},
          {"state_models_used", state_models_used},
          {"rule", {{"threshold", m.options.threshold}, {"quantile", m.options.quantile},
                    {"min_state_windows", m.options.min_state_windows},
                    {"history_windows", m.options.history_windows}}}};
}

}  // namespace

namespace {

// FC: fault types ranked by the distance of a signature to their prototypes: Mahalanobis under the models' FC
// precision (their discriminants: fc_model gaussian), else 1 - cosine.
std::vector<int> rank_by_prototypes(const std::vector<float>& sig, const std::map<int, std::vector<float>>& protos,
                                    const std::map<int, LinearDiscriminant>& discriminants) {
  std::vector<std::pair<double, int>> types;
  for (auto& [t, p] : protos)
    types.emplace_back(discriminants.empty() ? -cosine(sig.data(), p.data(), sig.size()) : discriminants.at(t).score(sig),
                       t);
  std::sort(types.begin(), types.end());
  std::vector<int> ranking;
  for (auto& [score, t] : types) ranking.push_back(t);
  return ranking;
}

// A state's per-type entries over the global ones (the global ones fill the types the state lacks).
template <typename T>
std::map<int, T> state_over_global(std::map<int, T> global, const std::map<int, T>& state) {
  for (const auto& [t, v] : state) global[t] = v;
  return global;
}

// Window r's fault types ranked by `sig` against its state's prototypes and their discriminants.
std::vector<int> rank_fault_types(const StateModels& m, const Scene& s, std::size_t r, const std::vector<float>& sig) {
  const auto k = static_cast<std::size_t>(s.state[r]);
  return rank_by_prototypes(sig, state_over_global(m.global_prototypes, m.state_prototypes[k]),
                            m.global_discriminants.empty()
                                ? m.global_discriminants
                                : state_over_global(m.global_discriminants, m.state_discriminants.at(k)));
}

// FL per fault event: each event's pods scored by the mean of their scores over its test windows, discounted by
// what their callees explain (tuning/call_graph.h), ranked once.
class EventRanking {
 public:
  EventRanking(const CallGraph& graph, double callee_discount) : graph_(graph), callee_discount_(callee_discount) {}
  void add(const EmbeddingSet& e, std::size_t r, const std::vector<Deviation>& devs) {
    Event& ev = events_[{e.store[r], e.fault[r]}];
    ev.rows.push_back(r);
    ev.devs.push_back(devs);
    for (const auto& d : devs) {
      auto& [sum, n, comp] = ev.pods[e.comp_id[d.comp]];
      sum += d.score;
      ++n;
      comp = d.comp;
    }
  }
  RankingFigures figures(const EmbeddingSet& e) const {
    RankingFigures out;
    for (const auto& [key, ev] : events_) out.add(e, ranked(e, ev), ev.rows.back());
    return out;
  }
  std::size_t size() const { return events_.size(); }
  // FC per window with fc_evidence "incident": the mean signature of window r's fault over its windows added so
  // far, with the incident's top-ranked pod so far as the culprit.
  std::vector<float> signature_so_far(const StateModels& m, const Scene& s, std::size_t r) const {
    return mean_signature(m, s, events_.at({s.e.store[r], s.e.fault[r]}));
  }
  // The pods of window r's fault ranked by their mean score over the fault's windows added so far.
  std::vector<std::pair<double, std::size_t>> ranked_so_far(const EmbeddingSet& e, std::size_t r) const {
    return ranked(e, events_.at({e.store[r], e.fault[r]}));
  }

  // FC per fault event: the event's signature is the mean of its windows' signatures, each taken with the
  // event's top-ranked pod (FL per event) as the culprit; ranked once against the global prototypes.
  void classify(const StateModels& m, const Scene& s, std::vector<int>& type_ranks, std::vector<int>& truth,
                std::vector<int>& predicted) const {
    const EmbeddingSet& e = s.e;
    for (const auto& [key, ev] : events_) {
      const int type = e.fault_type[ev.rows.back()];
      if (type < 0 || !m.global_prototypes.count(type)) continue;
      const std::vector<int> ranking = rank_by_prototypes(mean_signature(m, s, ev), m.global_prototypes, m.global_discriminants);
      type_ranks.push_back(rank_of(ranking, type));
      truth.push_back(type);
      predicted.push_back(ranking.front());
    }
  }

 private:
  struct Event {
    std::vector<std::size_t> rows;                               // its test windows with ranked pods
    std::vector<std::vector<Deviation>> devs;                    // per window: its pods' deviations
    std::map<int, std::tuple<double, int, std::size_t>> pods;    // pod id -> (score sum, windows, a comp row)
  };
  std::map<std::pair<int, int>, Event> events_;
  const CallGraph& graph_;
  double callee_discount_;

  // The mean of the event's windows' signatures, each with the event's top-ranked pod as the culprit.
  std::vector<float> mean_signature(const StateModels& m, const Scene& s, const Event& ev) const {
    const EmbeddingSet& e = s.e;
    const int culprit = e.comp_id[ranked(e, ev).front().second];
    std::vector<float> mean;
    for (std::size_t k = 0; k < ev.rows.size(); ++k) {
      const Deviation* d = nullptr;
      for (const auto& x : ev.devs[k])
        if (e.comp_id[x.comp] == culprit) d = &x;
      const auto sig = signature(m, s, ev.rows[k], d);
      if (mean.empty()) mean.assign(sig.size(), 0.0f);
      for (std::size_t j = 0; j < sig.size(); ++j) mean[j] += sig[j] / static_cast<float>(ev.rows.size());
    }
    return mean;
  }

  // The event's pods by their mean score less what their callees explain, highest first, as (-score, a comp row).
  std::vector<std::pair<double, std::size_t>> ranked(const EmbeddingSet& e, const Event& ev) const {
    std::vector<std::pair<double, std::size_t>> out;
    for (const auto& [pod, acc] : ev.pods) out.emplace_back(std::get<0>(acc) / std::get<1>(acc), std::get<2>(acc));
    discount_by_callees(out, e, graph_, e.store[ev.rows.back()], callee_discount_);
    for (auto& p : out) p.first = -p.first;
    std::sort(out.begin(), out.end());
    return out;
  }
};

}  // namespace

namespace {

// The abnormal windows of `test`, each store's in time order (FL accumulates a fault's evidence window by window).
std::vector<std::size_t> abnormal_in_time_order(const EmbeddingSet& e, const std::vector<std::size_t>& test) {
  std::vector<std::size_t> rows;
  for (auto r : test)
    if (e.label[r] == 1) rows.push_back(r);
  std::stable_sort(rows.begin(), rows.end(), [&](std::size_t a, std::size_t b) {
    return std::pair{e.store[a], e.begin_ns[a]} < std::pair{e.store[b], e.begin_ns[b]};
  });
  return rows;
}

// The deviation, in this window, of the pod ranked first (nullptr without pods).
const Deviation* culprit_of(const EmbeddingSet& e, const std::vector<Deviation>& devs,
                            const std::vector<std::pair<double, std::size_t>>& ranked) {
  if (devs.empty() || ranked.empty()) return nullptr;
  for (const auto& d : devs)
    if (e.comp_id[d.comp] == e.comp_id[ranked.front().second]) return &d;
  return &devs.front();
}

}  // namespace

Evaluation evaluate(const StateModels& m, const EmbeddingSet& e, const std::vector<std::size_t>& test) {
  Evaluation out;
  Scene s(m, e);
  RankingFigures per_window;
  const CallGraph graph(e);
  EventRanking per_event(graph, m.options.fl_callee_discount);
  std::vector<int> type_ranks;
  std::set<int> unseen_types;
  std::size_t unseen_windows = 0;
  for (auto r : abnormal_in_time_order(e, test)) {
    const auto devs = deviations(m, s, r);
    const bool ranked_pods = !devs.empty() && e.root_cause[r] >= 0;
    // A window of a fault ranks its pods by the incident so far: their mean score over the fault's windows up to
    // and including it (a localizer watching the incident keeps its evidence); its FC culprit is the top one.
    std::vector<std::pair<double, std::size_t>> ranked;
    const bool in_incident = ranked_pods && e.fault[r] >= 0;
    if (in_incident) {
      per_event.add(e, r, devs);
      ranked = per_event.ranked_so_far(e, r);
    } else {
      for (const auto& d : devs) ranked.emplace_back(-d.score, d.comp);
    }
    if (e.fault_type[r] >= 0 && !m.global_prototypes.empty()) {
      if (!m.global_prototypes.count(e.fault_type[r])) {
        ++unseen_windows;
        unseen_types.insert(e.fault_type[r]);
      } else {
        // The incident so far (as FL's culprit) where the window belongs to a fault with ranked pods; else the
        // window alone.
        const bool incident = m.options.fc_evidence == "incident" && in_incident;
        const auto sig = incident ? per_event.signature_so_far(m, s, r) : signature(m, s, r, culprit_of(e, devs, ranked));
        const auto ranking = rank_fault_types(m, s, r, sig);
        type_ranks.push_back(rank_of(ranking, e.fault_type[r]));
        out.true_fault_type.push_back(e.fault_type[r]);
        out.predicted_fault_type.push_back(ranking.front());
      }
    }
    if (ranked_pods) per_window.add(e, ranked, r);
  }
  PRF fc = macro_prf(out.true_fault_type, out.predicted_fault_type);
  std::vector<int> event_type_ranks, event_truth, event_predicted;
  per_event.classify(m, s, event_type_ranks, event_truth, event_predicted);
  const PRF fc_events = macro_prf(event_truth, event_predicted);
  nlohmann::json events = per_event.figures(e).to_json("as");
  events["events"] = per_event.size();
  nlohmann::json fl = per_window.to_json("top");
  fl["windows"] = per_window.pod.size();
  fl["call_graph_calls"] = e.call_store.size();
  fl["callee_discount"] = m.options.fl_callee_discount;
  fl["events"] = events;
  out.metrics = {{"ad", detection_figures(m, e, ad_scores(m, s), test, s.state)},
                 {"fl", fl},
                 {"fc", {{"precision", fc.precision}, {"recall", fc.recall}, {"f1", fc.f1},
                         {"mrr", mean_reciprocal_rank(type_ranks)}, {"windows", type_ranks.size()},
                         {"types", m.global_prototypes.size()}, {"unseen_windows", unseen_windows},
                         {"unseen_types", unseen_types.size()},
                         {"events", {{"precision", fc_events.precision}, {"recall", fc_events.recall},
                                     {"f1", fc_events.f1}, {"mrr", mean_reciprocal_rank(event_type_ranks)},
                                     {"events", event_type_ranks.size()}}}}}};
  return out;
}

nlohmann::json StateModels::to_json() const {
  auto gaussian = [](const GaussianModel& g) {
    return nlohmann::json{{"mean", g.mean}, {"precision", g.precision}, {"windows", g.windows}};
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
  j["normal_scores"] = {{"median", normal_scores.median}, {"scale", normal_scores.scale}};
  j["threshold"] = threshold;
  j["history_normal_scores"] = {{"median", history_normal_scores.median}, {"scale", history_normal_scores.scale}};
  j["history_threshold"] = history_threshold;
  j["tuned_stores"] = tuned_stores;
  j["global_prototypes"] = protos(global_prototypes);
  auto discriminants = [](const std::map<int, LinearDiscriminant>& ds) {
    nlohmann::json o = nlohmann::json::object();
    for (const auto& [t, d] : ds) o[std::to_string(t)] = {{"weights", d.weights}, {"offset", d.offset}};
    return o;
  };
  j["global_discriminants"] = discriminants(global_discriminants);
  j["state_discriminants"] = nlohmann::json::array();
  for (const auto& ds : state_discriminants) j["state_discriminants"].push_back(discriminants(ds));
  j["state_prototypes"] = nlohmann::json::array();
  for (const auto& p : state_prototypes) j["state_prototypes"].push_back(protos(p));
  j["global_baselines"] = bases(global_baselines);
  j["state_baselines"] = nlohmann::json::array();
  for (const auto& b : state_baselines) j["state_baselines"].push_back(bases(b));
  j["options"] = {{"shrinkage", options.shrinkage}, {"quantile", options.quantile},
                  {"min_state_windows", options.min_state_windows}, {"history_windows", options.history_windows},
                  {"ad_folds", options.ad_folds},
                  {"reference_windows", options.reference_windows}, {"threshold", options.threshold},
                  {"fc_signature", options.fc_signature}, {"fc_model", options.fc_model},
                  {"fc_evidence", options.fc_evidence}, {"fc_embedding", options.fc_embedding},
                  {"fc_move", options.fc_move},
                  {"ad_reference", options.ad_reference},
                  {"fl_callee_discount", options.fl_callee_discount}};
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
  m.normal_scores = {j["normal_scores"]["median"].get<double>(), j["normal_scores"]["scale"].get<double>()};
  m.threshold = j["threshold"];
  if (j.contains("history_threshold")) {  // models tuned before the own-history reference score every store by state
    m.history_normal_scores = {j["history_normal_scores"]["median"].get<double>(),
                               j["history_normal_scores"]["scale"].get<double>()};
    m.history_threshold = j["history_threshold"];
    m.tuned_stores = j["tuned_stores"].get<std::set<std::string>>();
  }
  m.global_prototypes = protos(j["global_prototypes"]);
  for (const auto& p : j["state_prototypes"]) m.state_prototypes.push_back(protos(p));
  auto discriminants = [](const nlohmann::json& o) {
    std::map<int, LinearDiscriminant> ds;
    for (const auto& [t, d] : o.items())
      ds[std::stoi(t)] = {d["weights"].get<std::vector<double>>(), d["offset"].get<double>()};
    return ds;
  };
  m.state_discriminants.assign(m.state_prototypes.size(), {});
  if (j.contains("global_discriminants")) {
    m.global_discriminants = discriminants(j["global_discriminants"]);
    for (std::size_t k = 0; k < m.state_prototypes.size(); ++k)
      m.state_discriminants[k] = discriminants(j["state_discriminants"].at(k));
  } else if (j.contains("fc_precision") && !j["fc_precision"].empty()) {  // older models: the precision itself
    const auto precision = j["fc_precision"].get<std::vector<double>>();
    for (auto [prototype, discriminant] : discriminant_slots(m)) *discriminant = LinearDiscriminant::of(*prototype, precision);
  }  // older still: cosine
  m.global_baselines = bases(j["global_baselines"]);
  for (const auto& b : j["state_baselines"]) m.state_baselines.push_back(bases(b));
  m.options.shrinkage = j["options"]["shrinkage"];
  m.options.quantile = j["options"]["quantile"];
  m.options.min_state_windows = j["options"]["min_state_windows"];
  m.options.history_windows = j["options"]["history_windows"];
  m.options.ad_folds = j["options"].value("ad_folds", std::size_t{1});  // older models: in-sample
  m.options.reference_windows = j["options"]["reference_windows"];
  m.options.threshold = j["options"].value("threshold", std::string("f1"));
  m.options.fc_signature = j["options"].value("fc_signature", std::string("state_and_culprit"));  // older models
  m.options.fc_model = j["options"].value("fc_model", std::string("prototype"));  // older models
  m.options.fc_evidence = j["options"].value("fc_evidence", std::string("window"));  // older models
  m.options.fc_embedding = j["options"].value("fc_embedding", std::string("state"));  // older models
  m.options.fc_move = j["options"].value("fc_move", std::string("direction"));          // older models
  m.options.ad_reference = j["options"].value("ad_reference", std::string("state"));
  m.options.fl_callee_discount = j["options"].value("fl_callee_discount", 0.0);  // older models: no call graph
  return m;
}

}  // namespace rslicer::tuning
