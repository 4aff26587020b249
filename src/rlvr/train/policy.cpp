// Policy loading, optimizer, gradient clipping and checkpoint I/O for the trainers.
#include "rlvr/train/policy.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <sstream>

#include "rlvr/core/error.h"
#include "rlvr/core/files.h"
#include "rlvr/dist/comm.h"
#include "rlvr/io/safetensors.h"
#include "rlvr/tokenizer/tokenizer.h"
#include "rlvr/train/data_parallel.h"

namespace rlvr {

namespace {
// cpu; cuda (auto: when available) as cuda:LOCAL_RANK, one GPU per rank on a node.
torch::Device resolve_device(DeviceKind k) {
  const bool cuda = torch::cuda::is_available();
  if (k == DeviceKind::kCpu || (k == DeviceKind::kAuto && !cuda)) return torch::kCPU;
  RLVR_CHECK(cuda, "device: cuda was asked for but CUDA is not available in this build or machine; set device: cpu");
  const auto& w = dist::world();
  RLVR_CHECK(w.local_rank() < static_cast<int>(torch::cuda::device_count()), "device: rank ", w.rank(), " needs cuda:",
             w.local_rank(), " but this node has ", torch::cuda::device_count(), " GPU(s); start at most that many "
             "processes per node, or set device: cpu");
  return torch::Device(dist::rank_device("cuda", w.world(), w.local_rank()));
}
}  // namespace

Policy load_policy(const TrainRecipeBase& r) {
  RLVR_CHECK(!r.model_name_or_path.empty(), "recipe: model_name_or_path is required");
  LoadOptions lo;
  lo.q4.enabled = r.load_in_4bit;
  lo.q4.type = quant::parse_quant_type(r.bnb_4bit_quant_type);
  lo.q4.double_quant = r.use_bnb_nested_quant;
  lo.dtype = dtype_name(r.dtype);
  lo.device = resolve_device(r.device);
  lo.tokenizer_needed_by = "training";
  Policy p;
  static_cast<LoadedModel&>(p) = load_model_dir(r.model_name_or_path, lo);
  RLVR_CHECK(p.dtype != torch::kFloat16, "recipe: dtype auto is the checkpoint's dtype, float16 here, "
                                         "which rlvr does not train in; set dtype: bfloat16 or float32");
  torch::manual_seed(static_cast<uint64_t>(r.seed));
  p.peft = r.use_peft;
  if (r.use_peft) {
    LoraConfig lc;
    lc.r = r.lora_r;
    lc.alpha = r.lora_alpha;
    lc.dropout = r.lora_dropout;
    lc.target_modules = r.lora_target_modules;
    if (lc.target_modules.size() == 1 && lc.target_modules[0] == "all-linear")
      lc.target_modules = LoraConfig{}.target_modules;
    p.model->add_lora(lc, static_cast<uint64_t>(r.seed));
    p.model->to(p.device);
  } else {
    RLVR_CHECK(p.dtype == torch::kFloat32 || p.device.is_cuda(),
               "recipe: full fine-tuning on CPU needs dtype float32 (bf16 weights cannot take small "
               "AdamW updates); set dtype: float32 or use_peft: true");
    p.model->set_full_finetune(true);
  }
  p.model->set_gradient_checkpointing(r.gradient_checkpointing);
  return p;
}

std::unique_ptr<torch::optim::Optimizer> make_optimizer(const Policy& p, const TrainRecipeBase& r) {
  std::vector<torch::Tensor> params;
  for (auto& [n, t] : p.model->trainable_parameters()) params.push_back(t);
  RLVR_CHECK(!params.empty(), "nothing to train: the model has no trainable parameters");
  auto opts = torch::optim::AdamWOptions(r.learning_rate)
                  .betas({r.adam_beta1, r.adam_beta2})
                  .eps(r.adam_epsilon)
                  .weight_decay(r.weight_decay);
  dist::Comm& comm = dist::world();
  if (p.peft || comm.single()) return std::make_unique<torch::optim::AdamW>(params, opts);
  auto zero = std::make_unique<ZeroAdamW>(params, opts, comm);
  if (comm.is_main())
    std::fprintf(stderr, "zero-1: optimizer state %.1f MB per rank (%.1f MB unsharded)\n", zero->state_bytes() / 1e6,
                 zero->unsharded_state_bytes() / 1e6);
  return zero;
}

void set_learning_rate(torch::optim::Optimizer& opt, double lr) {
  for (auto& g : opt.param_groups()) static_cast<torch::optim::AdamWOptions&>(g.options()).lr(lr);
}

double clip_gradients(const Policy& p, double max_norm) {
  std::vector<torch::Tensor> params;
  for (auto& [n, t] : p.model->trainable_parameters())
    if (t.grad().defined()) params.push_back(t);
  if (params.empty()) return 0.0;
  if (max_norm > 0) return torch::nn::utils::clip_grad_norm_(params, max_norm);
  double sq = 0;
  for (auto& t : params) sq += t.grad().to(torch::kFloat64).pow(2).sum().item<double>();
  return std::sqrt(sq);
}

bool update_is_finite(double loss, double grad_norm) {
  return std::isfinite(loss) && std::isfinite(grad_norm);
}

bool apply_update(const Policy& p, torch::optim::Optimizer& opt, double loss, double max_grad_norm,
                  double* grad_norm) {
  bool applied = false;
  if (auto* zero = dynamic_cast<ZeroAdamW*>(&opt)) {
    applied = zero->update(loss, max_grad_norm, grad_norm);
  } else {
    all_reduce_gradients(p, dist::world());
    *grad_norm = clip_gradients(p, max_grad_norm);
    applied = update_is_finite_everywhere(dist::world(), loss, *grad_norm);
    if (applied) opt.step();
  }
  opt.zero_grad();
  return applied;
}

namespace {
// The trained weights: the PEFT adapter (LoRA) or a full HF model directory.
void save_weights(const std::string& dir, const Policy& p) {
  for (const auto& [name, t] : p.model->trainable_parameters())
    RLVR_CHECK(torch::isfinite(t).all().item<bool>(), dir, ": not saved: weight '", name,
               "' holds NaN or inf");
  make_dirs(dir);
  if (p.peft) {
    save_adapter(p.model, dir, p.dir);
  } else {
    CausalLM m = p.model;
    save_model(m, dir, p.dtype);
  }
}

// The first line of a (torch) error message: its backtrace is noise for a bad file.
std::string first_line(const std::string& text) { return text.substr(0, text.find('\n')); }

// torch::load of one checkpoint file, failing with one line that names it.
template <class T>
void load_torch_file(T& value, const std::string& path) {
  RLVR_CHECK(file_exists(path), path, ": missing");
  try {
    torch::load(value, path);
  } catch (const std::exception& e) {
    fail(path, ": unreadable (", first_line(e.what()), ")");
  }
}

// (model tensor, checkpoint tensor) for every trained weight, shapes checked; nothing copied.
std::vector<std::pair<torch::Tensor, torch::Tensor>> read_weights(const std::string& dir, const Policy& p) {
  std::vector<std::pair<torch::Tensor, torch::Tensor>> out;
  if (p.peft) {
    auto file = SafetensorsFile::open(join_path(dir, "adapter_model.safetensors"));
    for (auto& [name, t] : p.model->adapter_state()) out.emplace_back(t, file.get(name));
  } else {
    Checkpoint ck = Checkpoint::open(dir);
    for (auto& [name, t] : p.model->base_state()) out.emplace_back(t, ck.get(name));
  }
  for (const auto& [dst, src] : out)
    RLVR_CHECK(src.sizes() == dst.sizes(), dir, ": a weight has shape ", src.sizes(),
               " but the model expects ", dst.sizes(), "; the checkpoint is of another model");
  return out;
}

// Loads optimizer.pt; on failure the optimizer keeps the state it had.
void load_optimizer(torch::optim::Optimizer& opt, const std::string& path) {
  if (auto* zero = dynamic_cast<ZeroAdamW*>(&opt)) {
    auto full = zero->unsharded();  // the whole state, as any world size saved it
    load_torch_file(*full, path);
    zero->keep_shard_of(*full);
    return;
  }
  std::stringstream before;
  torch::save(opt, before);
  try {
    load_torch_file(opt, path);
  } catch (...) {
    torch::load(opt, before);
    throw;
  }
}

// The checkpoint files, written by this process.
void write_checkpoint(const std::string& dir, const Policy& p, const torch::optim::Optimizer& opt,
                      const nlohmann::json& state) {
  std::string tmp = dir + ".partial";
  remove_tree(tmp);
  save_weights(tmp, p);
  torch::save(opt, join_path(tmp, "optimizer.pt"));
  torch::save(at::detail::getDefaultCPUGenerator().get_state(), join_path(tmp, "rng_state.pt"));
  // On a GPU, LoRA dropout draws from the device's generator: keep it too, so a resumed run
  // repeats the uninterrupted one there as well.
  if (p.device.is_cuda())
    torch::save(at::globalContext().defaultGenerator(p.device).get_state(),
                join_path(tmp, "rng_state_cuda.pt"));
  write_json_file(join_path(tmp, "trainer_state.json"), state);
  remove_tree(dir);
  rename_path(tmp, dir);  // a checkpoint appears whole or not at all
}
}  // namespace

void save_checkpoint(const std::string& dir, const Policy& p, torch::optim::Optimizer& opt,
                     const nlohmann::json& state) {
  auto* zero = dynamic_cast<ZeroAdamW*>(&opt);
  dist::Comm& comm = zero ? zero->comm() : dist::world();
  const std::unique_ptr<torch::optim::AdamW> full = zero ? zero->gather_state() : nullptr;
  // agree: the others wait for rank 0's files, and its error stops them too.
  comm.agree([&] {
    if (comm.is_main()) write_checkpoint(dir, p, full ? *full : opt, state);
  });
}

nlohmann::json load_checkpoint(const std::string& dir, Policy& p, torch::optim::Optimizer& opt) {
  const std::string state_path = join_path(dir, "trainer_state.json");
  RLVR_CHECK(file_exists(state_path), state_path, ": missing");
  nlohmann::json state = read_json_file(state_path);
  auto weights = read_weights(dir, p);
  torch::Tensor rng, cuda_rng;
  load_torch_file(rng, join_path(dir, "rng_state.pt"));
  const std::string cuda_path = join_path(dir, "rng_state_cuda.pt");
  if (p.device.is_cuda() && file_exists(cuda_path)) load_torch_file(cuda_rng, cuda_path);
  load_optimizer(opt, join_path(dir, "optimizer.pt"));  // the last step that can fail
  {
    torch::NoGradGuard ng;
    for (auto& [dst, src] : weights) dst.copy_(src);
  }
  auto gen = at::detail::getDefaultCPUGenerator();
  gen.set_state(rng);
  if (cuda_rng.defined()) {
    auto g = at::globalContext().defaultGenerator(p.device);
    g.set_state(cuda_rng);
  }
  return state;
}

void save_final(const std::string& output_dir, const Policy& p) {
  save_weights(output_dir, p);
  // The tokenizer travels with a full model so the directory is self-contained.
  if (!p.peft) copy_tokenizer_files(p.dir, output_dir);
}

std::vector<std::string> checkpoints_newest_first(const std::string& output_dir) {
  std::vector<std::pair<int64_t, std::string>> found;
  if (!is_directory(output_dir)) return {};
  for (const std::string& name : list_dir(output_dir)) {
    const std::string path = join_path(output_dir, name);
    if (name.rfind("checkpoint-", 0) != 0 || !is_directory(path)) continue;
    std::string num = name.substr(11);
    if (num.empty() || num.size() > 15 || num.find_first_not_of("0123456789") != std::string::npos) continue;
    found.emplace_back(std::stoll(num), path);
  }
  std::sort(found.rbegin(), found.rend());
  std::vector<std::string> out;
  for (auto& [step, path] : found) out.push_back(std::move(path));
  return out;
}

}  // namespace rlvr
