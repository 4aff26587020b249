// KVCache row bookkeeping: growth, row selection and conversion to a shared prefix.
#include "rlvr/model/kv_cache.h"

#include "rlvr/core/error.h"

namespace rlvr {

void KVCache::ensure_capacity(int64_t extra) {
  if (used + extra <= capacity()) return;
  int64_t cap = std::max<int64_t>(used + extra, capacity() * 2);
  for (size_t l = 0; l < k.size(); ++l) {
    auto grow = [&](torch::Tensor& t) {
      auto bigger = torch::zeros({t.size(0), t.size(1), cap, t.size(3)}, t.options());
      bigger.narrow(2, 0, used).copy_(t.narrow(2, 0, used));
      t = bigger;
    };
    grow(k[l]);
    grow(v[l]);
  }
  auto pos = torch::full({slot_pos.size(0), cap}, -1, slot_pos.options());
  pos.narrow(1, 0, used).copy_(slot_pos.narrow(1, 0, used));
  slot_pos = pos;
}

void KVCache::select_rows(const torch::Tensor& index) {
  if (!slot_pos.defined()) return;
  auto idx = index.to(slot_pos.device());
  for (size_t l = 0; l < k.size(); ++l) {
    k[l] = k[l].index_select(0, idx);
    v[l] = v[l].index_select(0, idx);
  }
  slot_pos = slot_pos.index_select(0, idx);
}

void KVCache::keep_rows(const std::vector<int64_t>& keep) {
  if (!slot_pos.defined()) return;
  const int64_t M = static_cast<int64_t>(keep.size());
  for (int64_t i = 0; i < M; ++i)
    RLVR_CHECK(keep[i] >= i && keep[i] < rows() && (i == 0 || keep[i] > keep[i - 1]),
               "KVCache::keep_rows: rows must be strictly increasing and in range");
  // Runs of consecutive rows move together, in pieces no longer than their shift so that a
  // piece never overlaps its destination (copies run front to back).
  auto move = [&](torch::Tensor& t, int64_t slot_dim) {
    for (int64_t i = 0; i < M;) {
      int64_t run = 1;
      while (i + run < M && keep[i + run] == keep[i] + run) ++run;
      const int64_t shift = keep[i] - i;
      for (int64_t done = 0; shift > 0 && done < run;) {
        const int64_t n = std::min(run - done, shift);
        t.narrow(0, i + done, n).narrow(slot_dim, 0, used)
            .copy_(t.narrow(0, keep[i] + done, n).narrow(slot_dim, 0, used));
        done += n;
      }
      i += run;
    }
    t = t.narrow(0, 0, M);
  };
  for (size_t l = 0; l < k.size(); ++l) {
    move(k[l], 2);
    move(v[l], 2);
  }
  move(slot_pos, 1);
}

KVCache KVCache::to_prefix() const {
  RLVR_CHECK(rows() >= 1 && used > 0, "KVCache::to_prefix needs a prefilled row");
  RLVR_CHECK(prefix_len == 0, "KVCache::to_prefix: prefix caches do not nest");
  auto expect = torch::arange(used, slot_pos.options());
  RLVR_CHECK(slot_pos[0].narrow(0, 0, used).equal(expect),
             "KVCache::to_prefix: the prefix row must hold positions 0..P-1 without padding");
  KVCache out;
  for (size_t l = 0; l < k.size(); ++l) {
    out.prefix_k.push_back(k[l][0].narrow(1, 0, used).contiguous());
    out.prefix_v.push_back(v[l][0].narrow(1, 0, used).contiguous());
  }
  out.prefix_len = used;
  return out;
}

int64_t KVCache::bytes() const {
  int64_t b = 0;
  for (const auto& t : prefix_k) b += t.numel() * t.element_size();
  for (const auto& t : prefix_v) b += t.numel() * t.element_size();
  for (const auto& t : k) b += t.numel() * t.element_size();
  for (const auto& t : v) b += t.numel() * t.element_size();
  return b;
}

}  // namespace rlvr
