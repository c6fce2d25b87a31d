# loraft with CUDA: the report's full profile on a GPU (docs/gpu.md, "The Docker image").
#
#   docker build -t loraft .
#   docker run --gpus all -v ~/.cache/loraft:/cache loraft          # make paper PROFILE=full
#
# The base image is pinned by digest and LibTorch by size and SHA-256
# (scripts/install-libtorch.sh); the packages come by name from Ubuntu's signed archive. Data
# and model are not in the image: scripts/docker-entrypoint.sh fetches them into the mounted
# cache on first use, each checked against this repository's manifests.
#
# The pair CUDA 12.6.3 + LibTorch 2.7.1+cu126, rather than 12.8 + cu128: the base digest below
# is the one public lock files give for this tag, index and linux/amd64 manifest alike, while
# for 12.8.1-devel-ubuntu24.04 two different digests circulate (the tag was pushed again). The
# cu126 archive's SHA-256 has one public source, but that source's table is confirmed
# elsewhere for its cpu and cu128 entries (scripts/install-libtorch.sh), and the archive's size
# is checked too. A wrong pin stops the build; it never installs something else.
# CUDA 12.9 is avoided: it dropped libnvToolsExt, which older LibTorch CMake files link.

# Index digest of nvidia/cuda:12.6.3-devel-ubuntu24.04, as pinned in
# pathupally/Market_Sim tools/modal/cuda-toolchain-lock.json (with its linux/amd64 manifest
# sha256:badf6c452e8b1efea49d0bb956bef78adcf60e7f87ac77333208205f00ac9ade); the same index
# digest is pinned in at least nine other public Dockerfiles and lock files.
FROM nvidia/cuda:12.6.3-devel-ubuntu24.04@sha256:392c0df7b577ecae17a17f6ba7f2009c217bb4422f8431c053ae9af61a8c148a

# LORAFT_TORCH=external: the Debian/Ubuntu LibTorch and OpenBLAS are not wanted here.
# TORCH_CUDA_ARCH_LIST: LibTorch's CMake files otherwise probe the GPUs of the build host, which
# has none during `docker build` (loraft compiles no CUDA kernels; this only settles the flags).
# 8.0 A100, 8.6 A10/RTX 30, 8.9 L4/L40/RTX 40, 9.0 H100/H200.
ENV DEBIAN_FRONTEND=noninteractive \
    LORAFT_TORCH=external \
    TORCH_CUDA_ARCH_LIST="8.0;8.6;8.9;9.0" \
    LORAFT_CACHE=/cache

WORKDIR /opt/loraft

# Packages first, then LibTorch, then the sources: editing the code reuses the two big layers.
COPY scripts/install-deps.sh scripts/
RUN scripts/install-deps.sh --tex

COPY scripts/install-libtorch.sh scripts/
RUN scripts/install-libtorch.sh --prefix /opt/libtorch

COPY . .
# Builds with CUDA and runs every test that needs no GPU (docs: Doxygen's warnings depend on
# its version, which is Ubuntu's here; CI checks them on Debian). ccache would only grow the image.
RUN CCACHE_DISABLE=1 make test WERROR=OFF CMAKE_ARGS=-DCMAKE_PREFIX_PATH=/opt/libtorch CTEST_EXCLUDE="slow|cuda|docs"

ENTRYPOINT ["/opt/loraft/scripts/docker-entrypoint.sh"]
CMD ["make", "paper", "PROFILE=full"]
