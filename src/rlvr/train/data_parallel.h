// The trainers' side of data parallelism (docs/distributed.md): the gradients of every rank summed
// through flat buckets (replicated training: every rank holds the whole optimizer), and ZeRO-1 for
// full fine-tuning, an AdamW whose moments are sharded across the ranks. Every rank calls these in
// the same order: each is a sequence of collectives on the group.
#pragma once
#include <torch/torch.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "rlvr/dist/comm.h"
#include "rlvr/train/policy.h"

namespace rlvr {

// The most bytes one collective of gradients or weights moves (a flat bucket).
constexpr int64_t kBucketBytes = int64_t{25} << 20;

// Sums the trainable parameters' gradients across the ranks (one all-reduce per bucket of at most
// bucket_bytes, the gradients of one dtype and device laid end to end). A parameter without a
// gradient on some ranks counts as zeros there; one without a gradient on any rank keeps none.
// Nothing happens for world size 1.
void all_reduce_gradients(const Policy& p, dist::Comm& comm, int64_t bucket_bytes = kBucketBytes);

// Whether the update of this step applies on every rank: update_is_finite(loss, grad_norm) on all
// of them (each rank's loss is its part of the step's loss).
bool update_is_finite_everywhere(dist::Comm& comm, double loss, double grad_norm);

// ZeRO-1 AdamW: the trainable weights are laid end to end as one flat range (padded to a multiple
// of the world size) and rank r keeps the AdamW moments of the r-th contiguous shard only. An
// update sums each shard's gradients on its owner (a reduce per shard and bucket: Gloo has no
// reduce-scatter), takes the global gradient norm from the shards, steps AdamW on the shard with
// torch::optim::AdamW's arithmetic (per-parameter steps, decoupled weight decay, bias correction)
// and all-gathers the updated shards into every rank's weights. All parameters share one dtype
// and device. Its options are AdamWOptions (set_learning_rate works as for AdamW).
class ZeroAdamW : public torch::optim::Optimizer {
 public:
  ZeroAdamW(const std::vector<torch::Tensor>& params, const torch::optim::AdamWOptions& options,
            dist::Comm& comm, int64_t bucket_bytes = kBucketBytes);

  // apply_update's step: sums the gradients into the shards, *grad_norm = their global L2 norm
  // (before clipping), clips to max_grad_norm when > 0, and steps when
  // update_is_finite_everywhere(loss, norm). Returns whether the weights changed.
  bool update(double loss, double max_grad_norm, double* grad_norm);
  // update() without clipping or a finiteness check.
  torch::Tensor step(LossClosure closure = nullptr) override;

  // A torch::optim::AdamW over the same parameters with the same options, without state.
  std::unique_ptr<torch::optim::AdamW> unsharded() const;
  // Collective: unsharded() holding the whole state (torch::save of it writes what a 1-rank run
  // writes), on rank 0; nullptr elsewhere.
  std::unique_ptr<torch::optim::AdamW> gather_state();
  // Takes the options of `full`, an unsharded() AdamW (as loaded from a checkpoint written with any
  // world size), and keeps this rank's shard of its state.
  void keep_shard_of(torch::optim::AdamW& full);

  int64_t state_bytes() const;            // the moments this rank holds
  int64_t unsharded_state_bytes() const;  // the moments a 1-rank AdamW holds
  dist::Comm& comm() const { return comm_; }

  // The trainable weights laid end to end (params[i] at [offset[i], offset[i + 1])).
  struct Layout {
    std::vector<torch::Tensor> params;
    std::vector<int64_t> offset;
  };

 private:
  torch::optim::AdamWOptions& options();
  // The sums of this rank's shard of the gradients; *present: which parameters have a gradient
  // on some rank (AdamW skips the others).
  torch::Tensor reduce_shard(std::vector<bool>* present);
  // AdamW on this rank's shard, then every rank's updated shard into every rank's weights.
  void step_shard(const torch::Tensor& grad, const std::vector<bool>& present);
  // All-gathers a flat shard bucket by bucket: piece(c, n) is elements [c, c + n) of this rank's
  // shard; take(a, part) gets each rank's part, elements [a, a + n) of the flat range.
  void all_gather_shard(const std::function<torch::Tensor(int64_t, int64_t)>& piece,
                        const std::function<void(int64_t, const torch::Tensor&)>& take);

  dist::Comm& comm_;
  Layout layout_;
  int64_t shard_ = 0;                   // elements per rank (the padded range / world size)
  int64_t bucket_ = 0;                  // elements per bucket
  std::vector<int64_t> steps_;          // AdamW's step per parameter (0: no state yet), on every rank
  torch::Tensor exp_avg_, exp_avg_sq_;  // this rank's shard of the moments
};

}  // namespace rlvr
