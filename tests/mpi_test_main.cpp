#include "mpi_test_main.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "core/blas_kernel.h"

namespace {
rslicer::dist::MpiContext* current = nullptr;  // main()'s, for the tests it runs
}  // namespace

rslicer::dist::MpiContext& rslicer::test::mpi() { return *current; }

int main(int argc, char** argv) {
  rslicer::select_blas_kernel(argv);  // before MPI starts: it may execute this binary again (core/blas_kernel.h)
  rslicer::dist::MpiContext mpi(&argc, &argv);
  current = &mpi;
  torch::set_num_threads(1);
  ::testing::InitGoogleTest(&argc, argv);
  if (mpi.rank() != 0) ::testing::GTEST_FLAG(output) = "";
  const long long failed = RUN_ALL_TESTS();
  return mpi.allreduce_sum(failed) == 0 ? 0 : 1;
}
