// Reading the launcher's environment (env.h).
#include "rlvr/dist/env.h"

#include <dlfcn.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <string>

#include "rlvr/core/error.h"

namespace rlvr::dist {

namespace {

// A non-negative integer variable, or `fallback` when unset; one line when malformed.
int int_var(const std::function<const char*(const char*)>& get, const char* name, int fallback) {
  const char* v = get(name);
  if (v == nullptr || *v == '\0') return fallback;
  char* end = nullptr;
  const long x = std::strtol(v, &end, 10);
  RLVR_CHECK(*end == '\0' && x >= 0 && x < (1L << 30), "environment: ", name, "=", v,
             " is not a non-negative integer; fix or unset it");
  return static_cast<int>(x);
}

// SLURM_NTASKS_PER_NODE may read "8" or "8(x2)": the tasks on this node come first.
int slurm_tasks_per_node(const std::function<const char*(const char*)>& get, int world) {
  const char* v = get("SLURM_NTASKS_PER_NODE");
  if (v == nullptr || *v == '\0') return world;
  const int n = std::atoi(v);
  return n > 0 ? n : world;
}

}  // namespace

DistEnv read_dist_env(const std::function<const char*(const char*)>& get) {
  DistEnv e;
  if (get("WORLD_SIZE") != nullptr || get("RANK") != nullptr) {
    e.source = "torchrun";
    e.world = int_var(get, "WORLD_SIZE", 1);
    e.rank = int_var(get, "RANK", 0);
    e.local_rank = int_var(get, "LOCAL_RANK", e.rank);
    e.local_world = int_var(get, "LOCAL_WORLD_SIZE", e.world);
  } else if (get("SLURM_NTASKS") != nullptr && get("SLURM_PROCID") != nullptr) {
    e.source = "slurm";
    e.world = int_var(get, "SLURM_NTASKS", 1);
    e.rank = int_var(get, "SLURM_PROCID", 0);
    e.local_rank = int_var(get, "SLURM_LOCALID", 0);
    e.local_world = slurm_tasks_per_node(get, e.world);
  } else {
    return e;
  }
  RLVR_CHECK(e.world >= 1, "environment: the world size is 0; launch at least one process");
  RLVR_CHECK(e.rank < e.world, "environment: rank ", e.rank, " is not below the world size ", e.world,
             " (", e.source == "slurm" ? "SLURM_PROCID / SLURM_NTASKS" : "RANK / WORLD_SIZE", ")");
  RLVR_CHECK(e.local_world >= 1 && e.local_rank < e.local_world, "environment: local rank ", e.local_rank,
             " is not below the local world size ", e.local_world);
  if (const char* a = get("MASTER_ADDR"); a != nullptr && *a != '\0') e.master_addr = a;
  e.master_port = int_var(get, "MASTER_PORT", e.master_port);
  RLVR_CHECK(e.master_port >= 1 && e.master_port <= 65535, "environment: MASTER_PORT=", e.master_port,
             " is not a TCP port (1..65535)");
  RLVR_CHECK(e.world == 1 || get("MASTER_ADDR") != nullptr || e.local_world == e.world,
             "environment: ", e.world, " ranks over several nodes need MASTER_ADDR (the address of rank 0's node)");
  return e;
}

DistEnv read_dist_env() {
  return read_dist_env([](const char* name) { return static_cast<const char*>(std::getenv(name)); });
}

int intra_op_threads(int cores, int local_world, int omp_num_threads) {
  if (omp_num_threads > 0) return omp_num_threads;
  return std::max(1, cores / std::max(1, local_world));
}

std::vector<std::string> code_files() {
  std::vector<std::string> out = {"/proc/self/exe"};
  Dl_info info{};
  if (dladdr(reinterpret_cast<void*>(&code_files), &info) != 0 && info.dli_fname != nullptr) {
    char exe[4096] = {0};
    const ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    if (n <= 0 || std::string(info.dli_fname) != std::string(exe, static_cast<size_t>(n)))
      out.push_back(info.dli_fname);
  }
  return out;
}

std::string rank_device(const std::string& device, int world, int local_rank) {
  if (world == 1 || device.rfind("cuda", 0) != 0) return device;
  RLVR_CHECK(device == "cuda", "device ", device, " with ", world,
             " ranks: each rank uses cuda:LOCAL_RANK; give the device as cuda");
  return "cuda:" + std::to_string(local_rank);
}

}  // namespace rlvr::dist
