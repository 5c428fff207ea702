// The main of the GoogleTest binaries run under mpirun (mpi_test_main.cpp): the BLAS kernels of production, MPI
// up before the tests, one intra-op thread per rank, GoogleTest's output from rank 0 only, and the failures summed
// over ranks, so that every rank exits non-zero when a test failed on any of them.
#pragma once

#include "dist/mpi_context.h"

namespace rslicer::test {

// This process's MPI, for the tests.
dist::MpiContext& mpi();

}  // namespace rslicer::test
