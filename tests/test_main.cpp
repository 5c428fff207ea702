// The main of every GoogleTest binary: the BLAS kernels rslicer itself runs with (core/blas_kernel.h), so that
// tests exercise the kernels of production (and run at their speed), then the tests.
#include <gtest/gtest.h>

#include "core/blas_kernel.h"

int main(int argc, char** argv) {
  rslicer::select_blas_kernel(argv);
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
