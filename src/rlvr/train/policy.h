// The trainable policy of a run: model + tokenizer on a device and dtype, LoRA adapters or all
// weights trainable, the AdamW optimizer (ZeRO-1 sharded for full fine-tuning on several ranks),
// and run checkpoints (checkpoint-<step>/ with the adapter or weights, optimizer moments, RNG
// state and trainer state JSON).
#pragma once
#include <torch/torch.h>

#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "rlvr/loader/loaded_model.h"
#include "rlvr/train/recipe.h"

namespace rlvr {

// The loaded model (model, tokenizer, dtype, device, EOS ids, dir = the base model) and how it
// trains.
struct Policy : LoadedModel {
  bool peft = false;  // LoRA adapters (else all weights train)
};

// Loads recipe.model_name_or_path (load_model_dir, the recipe's dtype and device; a tokenizer is
// required); adds LoRA (seeded) or unfreezes all.
Policy load_policy(const TrainRecipeBase& r);
// AdamW over the trainable parameters: torch::optim::AdamW (replicated on every rank), or for full
// fine-tuning with dist::world() of several ranks a ZeroAdamW (data_parallel.h) on that group,
// announced on rank 0 with the optimizer state it holds per rank.
std::unique_ptr<torch::optim::Optimizer> make_optimizer(const Policy& p, const TrainRecipeBase& r);
void set_learning_rate(torch::optim::Optimizer& opt, double lr);
// Global L2 norm of the trainable gradients, clipped to max_norm when max_norm > 0.
double clip_gradients(const Policy& p, double max_norm);
// Whether an optimizer step may apply: its loss and gradient norm are finite. A step that is not
// is skipped (its gradients dropped, the weights untouched) and counted by the run loop.
bool update_is_finite(double loss, double grad_norm);
// The end of every trainer's step, on every rank: sum the gradients across the ranks
// (all_reduce_gradients on dist::world(), then clip_gradients; a ZeroAdamW sums and clips each
// shard on its owner by the global norm), apply the optimizer step when update_is_finite(loss,
// grad norm) holds on every rank, then drop the gradients. Returns whether the weights changed;
// *grad_norm gets the global norm before clipping. Each rank's loss is its part of the step's.
bool apply_update(const Policy& p, torch::optim::Optimizer& opt, double loss, double max_grad_norm,
                  double* grad_norm);

// Writes dir/ (adapter or full weights, optimizer.pt, rng_state.pt, trainer_state.json). Refuses
// (rlvr::Error) weights that hold NaN or inf. A collective: every rank calls it, rank 0 alone
// writes (a ZeroAdamW's shards gathered into the optimizer.pt a 1-rank AdamW writes), and no rank
// returns before the checkpoint is whole; an error on rank 0 is thrown on every rank.
void save_checkpoint(const std::string& dir, const Policy& p, torch::optim::Optimizer& opt,
                     const nlohmann::json& trainer_state);
// Restores weights, optimizer and RNG from dir and returns trainer_state.json. All or nothing:
// every file is read and checked before the policy or optimizer changes, so a missing or
// unreadable file (the error names it) leaves them as they were. Every rank reads the files
// (written with any world size); a ZeroAdamW keeps its shard of the optimizer state.
nlohmann::json load_checkpoint(const std::string& dir, Policy& p, torch::optim::Optimizer& opt);
// Final artefacts in output_dir: the PEFT adapter (LoRA) or a full HF model directory, never
// with NaN or inf weights.
void save_final(const std::string& output_dir, const Policy& p);
// output_dir/checkpoint-<step> folders, largest step first.
std::vector<std::string> checkpoints_newest_first(const std::string& output_dir);

}  // namespace rlvr
