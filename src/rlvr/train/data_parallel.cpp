// Gradient sums across ranks and ZeRO-1 AdamW (data_parallel.h).
#include "rlvr/train/data_parallel.h"

#include <c10/util/string_utils.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <string>

#include "rlvr/core/error.h"

namespace rlvr {

namespace {

using Layout = ZeroAdamW::Layout;
using torch::optim::AdamW;
using torch::optim::AdamWOptions;
using torch::optim::AdamWParamState;

Layout lay_out(const std::vector<torch::Tensor>& params) {
  Layout l;
  l.params = params;
  l.offset.push_back(0);
  for (const auto& t : params) l.offset.push_back(l.offset.back() + t.numel());
  return l;
}

int64_t numel(const Layout& l) { return l.offset.back(); }

torch::TensorOptions flat_options(const torch::Tensor& t) {
  return torch::TensorOptions().dtype(t.dtype()).device(t.device());
}

// Calls f(i, at, from, n) for each stretch of the flat range [a, b) that lies in a parameter:
// elements [at, at + n) of params[i] are elements [from, from + n) of the range.
template <class F>
void for_each_piece(const Layout& l, int64_t a, int64_t b, F&& f) {
  b = std::min(b, numel(l));
  const auto first = std::upper_bound(l.offset.begin(), l.offset.end(), a) - l.offset.begin() - 1;
  for (size_t i = static_cast<size_t>(first); i + 1 < l.offset.size() && l.offset[i] < b; ++i) {
    const int64_t lo = std::max(a, l.offset[i]), hi = std::min(b, l.offset[i + 1]);
    if (hi > lo) f(i, lo - l.offset[i], lo - a, hi - lo);
  }
}

// Fills buf with the flat range [a, a + buf.numel()) of the tensors of(i), one per parameter and
// of its size (an undefined one, and what lies past the last parameter, reads as zeros).
template <class Of>
void pack(const Layout& l, int64_t a, torch::Tensor buf, Of&& of) {
  buf.zero_();
  for_each_piece(l, a, a + buf.numel(), [&](size_t i, int64_t at, int64_t from, int64_t n) {
    const torch::Tensor t = of(i);
    if (t.defined()) buf.narrow(0, from, n).copy_(t.reshape(-1).narrow(0, at, n));
  });
}

// Writes buf, the flat range [a, a + buf.numel()), into the tensors of(i) (undefined: skipped).
template <class Of>
void unpack(const Layout& l, int64_t a, const torch::Tensor& buf, Of&& of) {
  for_each_piece(l, a, a + buf.numel(), [&](size_t i, int64_t at, int64_t from, int64_t n) {
    torch::Tensor t = of(i);
    if (t.defined()) t.view(-1).narrow(0, at, n).copy_(buf.narrow(0, from, n));
  });
}

// Which parameters have a gradient on at least one rank.
std::vector<bool> grads_present(const std::vector<torch::Tensor>& params, dist::Comm& comm) {
  auto flags = torch::zeros({static_cast<int64_t>(params.size())}, torch::kInt32);
  auto f = flags.accessor<int32_t, 1>();
  for (size_t i = 0; i < params.size(); ++i) f[static_cast<int64_t>(i)] = params[i].grad().defined() ? 1 : 0;
  comm.all_reduce(flags, dist::ReduceOp::kMax);
  std::vector<bool> out;
  for (size_t i = 0; i < params.size(); ++i) out.push_back(f[static_cast<int64_t>(i)] != 0);
  return out;
}

int64_t bucket_elements(int64_t bucket_bytes, const torch::Tensor& t) {
  return std::max<int64_t>(1, bucket_bytes / static_cast<int64_t>(t.element_size()));
}

// Sums the gradients of parameters of one dtype and device, bucket by bucket.
void all_reduce_group(const Layout& l, dist::Comm& comm, int64_t bucket_bytes) {
  const int64_t chunk = bucket_elements(bucket_bytes, l.params[0]);
  auto grad = [&](size_t i) { return l.params[i].grad(); };
  for (int64_t a = 0; a < numel(l); a += chunk) {
    auto buf = torch::empty({std::min(chunk, numel(l) - a)}, flat_options(l.params[0]));
    pack(l, a, buf, grad);
    comm.all_reduce(buf);
    unpack(l, a, buf, grad);
  }
}

// One AdamW update of the weights w from the gradient g with the moments m and v at step t:
// torch::optim::AdamW's arithmetic op for op, so that an update of a slice of a parameter equals
// the same slice of the parameter's update.
void adamw_update(torch::Tensor w, const torch::Tensor& g, torch::Tensor m, torch::Tensor v, int64_t t,
                  const AdamWOptions& o) {
  if (o.weight_decay() != 0) w.mul_(1 - o.lr() * o.weight_decay());
  const double beta1 = std::get<0>(o.betas()), beta2 = std::get<1>(o.betas());
  const double correction1 = 1 - std::pow(beta1, t), correction2 = 1 - std::pow(beta2, t);
  m.mul_(beta1).add_(g, 1 - beta1);
  v.mul_(beta2).addcmul_(g, g, 1 - beta2);
  w.addcdiv_(m, (v.sqrt() / std::sqrt(correction2)).add_(o.eps()), -o.lr() / correction1);
}

// The key of a parameter's state in a torch optimizer.
std::string state_key(const torch::Tensor& p) { return c10::guts::to_string(p.unsafeGetTensorImpl()); }

}  // namespace

void all_reduce_gradients(const Policy& p, dist::Comm& comm, int64_t bucket_bytes) {
  if (comm.single()) return;
  std::vector<torch::Tensor> params;
  for (auto& [name, t] : p.model->trainable_parameters()) params.push_back(t);
  const std::vector<bool> present = grads_present(params, comm);
  // By dtype and device, in the same order on every rank.
  std::map<std::string, std::vector<torch::Tensor>> groups;
  for (size_t i = 0; i < params.size(); ++i) {
    if (!present[i]) continue;
    torch::Tensor& t = params[i];
    if (!t.grad().defined()) t.mutable_grad() = torch::zeros_like(t);
    groups[std::string(c10::toString(t.scalar_type())) + "@" + t.device().str()].push_back(t);
  }
  for (const auto& [key, ts] : groups) all_reduce_group(lay_out(ts), comm, bucket_bytes);
}

bool update_is_finite_everywhere(dist::Comm& comm, double loss, double grad_norm) {
  const bool here = update_is_finite(loss, grad_norm);
  if (comm.single()) return here;
  return comm.all_reduce(here ? 0.0 : 1.0, dist::ReduceOp::kMax) == 0.0;
}

ZeroAdamW::ZeroAdamW(const std::vector<torch::Tensor>& params, const AdamWOptions& options, dist::Comm& comm,
                     int64_t bucket_bytes)
    : Optimizer({torch::optim::OptimizerParamGroup(params)}, std::make_unique<AdamWOptions>(options)),
      comm_(comm),
      layout_(lay_out(params)) {
  RLVR_CHECK(!params.empty(), "nothing to train: the model has no trainable parameters");
  const torch::Tensor& t0 = params[0];
  for (const auto& t : params)
    RLVR_CHECK(t.dtype() == t0.dtype() && t.device() == t0.device() && t.is_contiguous(),
               "zero-1: the trainable weights must be contiguous and share one dtype and device; "
               "train them in one process or with use_peft: true");
  const int64_t world = comm.world();
  shard_ = (numel(layout_) + world - 1) / world;
  bucket_ = bucket_elements(bucket_bytes, t0);
  steps_.assign(params.size(), 0);
  exp_avg_ = torch::zeros({shard_}, flat_options(t0));
  exp_avg_sq_ = torch::zeros({shard_}, flat_options(t0));
}

AdamWOptions& ZeroAdamW::options() { return static_cast<AdamWOptions&>(param_groups_.at(0).options()); }

torch::Tensor ZeroAdamW::reduce_shard(std::vector<bool>* present) {
  *present = grads_present(layout_.params, comm_);
  auto grad = [&](size_t i) { return layout_.params[i].grad(); };
  torch::Tensor mine = torch::empty({shard_}, exp_avg_.options());
  for (int owner = 0; owner < comm_.world(); ++owner) {
    for (int64_t c = 0; c < shard_; c += bucket_) {
      const int64_t n = std::min(bucket_, shard_ - c);
      torch::Tensor buf = owner == comm_.rank() ? mine.narrow(0, c, n) : torch::empty({n}, mine.options());
      pack(layout_, owner * shard_ + c, buf, grad);
      comm_.reduce(buf, owner);
    }
  }
  return mine;
}

void ZeroAdamW::all_gather_shard(const std::function<torch::Tensor(int64_t, int64_t)>& piece,
                                 const std::function<void(int64_t, const torch::Tensor&)>& take) {
  const int64_t chunk = std::max<int64_t>(1, bucket_ / comm_.world());
  for (int64_t c = 0; c < shard_; c += chunk) {
    const int64_t n = std::min(chunk, shard_ - c);
    const auto parts = comm_.all_gather(piece(c, n));
    for (int r = 0; r < comm_.world(); ++r) take(r * shard_ + c, parts[static_cast<size_t>(r)]);
  }
}

void ZeroAdamW::step_shard(const torch::Tensor& grad, const std::vector<bool>& present) {
  torch::NoGradGuard no_grad;
  for (size_t i = 0; i < steps_.size(); ++i) steps_[i] += present[i] ? 1 : 0;
  const int64_t lo = comm_.rank() * shard_;
  for_each_piece(layout_, lo, lo + shard_, [&](size_t i, int64_t at, int64_t from, int64_t n) {
    if (!present[i]) return;
    adamw_update(layout_.params[i].view(-1).narrow(0, at, n), grad.narrow(0, from, n),
                 exp_avg_.narrow(0, from, n), exp_avg_sq_.narrow(0, from, n), steps_[i], options());
  });
  // Every rank's updated shard into every rank's weights.
  auto weight = [&](size_t i) { return layout_.params[i]; };
  all_gather_shard(
      [&](int64_t c, int64_t n) {
        auto buf = torch::empty({n}, exp_avg_.options());
        pack(layout_, lo + c, buf, weight);
        return buf;
      },
      [&](int64_t a, const torch::Tensor& part) {
        if (a < lo || a >= lo + shard_) unpack(layout_, a, part, weight);
      });
}

torch::Tensor ZeroAdamW::step(LossClosure closure) {
  torch::Tensor loss;
  if (closure) {
    at::AutoGradMode grad_mode(true);
    loss = closure();
  }
  std::vector<bool> present;
  const torch::Tensor grad = reduce_shard(&present);
  step_shard(grad, present);
  return loss;
}

bool ZeroAdamW::update(double loss, double max_grad_norm, double* grad_norm) {
  std::vector<bool> present;
  const torch::Tensor grad = reduce_shard(&present);
  double sq = 0;
  for (int64_t c = 0; c < shard_; c += bucket_)
    sq += grad.narrow(0, c, std::min(bucket_, shard_ - c)).to(torch::kFloat64).pow(2).sum().item<double>();
  *grad_norm = std::sqrt(comm_.all_reduce(sq));
  const double coef = max_grad_norm / (*grad_norm + 1e-6);  // torch's clip_grad_norm_
  if (max_grad_norm > 0 && coef < 1) grad.mul_(coef);
  const bool applied = update_is_finite_everywhere(comm_, loss, *grad_norm);
  if (applied) step_shard(grad, present);
  return applied;
}

std::unique_ptr<AdamW> ZeroAdamW::unsharded() const {
  return std::make_unique<AdamW>(layout_.params, static_cast<const AdamWOptions&>(param_groups_.at(0).options()));
}

std::unique_ptr<AdamW> ZeroAdamW::gather_state() {
  const auto& params = layout_.params;
  std::vector<torch::Tensor> m(params.size()), v(params.size());
  if (comm_.is_main())
    for (size_t i = 0; i < params.size(); ++i)
      if (steps_[i] > 0) {
        m[i] = torch::zeros_like(params[i]);
        v[i] = torch::zeros_like(params[i]);
      }
  for (const auto& moment : {std::make_pair(&exp_avg_, &m), std::make_pair(&exp_avg_sq_, &v)}) {
    torch::Tensor* shard = moment.first;  // (C++17 lambdas cannot capture structured bindings)
    std::vector<torch::Tensor>* full = moment.second;
    all_gather_shard([&](int64_t c, int64_t n) { return shard->narrow(0, c, n); },
                     [&](int64_t a, const torch::Tensor& part) {
                       unpack(layout_, a, part, [&](size_t i) { return (*full)[i]; });
                     });
  }
  if (!comm_.is_main()) return nullptr;
  auto out = unsharded();
  for (size_t i = 0; i < params.size(); ++i) {
    if (steps_[i] == 0) continue;
    auto st = std::make_unique<AdamWParamState>();
    st->step(steps_[i]);
    st->exp_avg(m[i]);
    st->exp_avg_sq(v[i]);
    out->state()[state_key(params[i])] = std::move(st);
  }
  return out;
}

void ZeroAdamW::keep_shard_of(AdamW& full) {
  const auto& params = layout_.params;
  std::vector<const AdamWParamState*> st(params.size(), nullptr);
  for (size_t i = 0; i < params.size(); ++i) {
    auto it = full.state().find(state_key(params[i]));
    if (it == full.state().end()) continue;
    st[i] = static_cast<const AdamWParamState*>(it->second.get());
    RLVR_CHECK(st[i]->exp_avg().numel() == params[i].numel() && st[i]->exp_avg_sq().numel() == params[i].numel(),
               "optimizer state: parameter ", i, " has ", params[i].numel(), " elements but its saved moments have ",
               st[i]->exp_avg().numel(), "; the checkpoint is of another model");
  }
  torch::NoGradGuard no_grad;
  options() = static_cast<const AdamWOptions&>(full.param_groups().at(0).options());
  for (size_t i = 0; i < params.size(); ++i) steps_[i] = st[i] ? st[i]->step() : 0;
  const int64_t lo = comm_.rank() * shard_;
  pack(layout_, lo, exp_avg_, [&](size_t i) { return st[i] ? st[i]->exp_avg() : torch::Tensor(); });
  pack(layout_, lo, exp_avg_sq_, [&](size_t i) { return st[i] ? st[i]->exp_avg_sq() : torch::Tensor(); });
}

int64_t ZeroAdamW::state_bytes() const {
  return (exp_avg_.numel() + exp_avg_sq_.numel()) * static_cast<int64_t>(exp_avg_.element_size());
}

int64_t ZeroAdamW::unsharded_state_bytes() const {
  return 2 * numel(layout_) * static_cast<int64_t>(exp_avg_.element_size());
}

}  // namespace rlvr
