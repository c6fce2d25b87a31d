#include "loraft/core/version.h"

#include <torch/version.h>

namespace loraft {

const char* version() { return LORAFT_VERSION; }

const char* torch_version() { return TORCH_VERSION; }

}  // namespace loraft
