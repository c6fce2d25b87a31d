#include "loraft/dist/process_group.h"

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <functional>
#include <limits>
#include <thread>

// The c10d headers, with Gloo's, stay in this one file: loraft's headers do not need them.
#include <torch/csrc/distributed/c10d/FileStore.hpp>
#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#ifdef LORAFT_HAVE_GLOO
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#endif
#ifdef LORAFT_HAVE_NCCL
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
#endif

namespace loraft::dist {
namespace {

std::vector<std::uint8_t> bytes(const std::string& s) { return {s.begin(), s.end()}; }
std::string text(const std::vector<std::uint8_t>& b) { return {b.begin(), b.end()}; }

// The first line of a backend's message: Gloo's carry a source location and sometimes more.
std::string first_line(const std::string& s) { return s.substr(0, s.find('\n')); }

std::int64_t env_number(const char* name, std::int64_t fallback) {
  const char* value = std::getenv(name);
  if (value == nullptr || *value == '\0') return fallback;
  char* end = nullptr;
  errno = 0;
  const long long n = std::strtoll(value, &end, 10);
  if (*end != '\0' || errno != 0)
    throw ConfigError(std::string("environment variable ") + name + "=\"" + value + "\" is not a whole number",
                      name, "a whole number");
  return n;
}

std::string env_text(const char* name, const std::string& fallback) {
  const char* value = std::getenv(name);
  return value != nullptr && *value != '\0' ? value : fallback;
}

// TCPStoreOptions::useLibUV (LibTorch 2.2 on; true by default from 2.4) set to false where it
// exists: builds without libuv, Debian's among them, refuse to start a store that asks for it,
// and the classic socket server serves a data-parallel job's few ranks as well.
template <class Options>
auto classic_tcp_store(Options& o, int) -> decltype(o.useLibUV = false, void()) {
  o.useLibUV = false;
}
template <class Options>
void classic_tcp_store(Options&, long) {}

std::string resolve_backend(const std::string& backend, const torch::Device& device) {
  if (backend != "auto") return backend;
  return device.is_cuda() && backend_available("nccl") ? "nccl" : "gloo";
}

}  // namespace

void DistConfig::validate() const {
  if (world_size < 1)
    throw ConfigError("world size " + std::to_string(world_size), "WORLD_SIZE / --world-size", "at least 1");
  if (rank < 0 || rank >= world_size)
    throw ConfigError("rank " + std::to_string(rank) + " with world size " + std::to_string(world_size),
                      "RANK / --rank", "0 <= rank < " + std::to_string(world_size));
  if (local_rank < 0) throw ConfigError("local rank " + std::to_string(local_rank), "LOCAL_RANK", ">= 0");
  if (master_port < 1 || master_port > 65535)
    throw ConfigError("port " + std::to_string(master_port), "MASTER_PORT / --master-port", "1 to 65535");
  if (timeout_s < 1)
    throw ConfigError("timeout " + std::to_string(timeout_s) + " s", "LORAFT_DIST_TIMEOUT / --dist-timeout",
                      "at least 1 second");
  if (backend != "auto" && backend != "gloo" && backend != "nccl")
    throw ConfigError("unknown backend \"" + backend + "\"", "--dist-backend", "gloo, nccl or auto");
}

DistConfig DistConfig::from_environment(DistConfig c) {
  c.world_size = env_number("WORLD_SIZE", c.world_size);
  c.rank = env_number("RANK", c.rank);
  c.local_rank = env_number("LOCAL_RANK", c.local_rank);
  c.master_addr = env_text("MASTER_ADDR", c.master_addr);
  c.master_port = env_number("MASTER_PORT", c.master_port);
  c.store_file = env_text("LORAFT_STORE_FILE", c.store_file);
  c.timeout_s = env_number("LORAFT_DIST_TIMEOUT", c.timeout_s);
  c.backend = env_text("LORAFT_DIST_BACKEND", c.backend);
  return c;
}

bool backend_available([[maybe_unused]] const std::string& backend) {
#ifdef LORAFT_HAVE_GLOO
  if (backend == "gloo") return true;
#endif
#ifdef LORAFT_HAVE_NCCL
  if (backend == "nccl") return true;
#endif
  return false;
}

struct ProcessGroup::Impl {
  DistConfig config;
  std::string backend;
  torch::Device device = torch::kCPU;
  c10::intrusive_ptr<c10d::Store> store;
  // The backend's collectives (their types differ between LibTorch 1.x and 2.x).
  std::function<void(std::vector<at::Tensor>&)> all_reduce;
  std::function<void()> barrier;
  std::int64_t collectives = 0;  // collectives entered so far, the same count on every rank
  std::int64_t agreements = 0;   // check_agreement() calls so far

  std::string mark_key(std::int64_t rank) const { return "loraft/collective/" + std::to_string(rank); }

  // Runs collective number `collectives + 1`, first recording in the store that this rank
  // reached it; a failure names the ranks whose record is older.
  void collective(const std::string& what, const std::function<void()>& body) {
    ++collectives;
    try {
      store->set(mark_key(config.rank), bytes(std::to_string(collectives)));
      body();
    } catch (const std::exception& e) {
      throw missing(what, e.what());
    }
  }

  // After a failed collective: the ranks that did not reach it (their last collective is
  // older) or that do not say within a few seconds that they saw it fail too (dead or hung).
  DistError missing(const std::string& what, const std::string& cause) const {
    const std::string failed = "failed/" + std::to_string(collectives) + "/";
    std::string silent;
    try {
      store->set(failed + std::to_string(config.rank), bytes("1"));
      std::vector<bool> heard(static_cast<std::size_t>(config.world_size), false);
      heard[config.rank] = true;
      const auto deadline =
          std::chrono::steady_clock::now() + std::min(std::chrono::seconds(5), std::chrono::seconds(config.timeout_s));
      for (bool all = false; !all && std::chrono::steady_clock::now() < deadline;) {
        all = true;
        for (std::int64_t r = 0; r < config.world_size; ++r) {
          if (!heard[r]) {
            const bool behind = store->check({mark_key(r)}) && std::stoll(text(store->get(mark_key(r)))) < collectives;
            heard[r] = !behind && store->check({failed + std::to_string(r)});
          }
          all = all && heard[r];
        }
        if (!all) std::this_thread::sleep_for(std::chrono::milliseconds(50));
      }
      for (std::int64_t r = 0; r < config.world_size; ++r)
        if (!heard[r]) silent += (silent.empty() ? "" : ", ") + std::to_string(r);
    } catch (const std::exception&) {
      return DistError(what + " failed: rank 0, which holds the rendezvous store, is gone (" + first_line(cause) + ")",
                       "rank " + std::to_string(config.rank), "every rank alive until the job ends");
    }
    const std::string who = silent.empty() ? "a rank left during it"
                                           : "rank " + silent + " died or hung (no word from it within " +
                                                 std::to_string(config.timeout_s) + " s)";
    return DistError(what + " failed: " + who + " (" + first_line(cause) + ")", "rank " + std::to_string(config.rank),
                     "every rank alive; the missing rank's own output says why it stopped");
  }
};

ProcessGroup::ProcessGroup(const DistConfig& config, const torch::Device& device) : impl_(std::make_unique<Impl>()) {
  config.validate();
  Impl& p = *impl_;
  p.config = config;
  p.device = device;
  p.backend = resolve_backend(config.backend, device);
  if (!backend_available(p.backend))
    throw ConfigError("this build of loraft has no " + p.backend + " backend", "--dist-backend",
                      p.backend == "nccl" ? "gloo, or a CUDA build of LibTorch with NCCL"
                                          : "a build with Gloo's headers (Debian: libgloo-dev)");
  if (p.backend == "nccl" && !device.is_cuda())
    throw ConfigError("the nccl backend needs a CUDA device", "--dist-backend", "gloo on the CPU");
  const std::chrono::milliseconds timeout(config.timeout_s * 1000);
  const int rank = static_cast<int>(config.rank), size = static_cast<int>(config.world_size);
  const std::string where = config.store_file.empty()
                                ? config.master_addr + ":" + std::to_string(config.master_port)
                                : config.store_file;
  try {
    c10::intrusive_ptr<c10d::Store> base;
    if (!config.store_file.empty()) {
      base = c10::make_intrusive<c10d::FileStore>(config.store_file, size);
    } else {
      c10d::TCPStoreOptions o;
      o.port = static_cast<std::uint16_t>(config.master_port);
      o.isServer = rank == 0;
      o.numWorkers = static_cast<std::size_t>(size);
      o.waitWorkers = true;
      o.timeout = timeout;
      classic_tcp_store(o, 0);
      base = c10::make_intrusive<c10d::TCPStore>(config.master_addr, o);
    }
    base->setTimeout(timeout);
    p.store = c10::make_intrusive<c10d::PrefixStore>("loraft", base);
  } catch (const std::exception& e) {
    throw DistError("rendezvous failed: " + first_line(e.what()), where,
                    rank == 0 ? "a free port on this machine (--master-port), and every rank started within " +
                                    std::to_string(config.timeout_s) + " s"
                              : "rank 0 listening there within " + std::to_string(config.timeout_s) + " s");
  }
  p.collective("opening the " + p.backend + " group", [&] {
#ifdef LORAFT_HAVE_GLOO
    if (p.backend == "gloo") {
      auto options = c10d::ProcessGroupGloo::Options::create(timeout);
      // The address this rank's peers reach it at; on one machine the loopback.
      options->devices.push_back(config.master_addr == "127.0.0.1" || config.master_addr == "localhost"
                                     ? c10d::ProcessGroupGloo::createDeviceForHostname("127.0.0.1")
                                     : c10d::ProcessGroupGloo::createDefaultDevice());
      auto group = c10::make_intrusive<c10d::ProcessGroupGloo>(p.store, rank, size, options);
      p.all_reduce = [group](std::vector<at::Tensor>& t) { group->allreduce(t)->wait(); };
      p.barrier = [group] { group->barrier()->wait(); };
    }
#endif
#ifdef LORAFT_HAVE_NCCL
    if (p.backend == "nccl") {
      auto options = c10d::ProcessGroupNCCL::Options::create();
      options->timeout = timeout;
      auto group = c10::make_intrusive<c10d::ProcessGroupNCCL>(p.store, rank, size, options);
      p.all_reduce = [group](std::vector<at::Tensor>& t) { group->allreduce(t)->wait(); };
      p.barrier = [group] { group->barrier()->wait(); };
    }
#endif
  });
}

ProcessGroup::~ProcessGroup() = default;

std::int64_t ProcessGroup::rank() const noexcept { return impl_->config.rank; }
std::int64_t ProcessGroup::size() const noexcept { return impl_->config.world_size; }
const std::string& ProcessGroup::backend() const noexcept { return impl_->backend; }
torch::Device ProcessGroup::device() const noexcept { return impl_->device; }

void ProcessGroup::all_reduce_sum(torch::Tensor& tensor, const std::string& what) {
  impl_->collective(what, [&] {
    // NCCL reduces device memory only: a host tensor travels through the rank's GPU.
    const bool stage = impl_->backend == "nccl" && !tensor.is_cuda();
    std::vector<at::Tensor> tensors{stage ? tensor.to(impl_->device) : tensor};
    impl_->all_reduce(tensors);
    if (stage) tensor.copy_(tensors.front());
  });
}

void ProcessGroup::barrier(const std::string& what) { impl_->collective(what, [&] { impl_->barrier(); }); }

void ProcessGroup::check_agreement(const std::string& what, const std::string& value) {
  Impl& p = *impl_;
  const std::string prefix = "agree/" + std::to_string(++p.agreements) + "/";
  std::vector<std::string> values(static_cast<std::size_t>(p.config.world_size));
  std::int64_t r = 0;
  try {
    p.store->set(prefix + std::to_string(p.config.rank), bytes(value));
    for (r = 0; r < p.config.world_size; ++r) values[r] = text(p.store->get(prefix + std::to_string(r)));
  } catch (const std::exception& e) {
    throw DistError("comparing " + what + ": rank " + std::to_string(r) + " died or hung (no answer within " +
                        std::to_string(p.config.timeout_s) + " s: " + first_line(e.what()) + ")",
                    "rank " + std::to_string(p.config.rank), "every rank alive; the missing rank's own output says why");
  }
  std::string differ;
  for (r = 1; r < p.config.world_size; ++r)
    if (values[r] != values[0]) differ += ", rank " + std::to_string(r) + " has " + values[r];
  if (!differ.empty())
    throw DistError(what + " differs between ranks: rank 0 has " + values[0] + differ,
                    "rank " + std::to_string(p.config.rank), "the same command and files on every rank");
}

void all_reduce_gradients(ProcessGroup& group, const std::vector<torch::Tensor>& params,
                          std::vector<double>& extra, const std::string& what) {
  if (params.empty()) return;
  std::int64_t numel = 0;
  for (const auto& p : params) numel += p.numel();
  // [gradients | one "has a gradient" flag per parameter | extra]: a parameter that no rank
  // gave a gradient stays without one, as in a single process (AdamW then skips it).
  const auto flags = static_cast<std::int64_t>(params.size());
  torch::Tensor flat = torch::empty({numel + flags + static_cast<std::int64_t>(extra.size())},
                                    params.front().options().dtype(torch::kFloat32));
  std::vector<float> flags_and_extra;  // copied in at once
  std::int64_t offset = 0;
  for (const auto& p : params) {
    const auto& g = p.grad();
    auto slot = flat.narrow(0, offset, p.numel());
    if (g.defined())
      slot.copy_(g.reshape({-1}));
    else
      slot.zero_();
    flags_and_extra.push_back(g.defined() ? 1.0f : 0.0f);
    offset += p.numel();
  }
  for (double e : extra) flags_and_extra.push_back(static_cast<float>(e));
  flat.narrow(0, numel, static_cast<std::int64_t>(flags_and_extra.size())).copy_(torch::tensor(flags_and_extra));
  group.all_reduce_sum(flat, what);
  const torch::Tensor host_tail = flat.narrow(0, numel, flags + static_cast<std::int64_t>(extra.size())).to(torch::kCPU);
  const auto tail = host_tail.accessor<float, 1>();
  offset = 0;
  for (std::size_t i = 0; i < params.size(); ++i) {
    torch::Tensor p = params[i];
    auto slot = flat.narrow(0, offset, p.numel()).view(p.sizes());
    offset += p.numel();
    if (tail[static_cast<std::int64_t>(i)] == 0.0f) continue;
    if (p.grad().defined())
      p.mutable_grad().copy_(slot);
    else
      p.mutable_grad() = slot.clone();
  }
  for (std::size_t i = 0; i < extra.size(); ++i) extra[i] = tail[flags + static_cast<std::int64_t>(i)];
}

}  // namespace loraft::dist
