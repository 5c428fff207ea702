# LibTorch from PyTorch's own install (a pip wheel, as GPU machines have it: CUDA, cuDNN and NCCL inside), for
# RSLICER_TORCH_DIR = python3 -c 'import torch, os; print(os.path.dirname(torch.__file__))'. Linked by hand:
# the wheel's TorchConfig.cmake asks for more of the CUDA toolchain (nvToolsExt, a matching nvcc) than this build
# needs. Sets what find_package(Torch) would: TORCH_LIBRARIES, TORCH_CXX_FLAGS, TORCH_INSTALL_PREFIX,
# Torch_VERSION, and TORCH_CUDA_LIBRARIES when the wheel has CUDA.
set(RSLICER_TORCH_CXX11_ABI 1 CACHE STRING "python3 -c 'import torch; print(int(torch._C._GLIBCXX_USE_CXX11_ABI))'")
set(dir ${RSLICER_TORCH_DIR})
foreach(required include/torch/csrc/api/include lib/libtorch.so lib/libtorch_cpu.so lib/libc10.so)
  if(NOT EXISTS ${dir}/${required})
    message(FATAL_ERROR "RSLICER_TORCH_DIR=${dir}: no ${required} (expected PyTorch's package directory)")
  endif()
endforeach()
file(STRINGS ${dir}/version.py version_line REGEX "^__version__")
string(REGEX REPLACE "^__version__ *= *['\"]([^'\"]+)['\"].*" "\\1" Torch_VERSION "${version_line}")

add_library(rslicer_wheel_torch INTERFACE)
target_include_directories(rslicer_wheel_torch SYSTEM INTERFACE ${dir}/include ${dir}/include/torch/csrc/api/include)
# The wheel exports its own copy of std::filesystem (built for an older libstdc++); libstdc++ is named first so
# that our calls bind to the system's (else TempDir's remove_all jumped to a null pointer inside libtorch.so).
set(torch_libraries -Wl,--push-state,--no-as-needed -lstdc++ -Wl,--pop-state)
if(EXISTS ${dir}/lib/libtorch_cuda.so)
  find_package(CUDAToolkit REQUIRED)
  # Nothing references libtorch_cuda by symbol, yet loading it registers the CUDA backend: --no-as-needed.
  list(APPEND torch_libraries -Wl,--no-as-needed ${dir}/lib/libtorch_cuda.so -Wl,--as-needed ${dir}/lib/libc10_cuda.so
       CUDA::cudart)
  set(TORCH_CUDA_LIBRARIES ${dir}/lib/libtorch_cuda.so)
endif()
list(APPEND torch_libraries ${dir}/lib/libtorch.so ${dir}/lib/libtorch_cpu.so ${dir}/lib/libc10.so -Wl,-rpath,${dir}/lib)
target_link_libraries(rslicer_wheel_torch INTERFACE ${torch_libraries})
target_compile_definitions(rslicer_wheel_torch INTERFACE _GLIBCXX_USE_CXX11_ABI=${RSLICER_TORCH_CXX11_ABI})
set(TORCH_LIBRARIES rslicer_wheel_torch)
set(TORCH_CXX_FLAGS -D_GLIBCXX_USE_CXX11_ABI=${RSLICER_TORCH_CXX11_ABI})
set(TORCH_INSTALL_PREFIX ${dir})
unset(dir)
