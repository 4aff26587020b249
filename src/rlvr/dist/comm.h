// The data-parallel process group on libtorch's c10d: a TCPStore rendezvous at MASTER_ADDR:
// MASTER_PORT (rank 0 serves it), ProcessGroupGloo for CPU tensors and, in a CUDA build with NCCL,
// ProcessGroupNCCL for CUDA tensors. A Comm of world size 1 (the default) makes every collective
// return its input, so code written for many ranks runs unchanged in one process.
//
// Every rank calls the collectives in the same order. A collective that fails (a rank died, or
// hung past the timeout) throws rlvr::Error with one line naming the lost rank, found from the
// heartbeats each rank writes to the store.
#pragma once
#include <torch/torch.h>

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "rlvr/dist/env.h"

namespace rlvr::dist {

enum class ReduceOp { kSum, kMin, kMax };
enum class Backend { kAuto, kGloo, kNccl };  // auto: nccl when the model is on CUDA, else gloo
Backend parse_backend(const std::string& name);  // "auto" | "gloo" | "nccl"; else one-line error

struct ConnectOptions {
  Backend backend = Backend::kAuto;
  bool cuda = false;                          // the model's device is CUDA (auto picks nccl)
  std::chrono::seconds timeout{1800};         // ddp_timeout: rendezvous and every collective
};

class Comm {
 public:
  Comm();  // one rank, no communication
  ~Comm();
  Comm(const Comm&) = delete;
  Comm& operator=(const Comm&) = delete;
  // Joins the job `env` describes (env.world > 1). Throws one line when the master is unreachable
  // or its port is taken (rank 0) within the timeout.
  static std::unique_ptr<Comm> connect(const DistEnv& env, const ConnectOptions& opt);

  int rank() const { return env_.rank; }
  int world() const { return env_.world; }
  int local_rank() const { return env_.local_rank; }
  bool is_main() const { return env_.rank == 0; }
  bool single() const { return env_.world == 1; }
  const std::string& backend_name() const { return backend_name_; }

  // In place on every rank.
  void all_reduce(torch::Tensor& t, ReduceOp op = ReduceOp::kSum);
  double all_reduce(double v, ReduceOp op = ReduceOp::kSum);
  // The result lands on `root` only (others keep their input).
  void reduce(torch::Tensor& t, int root, ReduceOp op = ReduceOp::kSum);
  void broadcast(torch::Tensor& t, int root = 0);
  // Every rank's tensor, by rank; all ranks pass the same shape and dtype.
  std::vector<torch::Tensor> all_gather(const torch::Tensor& t);
  // Every rank's bytes, by rank; sizes may differ.
  std::vector<std::string> all_gather_bytes(const std::string& bytes);
  void barrier();
  // Runs f on every rank and then agrees: when f threw on any rank, every rank throws
  // rlvr::Error with the first failing rank's message (prefixed "rank K: " on the other ranks),
  // so a refusal on one rank (a bad run directory on rank 0, say) stops all of them at once.
  void agree(const std::function<void()>& f);

  // Seconds spent inside collectives since the last call (the step's communication time).
  double take_comm_seconds();

  struct Impl;  // the c10d objects (comm.cpp)

 private:
  std::unique_ptr<Impl> impl_;
  DistEnv env_;
  std::string backend_name_ = "none";
  double comm_s_ = 0;
  template <class F>
  void run(const char* what, F&& f);
};

// Joins the job the environment describes (read_dist_env): sets this rank's intra-op threads
// (intra_op_threads), connects (Comm::connect) and installs the group as world(). Without a
// launcher's environment (world size 1) nothing changes.
void join(const ConnectOptions& opt);

// The process's group: one rank until set_world installs a connected one (the CLI does, from the
// environment, before a trainer or evaluator is built).
Comm& world();
void set_world(std::unique_ptr<Comm> comm);

}  // namespace rlvr::dist
