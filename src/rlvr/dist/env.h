// Where this process sits in a data-parallel job, read from the launcher's environment: torchrun's
// RANK, WORLD_SIZE, LOCAL_RANK, LOCAL_WORLD_SIZE, MASTER_ADDR, MASTER_PORT, or Slurm's
// SLURM_PROCID, SLURM_NTASKS, SLURM_LOCALID (SLURM_NTASKS_PER_NODE) when those are absent. A
// process started by neither is world size 1.
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace rlvr::dist {

struct DistEnv {
  int rank = 0, world = 1, local_rank = 0, local_world = 1;
  std::string master_addr = "127.0.0.1";
  int master_port = 29500;
  std::string source = "single";  // "torchrun" (or rlvr's own launcher), "slurm", "single"
};

// The environment as `get` sees it (nullptr = unset). Throws rlvr::Error with one line for a
// malformed or inconsistent value (RANK >= WORLD_SIZE, a port out of range, ...).
DistEnv read_dist_env(const std::function<const char*(const char*)>& get);
DistEnv read_dist_env();  // the process's environment

// Intra-op threads for one rank: OMP_NUM_THREADS when set (omp_num_threads > 0), else the
// machine's cores shared evenly among the ranks on this node (at least 1).
int intra_op_threads(int cores, int local_world, int omp_num_threads);

// The files of this process's code: the executable and the shared object holding rlvr's code
// when that is another file (the CLI's torch plugin). Ranks compare hashes of them so that
// processes of different builds refuse to train together.
std::vector<std::string> code_files();

// The device one rank uses: with several ranks "cuda" becomes "cuda:LOCAL_RANK" (one GPU per rank
// on its node) and "cuda:N" is refused with one line (the launcher places the ranks); any other
// device, or any device in one rank, is returned as given.
std::string rank_device(const std::string& device, int world, int local_rank);

}  // namespace rlvr::dist
