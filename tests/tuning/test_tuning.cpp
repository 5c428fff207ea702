// Clustering and metrics against scikit-learn on the same data and initialisation; the state models on a
// synthetic set where the answer is known.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <cmath>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <numeric>
#include <set>
#include <random>

#include "core/error.h"
#include "tuning/clustering.h"
#include "tuning/metrics.h"
#include "tuning/split.h"
#include "tuning/tsne.h"
#include "tuning/state_models.h"
#include "tuning/trailing_scores.h"
#include "tuning/random_spd.h"
#include "test_util.h"

using namespace rslicer;
using namespace rslicer::tuning;

namespace {

Matrix blobs(std::size_t per, int k, std::size_t d, std::uint64_t seed, std::vector<int>* truth = nullptr) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> noise(0, 1);
  Matrix x(per * static_cast<std::size_t>(k), d);
  for (int c = 0; c < k; ++c)
    for (std::size_t i = 0; i < per; ++i) {
      float* row = x.row(static_cast<std::size_t>(c) * per + i);
      for (std::size_t j = 0; j < d; ++j) row[j] = noise(rng) + (j % static_cast<std::size_t>(k) == static_cast<std::size_t>(c) ? 6.0f : 0.0f);
      if (truth) truth->push_back(c);
    }
  return x;
}

// A window row's fields other than z (the caller sets z): normal, of no fault, unless given.
struct WindowFields {
  int store = 0, window = 0;
  std::int64_t begin_ns = 0;
  std::int8_t label = 0;
  int regime = 0, fault = -1;
  std::int16_t fault_type = -1;
  int root_cause = -1, root_service = -1;
};

void append_window(EmbeddingSet& e, const WindowFields& w) {
  e.store.push_back(w.store);
  e.window.push_back(w.window);
  e.begin_ns.push_back(w.begin_ns);
  e.label.push_back(w.label);
  e.regime.push_back(w.regime);
  e.fault.push_back(w.fault);
  e.fault_type.push_back(w.fault_type);
  e.root_cause.push_back(w.root_cause);
  e.root_service.push_back(w.root_service);
}

}  // namespace

TEST(Metrics, HandCheckedValues) {
  PRF p = binary_prf({1, 1, 0, 0, 1}, {1, 0, 1, 0, 1});
  EXPECT_NEAR(p.precision, 2.0 / 3, 1e-12);
  EXPECT_NEAR(p.recall, 2.0 / 3, 1e-12);
  EXPECT_NEAR(normalized_mutual_info({0, 0, 1, 1}, {5, 5, 7, 7}), 1.0, 1e-12);
  EXPECT_NEAR(adjusted_rand_index({0, 0, 1, 1}, {1, 1, 0, 0}), 1.0, 1e-12);
  EXPECT_NEAR(purity({0, 0, 1, 1}, {0, 0, 0, 1}), 0.75, 1e-12);
  EXPECT_EQ(rank_of({4, 2, 9}, 9), 3);
  EXPECT_EQ(rank_of({4, 2, 9}, 5), 0);
  EXPECT_NEAR(mean_reciprocal_rank({1, 2, 0}), 0.5, 1e-12);
  EXPECT_NEAR(top_k({1, 2, 4, 0}, 3), 0.5, 1e-12);
}

TEST(Metrics, NmiWithinGroupsScoresClustersThatOnlySplitTheGroupsAsZero) {
  // Two stores (groups), each with the regimes 0 and 1.
  const std::vector<int> regime = {0, 1, 0, 1, 0, 1, 0, 1, 0, 1}, store = {0, 0, 0, 0, 1, 1, 1, 1, 1, 1};
  EXPECT_NEAR(normalized_mutual_info_within(regime, {7, 7, 7, 7, 8, 8, 8, 8, 8, 8}, store), 0.0, 1e-12);
  EXPECT_NEAR(normalized_mutual_info_within(regime, {0, 1, 0, 1, 2, 3, 2, 3, 2, 3}, store), 1.0, 1e-12);
  EXPECT_LT(normalized_mutual_info(regime, {0, 1, 0, 1, 2, 3, 2, 3, 2, 3}), 0.9);  // pooled: the store split costs
  // Weighted by the groups' sizes: store 0 follows its regimes (1), store 1 does not (0): 4 / 10.
  EXPECT_NEAR(normalized_mutual_info_within(regime, {0, 1, 0, 1, 5, 5, 5, 5, 5, 5}, store), 0.4, 1e-12);
}

TEST(Clustering, KMeansRecoversBlobsAndGmmAgrees) {
  std::vector<int> truth;
  Matrix x = blobs(60, 3, 5, 7, &truth);
  auto km = kmeans(x, 3, 1);
  EXPECT_NEAR(normalized_mutual_info(truth, km.assignment), 1.0, 1e-9);
  auto g = gaussian_mixture(x, 3, 1);
  EXPECT_NEAR(normalized_mutual_info(truth, g.assignment), 1.0, 1e-9);
  EXPECT_GT(silhouette(x, km.assignment), 0.5);
  // BIC prefers the true K over K = 1.
  EXPECT_LT(g.bic, gaussian_mixture(x, 1, 1).bic);
  // A reduction that doubles the sums (two identical shards) gives the same centroids.
  auto doubled = kmeans_from(x, km.centroids, 50, [](std::vector<double>& v) { for (auto& a : v) a *= 2; });
  EXPECT_NEAR(doubled.inertia, 2 * km.inertia, 1e-6 * km.inertia);
}

TEST(Clustering, InertiaAndMetricsMatchScikitLearn) {
  if (std::system("/usr/bin/python3 -c 'import sklearn' > /dev/null 2>&1") != 0)
    GTEST_SKIP() << "Debian's /usr/bin/python3 with python3-sklearn is not installed";
  Matrix x = blobs(50, 4, 6, 11);
  // Overlapping blobs: move two centres closer so Lloyd has work to do.
  for (std::size_t i = 0; i < x.rows; ++i) x.row(i)[0] *= 0.3f;
  Matrix init(4, 6);
  for (int c = 0; c < 4; ++c) std::copy(x.row(static_cast<std::size_t>(c) * 7), x.row(static_cast<std::size_t>(c) * 7) + 6, init.row(static_cast<std::size_t>(c)));
  auto ours = kmeans_from(x, init, 300);
  std::vector<std::vector<float>> xs, inits;
  for (std::size_t i = 0; i < x.rows; ++i) xs.emplace_back(x.row(i), x.row(i) + 6);
  for (std::size_t i = 0; i < 4; ++i) inits.emplace_back(init.row(i), init.row(i) + 6);
  std::vector<int> t = {1, 0, 1, 1, 0, 0, 1, 0, 1, 1}, p = {1, 1, 1, 0, 0, 0, 1, 1, 0, 1};
  std::vector<int> mt = {0, 1, 2, 2, 1, 0, 3, 3}, mp = {0, 2, 2, 2, 1, 0, 3, 1};
  std::vector<int> a = {0, 0, 1, 1, 2, 2, 2, 0}, b = {1, 1, 0, 0, 0, 2, 2, 1};
  // Scores with ties (across and within the classes) for AUROC / average precision.
  std::vector<double> scores = {0.9, 0.1, 0.4, 0.4, 0.35, 0.8, 0.4, 0.05, 0.7, 0.2, 0.9, 0.3};
  std::vector<int> st = {1, 0, 1, 0, 1, 1, 0, 0, 0, 0, 0, 1};
  test::TempDir dir;
  std::ofstream(dir / "in.json") << nlohmann::json{{"x", xs}, {"init", inits}, {"truth", t}, {"predicted", p},
                                                   {"mt", mt}, {"mp", mp}, {"a", a}, {"b", b},
                                                   {"scores", scores}, {"st", st}}.dump();
  std::string cmd = "/usr/bin/python3 '" + std::string(RSLICER_TEST_DIR) + "/reference/sklearn_reference.py' '" +
                    (dir / "in.json").string() + "' '" + (dir / "out.json").string() + "'";
  ASSERT_EQ(std::system(cmd.c_str()), 0);
  std::ifstream f(dir / "out.json");
  auto ref = nlohmann::json::parse(f);
  const double inertia = ref["inertia"];
  std::printf("k-means inertia: ours %.4f, scikit-learn %.4f (ratio %.5f)\n", ours.inertia, inertia, ours.inertia / inertia);
  EXPECT_NEAR(ours.inertia / inertia, 1.0, 0.01);
  PRF bin = binary_prf(t, p);
  EXPECT_NEAR(bin.precision, ref["precision"].get<double>(), 1e-12);
  EXPECT_NEAR(bin.recall, ref["recall"].get<double>(), 1e-12);
  EXPECT_NEAR(bin.f1, ref["f1"].get<double>(), 1e-12);
  PRF macro = macro_prf(mt, mp);
  EXPECT_NEAR(macro.precision, ref["macro"][0].get<double>(), 1e-12);
  EXPECT_NEAR(macro.recall, ref["macro"][1].get<double>(), 1e-12);
  EXPECT_NEAR(macro.f1, ref["macro"][2].get<double>(), 1e-12);
  EXPECT_NEAR(normalized_mutual_info(a, b), ref["nmi"].get<double>(), 1e-12);
  EXPECT_NEAR(adjusted_rand_index(a, b), ref["ari"].get<double>(), 1e-12);
  EXPECT_NEAR(silhouette(x, ours.assignment), ref["silhouette"].get<double>(), 1e-5);
  EXPECT_NEAR(roc_auc(scores, st), ref["auroc"].get<double>(), 1e-12);
  EXPECT_NEAR(average_precision(scores, st), ref["auprc"].get<double>(), 1e-12);
}

TEST(Metrics, OracleF1IsTheBestOverEveryThreshold) {
  std::vector<double> scores = {0.9, 0.1, 0.4, 0.4, 0.35, 0.8, 0.4, 0.05, 0.7, 0.2, 0.9, 0.3};
  std::vector<int> st = {1, 0, 1, 0, 1, 1, 0, 0, 0, 0, 0, 1};
  double brute = 0;
  for (double th : scores) {
    std::vector<int> predicted;
    for (double s : scores) predicted.push_back(s >= th);
    brute = std::max(brute, binary_prf(st, predicted).f1);
  }
  EXPECT_NEAR(best_f1(scores, st).f1, brute, 1e-12);
  EXPECT_GT(brute, 0.5);
  EXPECT_EQ(roc_auc({1, 2, 3}, {0, 0, 0}), 0.0);  // one class only
  EXPECT_NEAR(roc_auc({1, 2, 3, 4}, {0, 0, 1, 1}), 1.0, 1e-12);
  EXPECT_NEAR(average_precision({4, 3, 2, 1}, {1, 0, 1, 0}), (1.0 + 2.0 / 3) / 2, 1e-12);
}

namespace {

// Two states (blobs in z); abnormal windows shifted along a type-specific direction; the root-cause component's
// embedding deviates from its baseline along a type-specific direction too. With `nuisance`, every root cause also
// moves along dimension 6 by a large amount and along 5 by noise n (one draw a fault) that also adds to 7, where the
// types differ by +-1, less than n varies: the cosine to the type means mixes them up, while the shared within-type
// covariance subtracts n (dimension 5) from dimension 7. Without `nuisance` no draw is made for it (the same data).
// `noisy_second`: in a fault's second window (row 8 of ten) its root cause moves at random, with no type's mark.
EmbeddingSet known_answer_set(bool nuisance = false, bool noisy_second = false) {
  std::mt19937_64 rng(5);
  std::normal_distribution<float> noise(0, 0.3f), wide(0, 2.0f);
  EmbeddingSet e;
  e.stores = {"s"};
  e.systems = {"sys"};
  const std::size_t d = 8, n = 400, comps = 4;
  e.z = Matrix(n, d);
  float shared = 0;
  for (std::size_t r = 0; r < n; ++r) {
    const int state = static_cast<int>(r % 2);
    const bool abnormal = r % 10 == 3 || r % 10 == 8;
    const int type = (r / 10) % 2;  // two fault types
    if (abnormal)
      append_window(e, {0, static_cast<int>(r), static_cast<std::int64_t>(r) * 30, 1, state, static_cast<int>(r / 10),
                        static_cast<std::int16_t>(type), type + 1, 10 + type + 1});
    else
      append_window(e, {0, static_cast<int>(r), static_cast<std::int64_t>(r) * 30, 0, state});
    for (std::size_t j = 0; j < d; ++j) e.z.row(r)[j] = noise(rng) + (state ? 4.0f : -4.0f) * (j == 0);
    if (abnormal) e.z.row(r)[2 + type] += 3.0f;
    if (nuisance && r % 10 == 0) shared = wide(rng);  // one per fault event (its windows are rows 3 and 8 of ten)
    for (std::size_t c = 0; c < comps; ++c) {
      e.comp_row.push_back(static_cast<std::int64_t>(r));
      e.comp_id.push_back(static_cast<int>(c));
      e.comp_service.push_back(static_cast<int>(10 + c));
      std::vector<float> v(d);
      for (std::size_t j = 0; j < d; ++j) v[j] = noise(rng) + (j == c ? 3.0f : 0.0f);
      const bool root = abnormal && static_cast<int>(c) == type + 1;
      if (root && noisy_second && r % 10 == 8) {
        for (float& x : v) x += wide(rng);
      } else if (root && !nuisance) {
        v[static_cast<std::size_t>(6 + type)] += 4.0f;
      }
      if (abnormal && static_cast<int>(c) == type + 1 && nuisance) {
        v[6] += 8.0f;
        v[5] += shared;
        v[7] += shared + (type ? 1.0f : -1.0f);
      }
      e.comp.data.insert(e.comp.data.end(), v.begin(), v.end());
      e.comp.rows++;
      e.comp.cols = d;
    }
  }
  e.e_m = e.e_t = e.e_l = e.z;
  return e;
}

}  // namespace

TEST(StateModels, DetectLocalizeAndClassifyWhereTheAnswerIsKnown) {
  const EmbeddingSet e = known_answer_set();
  auto split = split_rows(e, {"time", 0.6, {}});
  EXPECT_EQ(split.train.size(), 240u);
  auto km = kmeans(e.z.select(split.train), 2, 3);
  auto models = fit_state_models(e, split.train, km.centroids, {0.1, 0.99, 20});
  auto result = evaluate(models, e, split.test);
  EXPECT_GT(result.metrics["ad"]["f1"].get<double>(), 0.9) << result.metrics.dump();
  EXPECT_GT(result.metrics["fl"]["pod"]["top1"].get<double>(), 0.9) << result.metrics.dump();
  EXPECT_GT(result.metrics["fc"]["f1"].get<double>(), 0.9) << result.metrics.dump();
  EXPECT_GT(result.metrics["ad"]["auroc"].get<double>(), 0.95) << result.metrics.dump();
  EXPECT_GE(result.metrics["ad"]["oracle_f1"].get<double>(), result.metrics["ad"]["f1"].get<double>());
  // The rule the report quotes is the one the models were fitted with.
  EXPECT_DOUBLE_EQ(result.metrics["ad"]["rule"]["quantile"].get<double>(), 0.99);
  EXPECT_EQ(result.metrics["ad"]["rule"]["threshold"].get<std::string>(), "quantile");
  // Per fault event: the 16 faults of the test windows (rows 240..399: faults 24..39), each ranked once.
  EXPECT_EQ(result.metrics["fl"]["events"]["events"].get<std::size_t>(), 16u);
  EXPECT_GT(result.metrics["fl"]["events"]["pod"]["as1"].get<double>(), 0.9) << result.metrics.dump();
  EXPECT_GT(result.metrics["fl"]["events"]["service"]["as1"].get<double>(), 0.9) << result.metrics.dump();
  EXPECT_EQ(result.metrics["fc"]["unseen_windows"].get<std::size_t>(), 0u);
  // FC per event: each of the 16 test faults classified once.
  EXPECT_EQ(result.metrics["fc"]["events"]["events"].get<std::size_t>(), 16u);
  EXPECT_GT(result.metrics["fc"]["events"]["f1"].get<double>(), 0.9) << result.metrics.dump();
  // The other FC signature (z's move before the culprit's) classifies here too.
  TuneOptions with_state{0.1, 0.99, 20};
  with_state.fc_signature = "state_and_culprit";
  const auto state_fc = evaluate(fit_state_models(e, split.train, km.centroids, with_state), e, split.test).metrics["fc"];
  EXPECT_GT(state_fc["f1"].get<double>(), 0.9) << state_fc.dump();
  // A fault type absent from tuning is counted as unseen, not scored as a miss.
  EmbeddingSet renamed = e;
  for (auto r : split.test)
    if (renamed.fault_type[r] == 1) renamed.fault_type[r] = 7;
  auto with_unseen = evaluate(models, renamed, split.test);
  EXPECT_EQ(with_unseen.metrics["fc"]["unseen_types"].get<std::size_t>(), 1u);
  EXPECT_EQ(with_unseen.metrics["fc"]["unseen_windows"].get<std::size_t>() + with_unseen.metrics["fc"]["windows"].get<std::size_t>(),
            result.metrics["fc"]["windows"].get<std::size_t>());
  EXPECT_EQ(with_unseen.metrics["fc"]["events"]["events"].get<std::size_t>(), 8u);  // the type-0 faults only
  // Both threshold rules detect here; the quantile rule flags about 1 - q of the normal test windows.
  TuneOptions by_f1{0.1, 0.99, 20};
  by_f1.threshold = "f1";
  EXPECT_GT(evaluate(fit_state_models(e, split.train, km.centroids, by_f1), e, split.test).metrics["ad"]["f1"].get<double>(), 0.9);
  TuneOptions q90{0.1, 0.90, 20};
  const auto loose = evaluate(fit_state_models(e, split.train, km.centroids, q90), e, split.test).metrics["ad"];
  const double normal_flagged = (loose["flagged_share"].get<double>() - loose["recall"].get<double>() * loose["base_rate"].get<double>()) /
                                (1 - loose["base_rate"].get<double>());
  EXPECT_GT(normal_flagged, 0.02) << loose.dump();
  EXPECT_LT(normal_flagged, 0.2) << loose.dump();
  TuneOptions bad = by_f1;
  bad.threshold = "median";
  EXPECT_THROW(fit_state_models(e, split.train, km.centroids, bad), rslicer::ConfigError);
  // Round trip of the fitted models.
  auto again = StateModels::from_json(nlohmann::json::parse(models.to_json().dump()));
  EXPECT_EQ(evaluate(again, e, split.test).metrics.dump(), result.metrics.dump());
}

namespace {

struct Fitted {
  StateModels models;
  nlohmann::json metrics;
};

// State models (2 states) fitted with `options` on the first 60% of `e`'s windows, evaluated on the rest.
Fitted fitted_on_time(const EmbeddingSet& e, const TuneOptions& options) {
  const auto split = split_rows(e, {"time", 0.6, {}});
  const auto km = kmeans(e.z.select(split.train), 2, 3);
  Fitted out{fit_state_models(e, split.train, km.centroids, options), {}};
  out.metrics = evaluate(out.models, e, split.test).metrics;
  return out;
}

}  // namespace

// FC's Gaussian model (LDA) against the cosine to the type means where the types differ by less than a nuisance
// varies that also shows in another dimension: the shared covariance sees through it, the cosine does not. The
// Gaussian model is the default and round-trips; a model without its precision (an older one) ranks by cosine.
TEST(StateModels, TheGaussianFaultClassifierSeesThroughASharedNuisance) {
  const EmbeddingSet e = known_answer_set(/*nuisance=*/true);
  TuneOptions gaussian{0.1, 0.99, 20}, prototype{0.1, 0.99, 20};
  prototype.fc_model = "prototype";
  EXPECT_EQ(gaussian.fc_model, "gaussian");
  const auto [lda, by_lda] = fitted_on_time(e, gaussian);
  const auto by_cosine = fitted_on_time(e, prototype).metrics;
  ASSERT_GT(by_lda["fl"]["pod"]["top1"].get<double>(), 0.9) << "the culprit is found either way";
  EXPECT_GT(by_lda["fc"]["f1"].get<double>(), 0.9) << by_lda["fc"].dump();
  EXPECT_LT(by_cosine["fc"]["f1"].get<double>(), 0.8) << by_cosine["fc"].dump();
  EXPECT_GT(by_lda["fc"]["events"]["f1"].get<double>(), by_cosine["fc"]["events"]["f1"].get<double>());
  const auto test = split_rows(e, {"time", 0.6, {}}).test;
  auto again = StateModels::from_json(nlohmann::json::parse(lda.to_json().dump()));
  EXPECT_EQ(evaluate(again, e, test).metrics.dump(), by_lda.dump());
  auto older = lda.to_json();
  older.erase("global_discriminants");
  older.erase("state_discriminants");
  older["options"].erase("fc_model");
  EXPECT_EQ(evaluate(StateModels::from_json(older), e, test).metrics["fc"]["f1"].get<double>(),
            by_cosine["fc"]["f1"].get<double>());
  // A model that stored the precision itself (before the discriminants) gets its discriminants from it.
  const std::size_t d = lda.global_prototypes.begin()->second.size();
  std::vector<double> identity(d * d, 0.0);
  for (std::size_t i = 0; i < d; ++i) identity[i * d + i] = 1.0;
  older["fc_precision"] = identity;
  const StateModels with_precision = StateModels::from_json(older);
  ASSERT_EQ(with_precision.global_discriminants.size(), lda.global_prototypes.size());
  const auto& [first_type, first_prototype] = *lda.global_prototypes.begin();
  EXPECT_EQ(with_precision.global_discriminants.at(first_type).weights,
            std::vector<double>(first_prototype.begin(), first_prototype.end()));
  TuneOptions bad = gaussian;
  bad.fc_model = "forest";
  EXPECT_THROW(fitted_on_time(e, bad), rslicer::ConfigError);
}

// The linear form of FC's Gaussian model against the Mahalanobis distance it replaces (the reference): over random
// prototypes, precisions and signatures, both rank the types alike and differ by x'Px only.
TEST(StateModels, TheLinearDiscriminantRanksAsTheMahalanobisDistance) {
  std::mt19937_64 rng(11);
  std::normal_distribution<float> normal(0, 1);
  const std::size_t d = 12, types = 5;
  for (int trial = 0; trial < 20; ++trial) {
    const std::vector<double> precision = test::random_spd(d, rng);
    std::vector<std::vector<float>> protos(types, std::vector<float>(d));
    for (auto& p : protos)
      for (float& x : p) x = normal(rng);
    std::vector<float> sig(d);
    for (float& x : sig) x = normal(rng);
    double quadratic = 0;  // x'Px
    for (std::size_t i = 0; i < d; ++i)
      for (std::size_t j = 0; j < d; ++j) quadratic += sig[i] * precision[i * d + j] * sig[j];
    for (const auto& p : protos) {
      const double reference = mahalanobis_squared(sig.data(), p.data(), precision, d);
      EXPECT_NEAR(LinearDiscriminant::of(p, precision).score(sig) + quadratic, reference, 1e-6 * (1 + reference));
    }
  }
}

// FC per window from the incident so far (tune.fc_evidence incident): a fault's second window alone carries no
// type (its root cause moves at random), its mean with the first does. The window alone (the default) guesses on
// it; both settings round-trip, and a model without the option (an older one) classifies from the window alone.
TEST(StateModels, FaultClassificationFromTheIncidentSoFar) {
  const EmbeddingSet e = known_answer_set(/*nuisance=*/false, /*noisy_second=*/true);
  TuneOptions window{0.1, 0.99, 20}, incident{0.1, 0.99, 20};
  incident.fc_evidence = "incident";
  EXPECT_EQ(window.fc_evidence, "window");
  // The random move's direction carries no type; its distance (wide noise in every dimension) partly does.
  window.fc_move = incident.fc_move = "direction";
  const auto [by_incident, so_far] = fitted_on_time(e, incident);
  const auto alone = fitted_on_time(e, window).metrics;
  ASSERT_GT(so_far["fl"]["pod"]["top1"].get<double>(), 0.9) << "the culprit is found either way";
  EXPECT_GT(so_far["fc"]["f1"].get<double>(), 0.9) << so_far["fc"].dump();
  EXPECT_LT(alone["fc"]["f1"].get<double>(), 0.8) << alone["fc"].dump();
  EXPECT_EQ(so_far["fc"]["events"].dump(), alone["fc"]["events"].dump());  // per event: the same mean either way
  const auto test = split_rows(e, {"time", 0.6, {}}).test;
  EXPECT_EQ(evaluate(StateModels::from_json(nlohmann::json::parse(by_incident.to_json().dump())), e, test).metrics.dump(),
            so_far.dump());
  auto older = by_incident.to_json();
  older["options"].erase("fc_evidence");
  EXPECT_EQ(evaluate(StateModels::from_json(older), e, test).metrics["fc"].dump(), alone["fc"].dump());
  TuneOptions bad = incident;
  bad.fc_evidence = "hunch";
  EXPECT_THROW(fitted_on_time(e, bad), rslicer::ConfigError);
}

namespace {

// known_answer_set() with its type-1 root causes' mark in comp (+4 along dimension 7) moved to dimension 6, type 0's,
// by `along_6`: 4 moves both types' culprits alike, 12 the same way but three times as far.
EmbeddingSet type1_roots_moved_along_6(EmbeddingSet e, float along_6) {
  for (std::size_t c = 0; c < e.comp.rows; ++c) {
    const auto r = static_cast<std::size_t>(e.comp_row[c]);
    if (e.label[r] == 1 && e.fault_type[r] == 1 && e.comp_id[c] == e.root_cause[r]) {
      e.comp.row(c)[7] -= 4.0f;
      e.comp.row(c)[6] += along_6;
    }
  }
  return e;
}

// FC with `good` classifies the test windows and events (F1 > 0.9) where `poor` does not (< 0.8), FL finding the
// culprit either way, and `good`'s models round-trip; returns them and `poor`'s metrics.
std::pair<StateModels, nlohmann::json> expect_only_the_first_classifies(const EmbeddingSet& e, const TuneOptions& good,
                                                                        const TuneOptions& poor) {
  const auto [models, classified] = fitted_on_time(e, good);
  const auto confused = fitted_on_time(e, poor).metrics;
  EXPECT_GT(classified["fl"]["pod"]["top1"].get<double>(), 0.9) << "the culprit is found either way";
  EXPECT_EQ(classified["fl"].dump(), confused["fl"].dump());
  EXPECT_GT(classified["fc"]["f1"].get<double>(), 0.9) << classified["fc"].dump();
  EXPECT_GT(classified["fc"]["events"]["f1"].get<double>(), 0.9) << classified["fc"].dump();
  EXPECT_LT(confused["fc"]["f1"].get<double>(), 0.8) << confused["fc"].dump();
  const auto test = split_rows(e, {"time", 0.6, {}}).test;
  EXPECT_EQ(evaluate(StateModels::from_json(nlohmann::json::parse(models.to_json().dump())), e, test).metrics.dump(),
            classified.dump());
  return {models, confused};
}

// Tune option `member` (`key` in the models' options): a model without it (an older one) reads `older`, an unknown
// value is refused.
void expect_older_reads_and_unknown_refused(const EmbeddingSet& e, const StateModels& models,
                                            std::string TuneOptions::*member, const std::string& key,
                                            const std::string& older) {
  auto json = models.to_json();
  json["options"].erase(key);
  EXPECT_EQ(StateModels::from_json(json).options.*member, older);
  TuneOptions unknown = models.options;
  unknown.*member = "vibes";
  EXPECT_THROW(fitted_on_time(e, unknown), rslicer::ConfigError);
}

}  // namespace

// FC from the culprit's modality embeddings (tune.fc_embedding modalities, the default) where the fused pod
// embedding FL ranks by moves alike for two types: only the modalities (here the set's original comp) tell the
// types apart. Embeddings without modality embeddings are tuned from the fused one, and the models say so; a model
// without the option (an older one) reads the fused embedding.
TEST(StateModels, FaultClassificationFromTheCulpritsModalityEmbeddings) {
  EmbeddingSet e = type1_roots_moved_along_6(known_answer_set(), 4.0f);
  e.comp_modalities = known_answer_set().comp;
  TuneOptions modalities{0.1, 0.99, 20}, state{0.1, 0.99, 20};
  state.fc_embedding = "state";
  EXPECT_EQ(modalities.fc_embedding, "modalities");
  const auto [by_modalities, fused] = expect_only_the_first_classifies(e, modalities, state);
  expect_older_reads_and_unknown_refused(e, by_modalities, &TuneOptions::fc_embedding, "fc_embedding", "state");
  EmbeddingSet without = e;
  without.comp_modalities = Matrix();
  const auto [fallback, fallback_metrics] = fitted_on_time(without, modalities);
  EXPECT_EQ(fallback.options.fc_embedding, "state");
  EXPECT_EQ(fallback_metrics["fc"].dump(), fused["fc"].dump());
}

// FC from the culprit's displacement (tune.fc_move, the default) or its direction alone: where the types differ in
// how far the culprit moved, only the displacement tells them apart. A model without the option (an older one)
// reads the direction.
TEST(StateModels, FaultClassificationFromHowFarTheCulpritMoved) {
  const EmbeddingSet e = type1_roots_moved_along_6(known_answer_set(), 12.0f);
  TuneOptions displacement{0.1, 0.99, 20}, direction{0.1, 0.99, 20};
  direction.fc_move = "direction";
  EXPECT_EQ(displacement.fc_move, "displacement");
  const auto by_displacement = expect_only_the_first_classifies(e, displacement, direction).first;
  expect_older_reads_and_unknown_refused(e, by_displacement, &TuneOptions::fc_move, "fc_move", "direction");
}

// A later period whose whole score scale drifted: a fixed threshold flags all of it, the trailing robust z only the
// windows where the score rises above its recent level (and the first ones after the shift, until the history
// has caught up).
TEST(TrailingScores, ADriftOfTheWholeScaleIsNotFlaggedWhole) {
  std::mt19937_64 rng(3);
  std::normal_distribution<double> noise(0, 1);
  std::vector<double> raw;
  std::vector<std::int32_t> store;
  std::vector<std::int64_t> begin;
  std::vector<int> spike;
  for (int w = 0; w < 300; ++w) {
    const bool is_spike = w >= 150 && w % 25 == 0;
    raw.push_back(10 + noise(rng) + (w >= 100 ? 50 : 0) + (is_spike ? 20 : 0));
    store.push_back(0);
    begin.push_back(w);
    spike.push_back(is_spike);
  }
  const RobustCentre tuning = robust_centre(std::vector<double>(raw.begin(), raw.begin() + 100));
  EXPECT_NEAR(tuning.median, 10, 0.5);
  EXPECT_NEAR(tuning.scale, 1, 0.3);
  const auto z = trailing_robust_z(raw, store, begin, 60, 5, tuning);
  std::size_t fixed_flags = 0, trailing_flags = 0, spikes_found = 0;
  for (int w = 140; w < 300; ++w) {
    fixed_flags += (raw[static_cast<std::size_t>(w)] - tuning.median) / tuning.scale > 5;
    trailing_flags += z[static_cast<std::size_t>(w)] > 5;
    spikes_found += spike[static_cast<std::size_t>(w)] && z[static_cast<std::size_t>(w)] > 5;
  }
  EXPECT_EQ(fixed_flags, 160u);
  EXPECT_EQ(spikes_found, 6u);
  EXPECT_EQ(trailing_flags, 6u);
  // The first windows use the fallback; a second store has its own history.
  EXPECT_NEAR(z[0], (raw[0] - tuning.median) / tuning.scale, 1e-12);
}

TEST(TrailingScores, MedianDistanceIsTheCosineToThePastMedian) {
  Matrix z(4, 2);
  const float rows[4][2] = {{1, 0}, {0, 1}, {1, 1}, {3, 0}};
  for (std::size_t r = 0; r < 4; ++r) std::copy(rows[r], rows[r] + 2, z.row(r));
  // Store 0 is rows 0, 2, 3 (row 3 begins first); store 1 is row 1 alone.
  const auto d = trailing_median_distance(z, {0, 1, 0, 0}, {10, 0, 20, 5}, 60);
  EXPECT_DOUBLE_EQ(d[3], 0.0);                            // a store's first window has no past
  EXPECT_DOUBLE_EQ(d[1], 0.0);
  EXPECT_NEAR(d[0], 0.0, 1e-7);                           // past {(3,0)}: same direction
  EXPECT_NEAR(d[2], 1.0 - 1.0 / std::sqrt(2.0), 1e-6);    // past {(3,0), (1,0)}: median (3,0) (the upper one)
  EXPECT_NEAR(trailing_median_distance(z, {0, 1, 0, 0}, {10, 0, 20, 5}, 1)[2], 1.0 - 1.0 / std::sqrt(2.0), 1e-6);
}

// A state's Gaussian of 30 windows in 24 dimensions fits its own windows closely: scored in-sample, their distances
// are narrower than those of later windows of the same distribution, so the threshold from them flags three times
// the quantile's 5% later on (15%). Cross-fitted (each fold scored by the model fitted without it), the tuning
// scores are what a later window gets (7%).
TEST(StateModels, TheThresholdComesFromScoresOfWindowsTheModelDidNotSee) {
  std::mt19937_64 rng(5);
  std::normal_distribution<float> noise(0, 1);
  EmbeddingSet e;
  e.stores = {"/data/s.h5"};
  e.systems = {"a"};
  const std::size_t d = 24, tuning = 30, later = 2000;
  e.z = Matrix(tuning + later, d);
  for (std::size_t r = 0; r < tuning + later; ++r) {
    append_window(e, {0, static_cast<int>(r), static_cast<std::int64_t>(r) * 30});
    for (std::size_t j = 0; j < d; ++j) e.z.row(r)[j] = noise(rng);
  }
  e.e_m = e.e_t = e.e_l = e.z;
  std::vector<std::size_t> train(tuning), test(later);
  std::iota(train.begin(), train.end(), 0);
  std::iota(test.begin(), test.end(), tuning);
  const Matrix centroids = kmeans(e.z.select(train), 1, 3).centroids;
  auto flagged_later = [&](std::size_t folds) {
    TuneOptions options{0.1, 0.95, 20};
    options.ad_folds = folds;
    const auto ad = evaluate(fit_state_models(e, train, centroids, options), e, test).metrics["ad"];
    return ad["flagged_share"].get<double>();
  };
  const double in_sample = flagged_later(1), cross_fitted = flagged_later(5);
  EXPECT_GT(in_sample, 0.12) << cross_fitted;
  EXPECT_LT(cross_fitted, 0.09) << in_sample;
  EXPECT_GT(cross_fitted, 0.0);
  TuneOptions none{0.1, 0.95, 20};
  none.ad_folds = 0;
  EXPECT_THROW(fit_state_models(e, train, centroids, none), rslicer::ConfigError);
}

// A store the tuning split lacks is scored against its own past: its normal windows vary along a direction the
// tuning store held still (the tuned Gaussian calls them all abnormal), its faults move along the direction the
// tuning store varied in (the Gaussian finds them ordinary).
TEST(StateModels, AStoreAbsentFromTuningIsScoredAgainstItsOwnPast) {
  std::mt19937_64 rng(11);
  std::normal_distribution<float> noise(0, 1);
  EmbeddingSet e;
  e.stores = {"/data/tuned.h5", "/data/unseen.h5"};
  e.systems = {"a", "b"};
  const std::size_t d = 4, per_store = 300;
  e.z = Matrix(2 * per_store, d);
  for (std::size_t r = 0; r < 2 * per_store; ++r) {
    const int store = r < per_store ? 0 : 1;
    const std::size_t w = r % per_store;
    const bool abnormal = store == 1 && w >= 30 && w % 30 < 3;
    append_window(e, {store, static_cast<int>(w), static_cast<std::int64_t>(w) * 30, abnormal ? std::int8_t{1} : std::int8_t{0},
                      0, abnormal ? static_cast<int>(w / 30) : -1});
    float* z = e.z.row(r);
    z[1] = 3.0f;
    z[0] = noise(rng) * (store == 0 ? 0.05f : 0.5f);
    z[2] = noise(rng) * 0.05f;
    z[3] = noise(rng) * (store == 0 ? 1.0f : 0.05f) + (abnormal ? 3.0f : 0.0f);
  }
  e.e_m = e.e_t = e.e_l = e.z;
  SplitOptions split_options;
  split_options.by = "store";
  split_options.test_stores = {"unseen.h5"};
  const Split split = split_rows(e, split_options);
  const Matrix centroids = kmeans(e.z.select(split.train), 1, 3).centroids;
  TuneOptions by_state{0.1, 0.95, 20};
  by_state.ad_reference = "state";
  TuneOptions automatic = by_state;
  automatic.ad_reference = "auto";
  const StateModels state_models = fit_state_models(e, split.train, centroids, by_state);
  const StateModels auto_models = fit_state_models(e, split.train, centroids, automatic);
  EXPECT_EQ(auto_models.tuned_stores, std::set<std::string>{"/data/tuned.h5"});
  const auto by_state_ad = evaluate(state_models, e, split.test).metrics["ad"];
  const auto auto_ad = evaluate(auto_models, e, split.test).metrics["ad"];
  EXPECT_LT(by_state_ad["auroc"].get<double>(), 0.8) << by_state_ad.dump();
  EXPECT_GT(auto_ad["auroc"].get<double>(), 0.95) << auto_ad.dump();
  EXPECT_GT(auto_ad["f1"].get<double>(), 0.8) << auto_ad.dump();
  EXPECT_EQ(auto_ad["own_history_windows"].get<std::size_t>(), per_store);
  EXPECT_EQ(by_state_ad["own_history_windows"].get<std::size_t>(), 0u);
  // A tuned store's windows are scored by the state models either way; "history" scores every store by its past.
  std::vector<std::size_t> tuned_rows(per_store);
  std::iota(tuned_rows.begin(), tuned_rows.end(), 0);
  EXPECT_EQ(evaluate(auto_models, e, tuned_rows).metrics["ad"].dump(), evaluate(state_models, e, tuned_rows).metrics["ad"].dump());
  TuneOptions history = automatic;
  history.ad_reference = "history";
  EXPECT_EQ(evaluate(fit_state_models(e, split.train, centroids, history), e, tuned_rows)
                .metrics["ad"]["own_history_windows"].get<std::size_t>(), per_store);
  TuneOptions bad = automatic;
  bad.ad_reference = "oracle";
  EXPECT_THROW(fit_state_models(e, split.train, centroids, bad), rslicer::ConfigError);
  // The library refuses the other options the config reader refuses, with the same check.
  TuneOptions bad_signature = automatic, bad_discount = automatic;
  bad_signature.fc_signature = "vibes";
  bad_discount.fl_callee_discount = -1;
  EXPECT_THROW(fit_state_models(e, split.train, centroids, bad_signature), rslicer::ConfigError);
  EXPECT_THROW(fit_state_models(e, split.train, centroids, bad_discount), rslicer::ConfigError);
  // The round trip keeps which stores were tuned.
  const auto again = StateModels::from_json(nlohmann::json::parse(auto_models.to_json().dump()));
  EXPECT_EQ(evaluate(again, e, split.test).metrics["ad"].dump(), auto_ad.dump());
}

namespace {

// One store of `windows` windows (30 s apart), the last ones from `fault_from` on one fault whose root cause is
// pod 0; `pod_embedding(window, pod)` gives each pod's embedding (4 dims). Returns FL's figures on the windows
// from 12 on (in reverse order: the evaluation orders a store's windows by time), tuned on the first 12. Pod p is
// service 10 + p; `calls` are the store's service calls as (caller pod, callee pod).
nlohmann::json localization_of(std::size_t windows, int pods, std::size_t fault_from,
                               const std::function<std::vector<float>(std::size_t, int)>& pod_embedding,
                               const std::vector<std::pair<int, int>>& calls = {}, double callee_discount = 1.0) {
  EmbeddingSet e;
  e.stores = {"s"};
  e.systems = {"sys"};
  const std::size_t d = 4;
  e.z = Matrix(windows, d);
  for (std::size_t w = 0; w < windows; ++w) {
    const bool fault = w >= fault_from;
    append_window(e, {0, static_cast<int>(w), static_cast<std::int64_t>(w) * 30, fault ? std::int8_t{1} : std::int8_t{0}, 0,
                      fault ? 0 : -1, -1, fault ? 0 : -1, fault ? 10 : -1});
    e.z.row(w)[0] = 1.0f;
    e.z.row(w)[1 + w % 3] = 0.1f;
    for (int pod = 0; pod < pods; ++pod) {
      e.comp_row.push_back(static_cast<std::int64_t>(w));
      e.comp_id.push_back(pod);
      e.comp_service.push_back(10 + pod);
      const auto v = pod_embedding(w, pod);
      e.comp.data.insert(e.comp.data.end(), v.begin(), v.end());
      e.comp.rows++;
      e.comp.cols = d;
    }
  }
  e.e_m = e.e_t = e.e_l = e.z;
  for (const auto& [caller, callee] : calls) {
    e.call_store.push_back(0);
    e.call_caller.push_back(10 + caller);
    e.call_callee.push_back(10 + callee);
  }
  std::vector<std::size_t> train(12), test(windows - 12);
  std::iota(train.begin(), train.end(), 0);
  std::iota(test.rbegin(), test.rend(), 12);
  TuneOptions options{0.1, 0.95, 20};
  options.fl_callee_discount = callee_discount;
  const auto models = fit_state_models(e, train, kmeans(e.z.select(train), 1, 3).centroids, options);
  return evaluate(models, e, test).metrics["fl"];
}

// A vector at cosine distance `distance` from (1, 0, 0, 0), moved along dimension `axis`.
std::vector<float> at_distance(double distance, std::size_t axis, float sign = 1.0f) {
  std::vector<float> v = {1.0f, 0.0f, 0.0f, 0.0f};
  v[axis] = sign * static_cast<float>(std::sqrt(1.0 / ((1.0 - distance) * (1.0 - distance)) - 1.0));
  return v;
}

}  // namespace

// FL per window ranks a fault's pods by the incident so far: the root cause moved far in the fault's first
// window and less than another pod's noise in its second; the second window still names the root cause.
TEST(StateModels, AFaultsWindowsRankItsPodsByTheIncidentSoFar) {
  const auto fl = localization_of(22, 2, 20, [](std::size_t w, int pod) -> std::vector<float> {
    if (w == 20 && pod == 0) return {1.0f, 0.0f, 1.0f, 0.0f};  // the fault's first window
    if (w == 21 && pod == 0) return {1.0f, 0.0f, 0.3f, 0.0f};  // its second
    if (w == 21 && pod == 1) return {1.0f, 0.0f, 0.0f, 0.5f};  // another pod's noise, larger
    return {1.0f, (w % 2 ? 0.05f : -0.05f), 0.0f, 0.0f};       // normal: a small wobble
  });
  EXPECT_EQ(fl["windows"].get<std::size_t>(), 2u) << fl.dump();
  EXPECT_DOUBLE_EQ(fl["pod"]["top1"].get<double>(), 1.0) << fl.dump();
  EXPECT_DOUBLE_EQ(fl["events"]["pod"]["as1"].get<double>(), 1.0) << fl.dump();
}

// A pod that sat unusually still before the fault (spread 0.001 against its peers' 0.02) and moves a little
// (distance 0.01) is not ranked above the root cause that moved far (0.1): each spread is shrunk towards the
// pods' median. Divided by its own spread alone, the still pod would score 10 against the root cause's 5.
TEST(StateModels, APodThatSatStillDoesNotOutrankTheRootCause) {
  const auto fl = localization_of(21, 3, 20, [](std::size_t w, int pod) -> std::vector<float> {
    const float sign = w % 2 ? 1.0f : -1.0f;
    if (w == 20) return at_distance(pod == 0 ? 0.1 : pod == 1 ? 0.01 : 0.02, 2);
    return at_distance(pod == 1 ? 0.001 : 0.02, 1, sign);  // normal: a wobble of that spread about (1, 0, 0, 0)
  });
  EXPECT_EQ(fl["windows"].get<std::size_t>(), 1u) << fl.dump();
  EXPECT_DOUBLE_EQ(fl["pod"]["top1"].get<double>(), 1.0) << fl.dump();
}

// A fault spreads to its callers: pod 1 calls the root cause (pod 0) and moved a little further (distance 0.08
// against 0.06; three other pods 0.02, every spread 0.02). With the call graph, pod 1 is discounted by the root
// cause's excess over the median pod (4 - (3 - 1) = 2 < 3) and the root cause ranks first; without it, or with the
// discount off, the caller does. A call between two pods that did not move changes nothing. Where the other pods
// moved unevenly (0.01, 0.03, 0.03: scores 0.5, 1.5, 1.5, median 1.5, MAD 1), the root cause's excess (1.5) is
// within three robust scales: it does not stand out and explains nothing, so the caller stays first (ungated,
// 4 - 1.5 < 3 would put the root cause first).
TEST(StateModels, ACallerIsDiscountedByTheMoveOfThePodItCalls) {
  const auto moved = [](double pod_2, double pods_3_and_4) {  // the fault's window; before it, a wobble of 0.02
    return [=](std::size_t w, int pod) -> std::vector<float> {
      const float sign = w % 2 ? 1.0f : -1.0f;
      if (w == 20) return at_distance(pod == 0 ? 0.06 : pod == 1 ? 0.08 : pod == 2 ? pod_2 : pods_3_and_4, 2);
      return at_distance(0.02, 1, sign);
    };
  };
  const auto embedding = moved(0.02, 0.02);
  const auto top1 = [](const nlohmann::json& fl) { return fl["pod"]["top1"].get<double>(); };
  const std::vector<std::pair<int, int>> calls = {{1, 0}, {2, 3}};
  EXPECT_DOUBLE_EQ(top1(localization_of(21, 5, 20, embedding, calls)), 1.0);
  EXPECT_DOUBLE_EQ(localization_of(21, 5, 20, embedding, calls)["events"]["pod"]["as1"].get<double>(), 1.0);
  EXPECT_DOUBLE_EQ(top1(localization_of(21, 5, 20, embedding)), 0.0);
  EXPECT_DOUBLE_EQ(top1(localization_of(21, 5, 20, embedding, calls, 0.0)), 0.0);
  EXPECT_DOUBLE_EQ(top1(localization_of(21, 5, 20, moved(0.01, 0.03), calls)), 0.0);
}

// The call graph travels with the embeddings: written, read back, and merged once when rank partials (each
// with the same stores' calls) are appended.
TEST(Embeddings, TheCallGraphRoundTripsAndMergesOnce) {
  test::TempDir dir;
  EmbeddingSet a;
  a.stores = {"s0", "s1"};
  a.systems = {"x", "y"};
  a.call_store = {0, 1};
  a.call_caller = {10, 20};
  a.call_callee = {11, 21};
  const auto path = dir / "e.h5";
  a.write(path);
  EmbeddingSet merged = EmbeddingSet::read(path);
  EXPECT_EQ(merged.call_caller, a.call_caller);
  EXPECT_EQ(merged.call_callee, a.call_callee);
  EXPECT_EQ(merged.comp_modalities.rows, 0u);
  EmbeddingSet other = a;
  other.call_store.push_back(1);
  other.call_caller.push_back(21);
  other.call_callee.push_back(22);
  merged.append(other);
  EXPECT_EQ(merged.call_store, (std::vector<std::int32_t>{0, 1, 1}));
  EXPECT_EQ(merged.call_callee, (std::vector<std::int32_t>{11, 21, 22}));
}

// The pods' modality embeddings travel with their fused ones: written, read back row for row, appended in order; a
// file whose count differs from the components' is refused.
TEST(Embeddings, ThePodsModalityEmbeddingsRoundTrip) {
  test::TempDir dir;
  EmbeddingSet a = known_answer_set();
  a.comp_modalities = Matrix(a.comp.rows, 3);
  for (std::size_t i = 0; i < a.comp_modalities.data.size(); ++i) a.comp_modalities.data[i] = static_cast<float>(i);
  a.write(dir / "a.h5");
  EmbeddingSet back = EmbeddingSet::read(dir / "a.h5");
  EXPECT_EQ(back.comp_modalities.cols, 3u);
  EXPECT_EQ(back.comp_modalities.data, a.comp_modalities.data);
  back.append(a);
  EXPECT_EQ(back.comp_modalities.rows, 2 * a.comp.rows);
  EXPECT_EQ(back.comp_modalities.row(a.comp.rows)[1], 1.0f);
  EmbeddingSet short_by_one = a;
  short_by_one.comp_modalities = Matrix(a.comp.rows - 1, 3);
  short_by_one.write(dir / "b.h5");
  EXPECT_THROW(EmbeddingSet::read(dir / "b.h5"), rslicer::Error);
}

TEST(Split, FaultTimeCutsAtAFaultSoBothSidesHaveFaults) {
  EmbeddingSet e;
  e.stores = {"a", "b"};
  e.systems = {"x", "y"};
  // Store 0: 100 windows, faults 0..4 starting at windows 10, 30, 50, 70, 90 (2 windows each).
  for (int w = 0; w < 100; ++w) {
    e.store.push_back(0);
    e.begin_ns.push_back(w);
    const bool in_fault = w >= 10 && (w - 10) % 20 < 2;
    e.fault.push_back(in_fault ? (w - 10) / 20 : -1);
    e.label.push_back(in_fault ? 1 : 0);
  }
  auto s = split_rows(e, {"fault_time", 0.6, {}});
  // ceil(0.6 x 5) = 3: the cut is where fault 3 begins (window 70).
  EXPECT_EQ(s.train.size(), 70u);
  EXPECT_EQ(s.test.size(), 30u);
  EXPECT_EQ(e.fault[s.test.front()], 3);  // the test side starts with fault 3
  EXPECT_EQ(e.begin_ns[s.test.front()], 70);
  auto t = split_rows(e, {"time", 0.6, {}});
  EXPECT_EQ(t.train.size(), 60u);
  EXPECT_THROW(split_rows(e, {"by_moon", 0.6, {}}), rslicer::ConfigError);
  EXPECT_THROW(split_rows(e, {"system", 0.6, {"z"}}), rslicer::ConfigError);
}

TEST(Split, NoneTunesOnEveryWindow) {
  EmbeddingSet e;
  e.stores = {"/a.h5"};
  e.systems = {"a"};
  e.store = {0, 0, 0};
  e.begin_ns = {30, 10, 20};
  SplitOptions none;
  none.by = "none";
  const Split s = split_rows(e, none);
  EXPECT_EQ(s.train, (std::vector<std::size_t>{0, 1, 2}));
  EXPECT_TRUE(s.test.empty());
}

TEST(Split, StoreHoldsOutTheListedStoresByPathFileNameOrStem) {
  EmbeddingSet e;
  e.stores = {"/data/tt_2023-01-29.h5", "/data/tt_2023-01-30.h5", "/other/ob.h5"};
  e.systems = {"train_ticket", "train_ticket", "online_boutique"};
  for (int s = 0; s < 3; ++s)
    for (int w = 0; w < 10; ++w) {
      e.store.push_back(s);
      e.begin_ns.push_back(w);
      e.fault.push_back(-1);
      e.label.push_back(0);
    }
  for (const std::string name : {"/data/tt_2023-01-30.h5", "tt_2023-01-30.h5", "tt_2023-01-30"}) {
    SplitOptions o;
    o.by = "store";
    o.test_stores = {name};
    auto s = split_rows(e, o);
    EXPECT_EQ(s.test.size(), 10u) << name;
    EXPECT_EQ(s.train.size(), 20u) << name;
    for (auto r : s.test) EXPECT_EQ(e.store[r], 1);
  }
  SplitOptions bad;
  bad.by = "store";
  bad.test_stores = {"tt_2023-02-01.h5"};
  EXPECT_THROW(split_rows(e, bad), rslicer::ConfigError);
  bad.test_stores = {"tt_2023-01-29", "tt_2023-01-30", "ob"};  // nothing left to tune on
  EXPECT_THROW(split_rows(e, bad), rslicer::ConfigError);
}

// Embeddings whose texts read the labels of a store's first windows (the metric baseline of the tuning side) may be
// evaluated with a split that tunes on those windows, and with none that tests one of them; the count travels with
// the file.
TEST(Split, RefusesToTestAWindowWhoseLabelTheTextsRead) {
  test::TempDir dir;
  EmbeddingSet e;
  e.stores = {"a", "b"};
  e.systems = {"x", "y"};
  for (int s = 0; s < 2; ++s)
    for (int w = 0; w < 100; ++w) {
      e.store.push_back(s);
      e.window.push_back(w);
      e.begin_ns.push_back(w);
      e.fault.push_back(-1);
      e.label.push_back(0);
    }
  e.baseline_label_windows = {60, 60};  // embedded with split=time train_fraction=0.6
  e.write(dir / "e.h5");
  const EmbeddingSet read = EmbeddingSet::read(dir / "e.h5");
  EXPECT_EQ(read.baseline_label_windows, e.baseline_label_windows);
  EXPECT_EQ(split_rows(read, {"time", 0.6, {}}).train.size(), 120u);
  EXPECT_EQ(split_rows(read, {"time", 0.8, {}}).test.size(), 40u);  // a later cut tests none of them
  EXPECT_THROW(split_rows(read, {"time", 0.5, {}}), rslicer::ConfigError);
  EXPECT_THROW(split_rows(read, {"system", 0.6, {"y"}}), rslicer::ConfigError);  // store b read its labels
  EmbeddingSet held_out = read;
  held_out.baseline_label_windows = {100, 0};  // embedded with split=system test_systems=[y]
  EXPECT_EQ(split_rows(held_out, {"system", 0.6, {"y"}}).test.size(), 100u);
  EXPECT_THROW(split_rows(held_out, {"time", 0.6, {}}), rslicer::ConfigError);
}

TEST(Clustering, FastNearestCentroidEqualsTheReference) {
  // The vectorised fp32 distances (Lloyd's fast path) against the double reference: the same assignment for every
  // row of overlapping blobs in 37 dimensions (not a multiple of the 8 lanes, so the tail runs too).
  Matrix x = blobs(300, 5, 37, 3);
  for (std::size_t i = 0; i < x.rows; ++i) x.row(i)[0] *= 0.2f;
  Matrix c(5, 37);
  for (std::size_t k = 0; k < 5; ++k) std::copy(x.row(k * 41), x.row(k * 41) + 37, c.row(k));
  const auto fast = assign_nearest(x, c), reference = assign_nearest_reference(x, c);
  EXPECT_EQ(fast, reference);
  EXPECT_GT(std::set<int>(fast.begin(), fast.end()).size(), 1u);  // not a trivial single-cluster answer
}

TEST(Tsne, SeparatedBlobsStaySeparatedInTheMap) {
  std::vector<int> truth;
  Matrix x = blobs(30, 3, 10, 21, &truth);
  TsneOptions o;
  o.perplexity = 10;
  o.iterations = 500;
  auto r = tsne(x, o);
  ASSERT_EQ(r.map.rows, x.rows);
  ASSERT_EQ(r.map.cols, 2u);
  // Each point's nearest neighbour in the map comes from its own blob.
  std::size_t same = 0;
  for (std::size_t i = 0; i < x.rows; ++i) {
    double best = 1e300;
    std::size_t nearest = i;
    for (std::size_t j = 0; j < x.rows; ++j)
      if (j != i && squared_distance(r.map.row(i), r.map.row(j), 2) < best) {
        best = squared_distance(r.map.row(i), r.map.row(j), 2);
        nearest = j;
      }
    same += truth[i] == truth[nearest];
  }
  EXPECT_GE(same, x.rows * 95 / 100);
  EXPECT_GT(r.kl_divergence, 0.0);
  EXPECT_LT(r.kl_divergence, 2.0);
  EXPECT_EQ(tsne(x, o).map.data, r.map.data);  // deterministic for a seed
  EXPECT_THROW(tsne(x.select({0}), o), Error);
}
