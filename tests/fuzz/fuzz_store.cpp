// The window store opener: a file of arbitrary bytes opened as a store (HDF5 superblock, schema version, the
// metadata datasets) and, when it opens, its first and last windows read. libhdf5 parses the container itself:
// a crash inside it is reported here like any other, against Debian's libhdf5.
#include "core/error.h"
#include "data/window_store.h"
#include "fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const auto path = rslicer::fuzz::write_input("store.h5", data, size);
  try {
    rslicer::data::WindowStoreReader store(path);
    if (!store.windows().empty()) {
      store.read_window(0);
      store.read_window(store.windows().size() - 1);
    }
  } catch (const rslicer::Error&) {
  }
  return 0;
}
