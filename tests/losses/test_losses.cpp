// The losses on one rank: hand-computed values, and values and gradients against a PyTorch reference written
// from the equations (Debian's python3-torch).
#include <gtest/gtest.h>
#include <mpi.h>

#include <nlohmann/json.hpp>

#include <cmath>
#include <cstdlib>
#include <fstream>

#include "dist/communicator.h"
#include "losses/losses.h"
#include "test_util.h"

using namespace rslicer;
using namespace rslicer::losses;

namespace {

// Tests run without mpirun: MPI as a singleton, one rank.
struct MpiOnce {
  MpiOnce() {
    int init = 0;
    MPI_Initialized(&init);
    if (!init) MPI_Init(nullptr, nullptr);
  }
};

dist::MpiCommunicator& self() {
  static MpiOnce once;
  static dist::MpiCommunicator comm(MPI_COMM_SELF, std::chrono::seconds(30));
  return comm;
}

torch::Tensor rows(std::initializer_list<std::initializer_list<float>> values) {
  std::vector<torch::Tensor> out;
  for (auto r : values) out.push_back(torch::tensor(std::vector<float>(r)));
  return torch::stack(out);
}

}  // namespace

TEST(Losses, InfoNceByHand) {
  // Two orthogonal pairs: logits [[1/t, 0], [0, 1/t]]; CE = log(1 + e^{-1/t}).
  auto a = rows({{1, 0}, {0, 1}});
  const double t = 0.5;
  auto l = info_nce(a, a, 0, torch::full({}, 1.0 / t)).item<double>();
  EXPECT_NEAR(l, std::log(1 + std::exp(-1 / t)), 1e-6);
  // Offset: row 0's positive is column 1.
  auto b = rows({{0, 1}, {1, 0}});
  auto l2 = info_nce(a.narrow(0, 0, 1), b, 1, torch::full({}, 1.0 / t)).item<double>();
  EXPECT_NEAR(l2, std::log(1 + std::exp(-1 / t)), 1e-6);
}

TEST(Losses, TemporalAndAnomalyByHand) {
  LossInputs in;
  in.z = rows({{1, 0}, {1, 0}, {0, 1}});
  in.e_m = in.e_t = in.e_l = in.z;
  in.begin_ns = torch::tensor({0, 30, 1000}, torch::kInt64);
  in.end_ns = torch::tensor({60, 90, 1060}, torch::kInt64);
  in.labels = torch::tensor({0, 0, 1}, torch::kInt64);
  // Windows 0 and 1 overlap by half (omega 0.5 both ways), sim 1: hinge max(0.8 - 1, 0) = 0.
  EXPECT_NEAR(temporal_loss(in, self(), 0.8).item<double>(), 0.0, 1e-7);
  // With delta 1.5: (0.5 * 0.5 * 2) / (0.5 * 2) = 0.5.
  EXPECT_NEAR(temporal_loss(in, self(), 1.5).item<double>(), 0.5, 1e-6);
  // Anomaly: normal 0,1 vs abnormal 2, sim 0: max(0 - 0.2, 0) = 0; with gamma -0.5: 0.5.
  EXPECT_NEAR(anomaly_loss(in, self(), 0.2).item<double>(), 0.0, 1e-7);
  EXPECT_NEAR(anomaly_loss(in, self(), -0.5).item<double>(), 0.5, 1e-6);
  // No abnormal window: 0. No overlap: 0.
  in.labels = torch::tensor({0, 0, -1}, torch::kInt64);
  EXPECT_EQ(anomaly_loss(in, self(), -0.5).item<double>(), 0.0);
  in.begin_ns = torch::tensor({0, 100, 1000}, torch::kInt64);
  in.end_ns = torch::tensor({60, 160, 1060}, torch::kInt64);
  EXPECT_EQ(temporal_loss(in, self(), 1.5).item<double>(), 0.0);
}

// Two overlapping windows whose texts embed alike cannot be told apart: unmasked, each one's InfoNCE is ln 2 (its
// neighbour is as close as its positive); masked, the neighbour is no negative and the loss is ~0.
TEST(Losses, OverlappingWindowsAreNoNegativesWhenMasked) {
  LossInputs in;
  in.e_m = torch::tensor({{1.0f, 0.0f}, {1.0f, 0.0f}, {0.0f, 1.0f}});
  in.e_t = in.e_l = in.e_m;
  in.begin_ns = torch::tensor({0, 30, 1000}, torch::kInt64);
  in.end_ns = torch::tensor({60, 90, 1060}, torch::kInt64);
  GlobalBatch g{in.e_m, in.e_t, in.e_l, in.e_m, in.begin_ns, in.end_ns, torch::zeros({3}, torch::kInt64), 0};
  const double unmasked = modal_loss(in, g, 1, 0.01, false).item<double>();
  const double masked = modal_loss(in, g, 1, 0.01, true).item<double>();
  EXPECT_NEAR(unmasked, 2.0 / 3.0 * std::log(2.0), 1e-4);  // rows 0 and 1: ln 2; row 2: ~0
  EXPECT_NEAR(masked, 0.0, 1e-4);
  auto excluded = overlapping_negatives(in.begin_ns, in.end_ns, in.begin_ns, in.end_ns, 0);
  EXPECT_TRUE(excluded[0][1].item<bool>());
  EXPECT_FALSE(excluded[0][0].item<bool>());  // the positive stays
  EXPECT_FALSE(excluded[0][2].item<bool>());
}

// The fault-type term by hand: rows 0 and 1 of one type (apart in time) are each other's positive, row 2 (another
// type) is a negative, row 3 (normal: the anomaly term's) and row 4 (label unknown) are neither; z of 0 and 1 along
// e1, of 2 to 4 along e2: each anchor's loss is -log(e^{1/t} / (e^{1/t} + 1)).
TEST(Losses, FaultTypeTermByHand) {
  LossInputs in;
  in.z = rows({{1, 0}, {1, 0}, {0, 1}, {0, 1}, {0, 1}});
  in.e_m = in.e_t = in.e_l = in.z;
  in.begin_ns = torch::tensor({0, 100, 200, 300, 400}, torch::kInt64);
  in.end_ns = in.begin_ns + 60;
  in.labels = torch::tensor({1, 1, 1, 0, -1}, torch::kInt64);
  in.fault_types = torch::tensor({3, 3, 5, -1, 3}, torch::kInt64);
  const double t = 0.5;
  EXPECT_NEAR(type_loss(in, self(), t).item<double>(), std::log(1 + std::exp(-1 / t)), 1e-6);
  // Overlapping rows are no positives (nor negatives): with row 1 overlapping row 0, no row has a positive.
  LossInputs overlapping = in;
  overlapping.begin_ns = torch::tensor({0, 30, 200, 300, 400}, torch::kInt64);
  overlapping.end_ns = overlapping.begin_ns + 60;
  EXPECT_EQ(type_loss(overlapping, self(), t).item<double>(), 0.0);
  // Without fault types (or with none known) the term is 0, and runtime_slicer_loss adds it only when weighted.
  LossInputs untyped = in;
  untyped.fault_types = torch::Tensor();
  EXPECT_EQ(type_loss(untyped, self(), t).item<double>(), 0.0);
  LossOptions o;
  o.temperature = t;
  EXPECT_EQ(runtime_slicer_loss(in, self(), o).type.item<double>(), 0.0);  // lambda_type 0: not computed
  o.lambda_type = 0.5;
  const LossTerms terms = runtime_slicer_loss(in, self(), o);
  EXPECT_NEAR(terms.type.item<double>(), std::log(1 + std::exp(-1 / t)), 1e-6);
  EXPECT_NEAR(terms.total.item<double>(),
              (terms.modal + o.lambda_temp * terms.temporal + o.lambda_anom * terms.anomaly + 0.5 * terms.type).item<double>(), 1e-6);
}

// The neighbourhood term by hand: rows 0 and 1 (normal, 5 minutes apart, not overlapping) are each other's positive,
// row 2 (label unknown, two hours away) is a negative, row 3 (abnormal, between them) is neither; z of 0 and 1 along
// e1, of 2 and 3 along e2: each anchor's loss is -log(e^{1/t} / (e^{1/t} + 1)) (with row 3 counted it would be
// -log(e^{1/t} / (e^{1/t} + 2))).
TEST(Losses, NeighbourhoodTermByHand) {
  constexpr std::int64_t s = 1000000000;
  LossInputs in;
  in.z = rows({{1, 0}, {1, 0}, {0, 1}, {0, 1}});
  in.e_m = in.e_t = in.e_l = in.z;
  in.begin_ns = torch::tensor({0L, 300 * s, 7200 * s, 100 * s}, torch::kInt64);
  in.end_ns = in.begin_ns + 60 * s;
  in.labels = torch::tensor({0, 0, -1, 1}, torch::kInt64);
  const double t = 0.5;
  const std::int64_t horizon = 600 * s;
  EXPECT_NEAR(neighbourhood_loss(in, self(), t, horizon).item<double>(), std::log(1 + std::exp(-1 / t)), 1e-6);
  // Beyond the horizon no row has a positive; nor when the two windows overlap (the temporal term's pairs).
  EXPECT_EQ(neighbourhood_loss(in, self(), t, 200 * s).item<double>(), 0.0);
  LossInputs overlapping = in;
  overlapping.begin_ns = torch::tensor({0L, 30 * s, 7200 * s, 100 * s}, torch::kInt64);
  overlapping.end_ns = overlapping.begin_ns + 60 * s;
  EXPECT_EQ(neighbourhood_loss(overlapping, self(), t, horizon).item<double>(), 0.0);
  // runtime_slicer_loss adds it only when weighted, with the horizon in seconds.
  LossOptions o;
  o.temperature = t;
  EXPECT_EQ(runtime_slicer_loss(in, self(), o).neighbourhood.item<double>(), 0.0);
  o.lambda_neighbourhood = 0.5;
  o.neighbourhood_s = 600;
  const LossTerms terms = runtime_slicer_loss(in, self(), o);
  EXPECT_NEAR(terms.neighbourhood.item<double>(), std::log(1 + std::exp(-1 / t)), 1e-6);
  EXPECT_NEAR(terms.total.item<double>(),
              (terms.modal + o.lambda_temp * terms.temporal + o.lambda_anom * terms.anomaly + 0.5 * terms.neighbourhood)
                  .item<double>(),
              1e-6);
}

TEST(Losses, ValuesAndGradientsMatchPyTorch) {
  if (std::system("/usr/bin/python3 -c 'import torch' > /dev/null 2>&1") != 0)
    GTEST_SKIP() << "Debian's /usr/bin/python3 with python3-torch is not installed";
  torch::manual_seed(3);
  const int n = 8, d = 6;
  LossInputs in;
  in.e_m = torch::randn({n, d}).requires_grad_();
  in.e_t = torch::randn({n, d}).requires_grad_();
  in.e_l = torch::randn({n, d}).requires_grad_();
  in.z = torch::randn({n, d}).requires_grad_();
  in.begin_ns = torch::tensor({0, 30, 60, 90, 500, 530, 900, 2000}, torch::kInt64) * static_cast<std::int64_t>(1000000000);
  in.end_ns = in.begin_ns + static_cast<std::int64_t>(60000000000);
  in.labels = torch::tensor({0, 0, 1, 1, 0, -1, 1, 0}, torch::kInt64);
  in.fault_types = torch::tensor({-1, -1, 2, 7, -1, 2, 2, -1}, torch::kInt64);  // rows 2 and 6 of one type
  LossOptions o{0.1, 0.7, 0.9, 0.8, 0.1};
  o.lambda_type = 0.6;
  o.lambda_neighbourhood = 0.4;  // rows 0 and 1 have rows 4 and 5 as neighbours, row 7 as a negative
  o.neighbourhood_s = 600;
  LossTerms terms = runtime_slicer_loss(in, self(), o);
  terms.total.backward();

  test::TempDir dir;
  auto to_json = [](const torch::Tensor& t) {
    std::vector<std::vector<float>> v;
    for (int i = 0; i < t.size(0); ++i) {
      auto row = t[i].contiguous();
      v.emplace_back(row.data_ptr<float>(), row.data_ptr<float>() + row.numel());
    }
    return v;
  };
  auto longs = [](const torch::Tensor& t) {
    return std::vector<std::int64_t>(t.data_ptr<std::int64_t>(), t.data_ptr<std::int64_t>() + t.numel());
  };
  nlohmann::json input = {{"e_m", to_json(in.e_m.detach())}, {"e_t", to_json(in.e_t.detach())},
                          {"e_l", to_json(in.e_l.detach())}, {"z", to_json(in.z.detach())},
                          {"begin", longs(in.begin_ns)},       {"end", longs(in.end_ns)},
                          {"labels", longs(in.labels)},      {"fault_types", longs(in.fault_types)},
                          {"options", {{"temperature", o.temperature}, {"delta", o.delta}, {"gamma", o.gamma},
                                       {"lambda_temp", o.lambda_temp}, {"lambda_anom", o.lambda_anom},
                                       {"lambda_type", o.lambda_type},
                                       {"lambda_neighbourhood", o.lambda_neighbourhood},
                                       {"neighbourhood_ns", o.neighbourhood_s * 1e9},
                                       {"mask_overlapping", o.mask_overlapping}}}};
  std::ofstream(dir / "in.json") << input.dump();
  std::string cmd = "/usr/bin/python3 '" + std::string(RSLICER_TEST_DIR) + "/reference/losses_reference.py' '" +
                    (dir / "in.json").string() + "' '" + (dir / "out.json").string() + "'";
  ASSERT_EQ(std::system(cmd.c_str()), 0);
  std::ifstream f(dir / "out.json");
  auto ref = nlohmann::json::parse(f);
  EXPECT_NEAR(terms.modal.item<double>(), ref["modal"].get<double>(), 1e-5);
  EXPECT_NEAR(terms.temporal.item<double>(), ref["temporal"].get<double>(), 1e-5);
  EXPECT_NEAR(terms.anomaly.item<double>(), ref["anomaly"].get<double>(), 1e-5);
  EXPECT_NEAR(terms.type.item<double>(), ref["type"].get<double>(), 1e-5);
  EXPECT_NEAR(terms.neighbourhood.item<double>(), ref["neighbourhood"].get<double>(), 1e-5);
  EXPECT_NEAR(terms.total.item<double>(), ref["total"].get<double>(), 1e-5);
  EXPECT_GT(terms.temporal.item<double>(), 0.0);  // the fixture exercises every term
  EXPECT_GT(terms.anomaly.item<double>(), 0.0);
  EXPECT_GT(terms.type.item<double>(), 0.0);
  EXPECT_GT(terms.neighbourhood.item<double>(), 0.0);
  for (auto [name, t] : {std::pair{"grad_e_m", in.e_m}, {"grad_e_t", in.e_t}, {"grad_e_l", in.e_l}, {"grad_z", in.z}}) {
    auto expected = ref[name].get<std::vector<std::vector<float>>>();
    for (int i = 0; i < n; ++i)
      for (int k = 0; k < d; ++k) EXPECT_NEAR(t.grad()[i][k].item<float>(), expected[i][k], 1e-5) << name << " " << i << "," << k;
  }
}
