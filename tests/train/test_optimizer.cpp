// The fused flat AdamW against torch::optim::AdamW (the reference path), and the flat parameter layout.
#include <gtest/gtest.h>
#include <cmath>
#include <torch/torch.h>

#include "core/error.h"
#include "train/flat_adamw.h"
#include "train/flat_parameters.h"
#include "train/optimizer.h"
#include "train/sparse_rows.h"

using namespace rslicer;

TEST(FusedAdamW, MatchesTorchAdamWOverSeveralSteps) {
  torch::manual_seed(3);
  const double lr = 1e-2, wd = 0.05, eps = 1e-8;
  auto reference = torch::randn({1000}, torch::requires_grad());
  torch::optim::AdamW torch_adamw({reference}, torch::optim::AdamWOptions(lr).weight_decay(wd).eps(eps));
  torch::Tensor param = reference.detach().clone(), m = torch::zeros({1000}), v = torch::zeros({1000});
  float max_diff = 0;
  for (int step = 1; step <= 20; ++step) {
    torch::Tensor grad = torch::randn({1000}) * (step % 3 == 0 ? 10.0 : 0.1);
    reference.mutable_grad() = grad.clone();
    torch_adamw.step();
    train::fused_adamw(param.data_ptr<float>(), grad.data_ptr<float>(), m.data_ptr<float>(), v.data_ptr<float>(),
                       1000, {lr, 0.9, 0.999, eps, wd}, step);
    max_diff = std::max(max_diff, (param - reference.detach()).abs().max().item<float>());
  }
  EXPECT_LT(max_diff, 1e-6);
  EXPECT_GT((param - torch::randn({1000})).abs().max().item<float>(), 1e-3);
}

TEST(FusedAdamW, VectorizedKernelEqualsThePlainLoopBitwise) {
  // The reference: the rule of flat_adamw.h one scalar float operation at a time, in the kernel's order. Odd
  // lengths leave a remainder after the vector lanes.
  torch::manual_seed(5);
  for (std::int64_t n : {1, 7, 33, 1001}) {
    torch::Tensor p = torch::randn({n}), g = torch::randn({n}) * 3, m = torch::randn({n}) * 0.1, v = torch::rand({n});
    torch::Tensor p2 = p.clone(), m2 = m.clone(), v2 = v.clone();
    const train::AdamWStep s = train::adamw_step({1e-2, 0.9, 0.999, 1e-8, 0.05}, 7, 0.25f);
    train::adamw_kernel(s, p.data_ptr<float>(), g.data_ptr<float>(), m.data_ptr<float>(), v.data_ptr<float>(), n);
    float *pp = p2.data_ptr<float>(), *mm = m2.data_ptr<float>(), *vv = v2.data_ptr<float>();
    const float* gg = g.data_ptr<float>();
    for (std::int64_t i = 0; i < n; ++i) {
      volatile float gi = gg[i] * s.grad_scale;  // volatile: no fused multiply-add in the reference either
      volatile float b1m = s.b1 * mm[i], gm = s.one_minus_b1 * gi;
      volatile float mi = b1m + gm;
      volatile float b2v = s.b2 * vv[i], g2 = s.one_minus_b2 * gi * gi;
      volatile float vi = b2v + g2;
      volatile float pi = pp[i] * s.decay;
      volatile float denominator = std::sqrt(static_cast<float>(vi)) / s.bias2_sqrt + s.eps;
      volatile float delta = s.step_size * (mi / denominator);
      pp[i] = pi - delta;
      mm[i] = mi;
      vv[i] = vi;
    }
    EXPECT_TRUE(torch::equal(p, p2)) << "n " << n << " max diff " << (p - p2).abs().max().item<float>();
    EXPECT_TRUE(torch::equal(m, m2)) << "n " << n;
    EXPECT_TRUE(torch::equal(v, v2)) << "n " << n;
  }
}

TEST(FusedAdamW, GradScaleIsClipping) {
  torch::Tensor p1 = torch::ones({8}), p2 = torch::ones({8}), g = torch::arange(8).to(torch::kFloat32);
  torch::Tensor half = g * 0.5;
  torch::Tensor m1 = torch::zeros({8}), v1 = torch::zeros({8}), m2 = torch::zeros({8}), v2 = torch::zeros({8});
  train::AdamWHyper h{1e-2, 0.9, 0.999, 1e-8, 0.0};
  train::fused_adamw(p1.data_ptr<float>(), g.data_ptr<float>(), m1.data_ptr<float>(), v1.data_ptr<float>(), 8, h, 1, 0.5f);
  train::fused_adamw(p2.data_ptr<float>(), half.data_ptr<float>(), m2.data_ptr<float>(), v2.data_ptr<float>(), 8, h, 1);
  EXPECT_TRUE(torch::equal(p1, p2));
  EXPECT_TRUE(torch::equal(m1, m2));
}

TEST(FusedAdamW, SlicesGiveTheSameResultAsTheWhole) {
  // ZeRO-1: three ranks updating their slices equal one update of everything, bit for bit.
  torch::manual_seed(4);
  torch::Tensor p = torch::randn({1001}), g = torch::randn({1001});
  torch::Tensor whole = p.clone(), mw = torch::zeros({1001}), vw = torch::zeros({1001});
  train::AdamWHyper h{1e-3, 0.9, 0.999, 1e-8, 0.01};
  train::fused_adamw(whole.data_ptr<float>(), g.data_ptr<float>(), mw.data_ptr<float>(), vw.data_ptr<float>(), 1001, h, 1);
  auto part = train::even_partition(1001, 3);
  ASSERT_EQ(part, (std::vector<std::int64_t>{0, 334, 668, 1001}));
  torch::Tensor sliced = p.clone();
  for (int r = 0; r < 3; ++r) {
    const auto b = part[static_cast<std::size_t>(r)], n = part[static_cast<std::size_t>(r) + 1] - b;
    torch::Tensor m = torch::zeros({n}), v = torch::zeros({n});
    train::fused_adamw(sliced.data_ptr<float>() + b, g.data_ptr<float>() + b, m.data_ptr<float>(), v.data_ptr<float>(), n, h, 1);
  }
  EXPECT_TRUE(torch::equal(sliced, whole));
}

TEST(FlatParameters, ParametersBecomeViewsOfOneBuffer) {
  torch::nn::Linear lin(3, 2);
  auto before_w = lin->weight.detach().clone();
  train::FlatParameters flat({"weight", "bias"}, {lin->weight, lin->bias}, 4);
  EXPECT_EQ(flat.numel(), 8);
  EXPECT_EQ(flat.chunk(), 2);
  EXPECT_EQ(flat.params().numel(), 8);
  EXPECT_TRUE(torch::equal(lin->weight.detach(), before_w));
  flat.params().narrow(0, 0, 6).fill_(2.0f);  // writes to the buffer are the module's parameters
  EXPECT_EQ(lin->weight.detach().sum().item<float>(), 12.0f);
  auto loss = lin(torch::ones({1, 3})).sum();
  loss.backward();
  flat.collect_grads();
  EXPECT_EQ(flat.grads().narrow(0, 0, 6).sum().item<float>(), 6.0f);
  EXPECT_EQ(flat.grads().narrow(0, 6, 2).sum().item<float>(), 2.0f);
  EXPECT_EQ(flat.entries()[1].offset, 6);
  EXPECT_EQ(flat.partition(), (std::vector<std::int64_t>{0, 2, 4, 6, 8}));
}

TEST(SparseRows, CoalesceSumsDuplicateRows) {
  torch::Tensor idx = torch::tensor({3, 1, 3}, torch::kInt64).unsqueeze(0);
  torch::Tensor val = torch::tensor({1.f, 2.f, 10.f, 20.f, 100.f, 200.f}).view({3, 2});
  auto rows = train::coalesce_rows(torch::sparse_coo_tensor(idx, val, {5, 2}));
  EXPECT_TRUE(torch::equal(rows.rows, torch::tensor({1, 3}, torch::kInt64)));
  EXPECT_TRUE(torch::equal(rows.values, torch::tensor({10.f, 20.f, 101.f, 202.f}).view({2, 2})));
}

TEST(SparseRows, CoalesceEqualsTorchsCoalesce) {
  torch::manual_seed(3);
  for (std::int64_t n : {1, 2, 37, 3072}) {
    const torch::Tensor idx = torch::randint(0, 50, {1, n}, torch::kInt64);
    // Small integers: every sum is exact in fp32, whatever the order, so the two must agree bitwise.
    const torch::Tensor exact = torch::randint(-8, 8, {n, 5}).to(torch::kFloat32);
    const auto fast = train::coalesce_rows(torch::sparse_coo_tensor(idx, exact, {50, 5}));
    const auto reference = train::coalesce_rows_reference(torch::sparse_coo_tensor(idx, exact, {50, 5}));
    ASSERT_TRUE(torch::equal(fast.rows, reference.rows)) << n;
    ASSERT_TRUE(torch::equal(fast.values, reference.values)) << n;
    const torch::Tensor real = torch::randn({n, 5});
    const auto a = train::coalesce_rows(torch::sparse_coo_tensor(idx, real, {50, 5}));
    const auto b = train::coalesce_rows_reference(torch::sparse_coo_tensor(idx, real, {50, 5}));
    ASSERT_TRUE(torch::equal(a.rows, b.rows)) << n;
    ASSERT_LT((a.values - b.values).abs().max().item<float>(), 1e-5f) << n;  // sums of up to ~60 N(0,1) terms
  }
  // An embedding's own sparse gradient, ids repeated across the batch.
  torch::nn::Embedding embedding(torch::nn::EmbeddingOptions(30, 4).sparse(true));
  const torch::Tensor ids = torch::randint(0, 30, {6, 9}, torch::kInt64);
  embedding->forward(ids).pow(2).sum().backward();
  const auto fast = train::coalesce_rows(embedding->weight.grad());
  const auto reference = train::coalesce_rows_reference(embedding->weight.grad());
  EXPECT_TRUE(torch::equal(fast.rows, std::get<0>(at::_unique(ids.reshape({-1}), true))));
  EXPECT_TRUE(torch::equal(fast.rows, reference.rows));
  EXPECT_TRUE(torch::allclose(fast.values, reference.values, 1e-5, 1e-6));
}

// Gathered rows as the exchange lays them out: every rank's sorted unique rows, one rank after the other.
train::GatheredRows random_gathered_rows(std::int64_t world, std::int64_t vocab, std::int64_t width, int seed) {
  torch::manual_seed(seed);
  train::GatheredRows g;
  g.counts = torch::empty({world}, torch::kInt64);
  std::vector<torch::Tensor> rows, values;
  for (std::int64_t r = 0; r < world; ++r) {
    const auto n = torch::randint(0, vocab / 2, {1}).item<std::int64_t>();  // rank 0 touches none
    rows.push_back(std::get<0>(at::_unique(torch::randint(0, vocab, {r == 0 ? 0 : n}, torch::kInt64), true)));
    values.push_back(torch::randn({rows.back().size(0), width}));
    g.counts[r] = rows.back().size(0);
  }
  g.rows = torch::cat(rows);
  g.values = torch::cat(values);
  return g;
}

TEST(SparseRows, MergeSumEqualsTheIndexAddReferenceBitwise) {
  for (std::int64_t world : {1, 2, 3, 8}) {
    for (int seed = 0; seed < 5; ++seed) {
      const auto g = random_gathered_rows(world, 200, 7, seed);
      const auto fast = train::sum_gathered_rows(g), reference = train::sum_gathered_rows_reference(g);
      ASSERT_TRUE(torch::equal(fast.rows, reference.rows)) << "world " << world << " seed " << seed;
      ASSERT_TRUE(torch::equal(fast.values, reference.values)) << "world " << world << " seed " << seed;
    }
  }
  // A row two ranks touched: the mean of their values.
  train::GatheredRows g;
  g.counts = torch::tensor({2, 1}, torch::kInt64);
  g.rows = torch::tensor({4, 9, 9}, torch::kInt64);
  g.values = torch::tensor({1.f, 2.f, 3.f}).view({3, 1});
  const auto mean = train::sum_gathered_rows(g);
  EXPECT_TRUE(torch::equal(mean.rows, torch::tensor({4, 9}, torch::kInt64)));
  EXPECT_TRUE(torch::equal(mean.values, torch::tensor({0.5f, 2.5f}).view({2, 1})));
}

TEST(SparseRows, RowsWithinARangeCountTheirElementsAndSquaresThere) {
  // Rows 1, 2, 4, 6 of a [8, 4] block at offset 3; the range [3 + 4 + 2, 3 + 24 + 1) cuts rows 1 and 6 and holds
  // row 2 and 4 whole: 4 rows, 2 + 4 + 4 + 1 = 11 elements.
  torch::manual_seed(9);
  const train::SparseRows rows{torch::tensor({1, 2, 4, 6}, torch::kInt64), torch::randn({4, 4})};
  const std::int64_t begin = 3 + 4 + 2, end = 3 + 24 + 1;
  const train::RowsWithin within = train::rows_within(rows, 3, begin, end);
  EXPECT_EQ(within.rows, 4);
  EXPECT_EQ(within.elements, 11);
  double expected = 0;
  for (std::int64_t i = 0; i < 4; ++i)
    for (std::int64_t j = 0; j < 4; ++j) {
      const std::int64_t at = 3 + rows.rows[i].item<std::int64_t>() * 4 + j;
      if (at >= begin && at < end) expected += std::pow(rows.values[i][j].item<double>(), 2);
    }
  EXPECT_NEAR(within.squares, expected, 1e-5 * expected);
  const train::RowsWithin none = train::rows_within(rows, 3, 0, 3);
  EXPECT_EQ(none.rows, 0);
  EXPECT_EQ(none.squares, 0.0);
  const train::RowsWithin all = train::rows_within(rows, 3, 0, 100);
  EXPECT_EQ(all.elements, 16);
  EXPECT_NEAR(all.squares, rows.values.pow(2).sum().item<double>(), 1e-5);
}

TEST(SparseRows, ARowIsClippedToTheRange) {
  // Row 1 of a [8, 4] block at offset 3 is [7, 11) of the flat buffer.
  const auto part = [](std::int64_t begin, std::int64_t end) {
    const train::RowPart p = train::row_within(3, 4, 1, begin, end);
    return std::pair{p.first, p.count};
  };
  EXPECT_EQ(part(0, 100), (std::pair<std::int64_t, std::int64_t>{7, 4}));
  EXPECT_EQ(part(9, 100), (std::pair<std::int64_t, std::int64_t>{9, 2}));   // cut at the range's start
  EXPECT_EQ(part(0, 8), (std::pair<std::int64_t, std::int64_t>{7, 1}));     // cut at its end
  EXPECT_EQ(part(8, 10), (std::pair<std::int64_t, std::int64_t>{8, 2}));    // inside the row
  EXPECT_EQ(part(11, 20).second, 0);                                        // just after the row
  EXPECT_EQ(part(0, 7).second, 0);                                          // just before it
}

TEST(SparseRows, LazyAdamWEqualsDenseOnRowsTouchedEveryStepAndLeavesOthers) {
  // A [6, 4] block at offset 3 of a flat buffer; rows 1 and 4 are touched at every step, the rest never.
  torch::manual_seed(5);
  const std::int64_t offset = 3, n = 3 + 24 + 2;
  torch::Tensor dense = torch::randn({n}), lazy = dense.clone();
  torch::Tensor md = torch::zeros({n}), vd = torch::zeros({n}), ml = torch::zeros({n}), vl = torch::zeros({n});
  train::AdamWHyper h{1e-2, 0.9, 0.999, 1e-8, 0.1};
  for (int step = 1; step <= 5; ++step) {
    torch::Tensor values = torch::randn({2, 4});
    torch::Tensor g = torch::zeros({n});
    g.narrow(0, offset + 4, 4).copy_(values[0]);
    g.narrow(0, offset + 16, 4).copy_(values[1]);
    train::fused_adamw(dense.data_ptr<float>(), g.data_ptr<float>(), md.data_ptr<float>(), vd.data_ptr<float>(), n, h, step);
    train::SparseRows rows{torch::tensor({1, 4}, torch::kInt64), values.contiguous()};
    train::lazy_adamw_rows(lazy.data_ptr<float>(), offset, rows, ml.data_ptr<float>(), vl.data_ptr<float>(), 0, 0, n,
                           h, step, 1.0f);
  }
  for (std::int64_t row : {1, 4}) {
    auto a = dense.narrow(0, offset + row * 4, 4), b = lazy.narrow(0, offset + row * 4, 4);
    EXPECT_TRUE(torch::equal(a, b)) << "row " << row;
  }
  // Untouched rows: dense AdamW decays them (weight decay), the lazy rule leaves them exactly as they were.
  torch::manual_seed(5);
  torch::Tensor initial = torch::randn({n});
  EXPECT_TRUE(torch::equal(lazy.narrow(0, offset, 4), initial.narrow(0, offset, 4)));
  EXPECT_FALSE(torch::equal(dense.narrow(0, offset, 4), initial.narrow(0, offset, 4)));
}

namespace {
// An optimizer over [begin, end) of a flat buffer with a [6, 4] embedding block at offset 5: dense updates of the
// range outside the block and lazy updates of touched rows (rows 0, 2 and 5; the range cuts row 2), 5 steps.
torch::Tensor run_optimizer(train::Optimizer& optimizer, torch::Tensor params, std::uint64_t seed) {
  torch::manual_seed(seed);
  const std::int64_t block = 5, width = 4, rows_end = block + 24;
  for (int step = 1; step <= 5; ++step) {
    torch::Tensor grads = torch::randn({params.size(0)}) * (step % 2 ? 3.0 : 0.01);
    train::SparseRows rows{torch::tensor({0, 2, 5}, torch::kInt64), torch::randn({3, width})};
    optimizer.begin_update({1e-2, 0.9, 0.999, 1e-8, 0.05}, step == 3 ? 0.5f : 1.0f);
    optimizer.update_range(params, grads, optimizer.begin(), block);
    optimizer.update_range(params, grads, rows_end, optimizer.end());
    optimizer.update_rows(params, block, rows);
  }
  return params;
}
}  // namespace

TEST(Optimizer, TensorOpsEqualTheHostKernel) {
  // The device path (LibTorch ops) against the fused host loop, on CPU: dense ranges, rows cut by the range, a
  // clipping factor; parameters and moments.
  const torch::Tensor initial = torch::randn({40});
  train::FlatAdamW host(2, 36, torch::kCPU, train::OptimizerKernel::host);
  train::FlatAdamW ops(2, 36, torch::kCPU, train::OptimizerKernel::tensor_ops);
  const torch::Tensor a = run_optimizer(host, initial.clone(), 7), b = run_optimizer(ops, initial.clone(), 7);
  const float max_diff = (a - b).abs().max().item<float>();
  EXPECT_LT(max_diff, 1e-6) << "parameters";
  EXPECT_TRUE(torch::allclose(host.state_dict().at("exp_avg"), ops.state_dict().at("exp_avg"), 1e-6, 1e-7));
  EXPECT_TRUE(torch::allclose(host.state_dict().at("exp_avg_sq"), ops.state_dict().at("exp_avg_sq"), 1e-6, 1e-9));
  // Both moved the parameters, outside the range nothing moved, and an untouched row (1) kept its moments at 0.
  EXPECT_GT((a - initial).abs().max().item<float>(), 1e-3);
  EXPECT_TRUE(torch::equal(b.narrow(0, 0, 2), initial.narrow(0, 0, 2)));
  EXPECT_TRUE(torch::equal(b.narrow(0, 36, 4), initial.narrow(0, 36, 4)));
  EXPECT_EQ(ops.state_dict().at("exp_avg").narrow(0, 5 + 4 - 2, 4).abs().sum().item<float>(), 0.0f);
  EXPECT_EQ(ops.steps(), 5);
}

TEST(Optimizer, StateDictRoundTripContinuesTheSameRun) {
  const torch::Tensor initial = torch::randn({40});
  train::FlatAdamW first(0, 40, torch::kCPU);
  torch::Tensor p = run_optimizer(first, initial.clone(), 3);
  train::FlatAdamW resumed(0, 40, torch::kCPU);
  resumed.load_state_dict(first.state_dict());
  EXPECT_EQ(resumed.steps(), 5);
  torch::Tensor q = p.clone();
  run_optimizer(first, p, 11);
  run_optimizer(resumed, q, 11);
  EXPECT_TRUE(torch::equal(p, q));
  // A state of another range is refused with what it expected.
  train::FlatAdamW other(0, 10, torch::kCPU);
  EXPECT_THROW(other.load_state_dict(first.state_dict()), rslicer::Error);
  EXPECT_THROW(train::parse_optimizer_kernel("cuda"), rslicer::ConfigError);
}
