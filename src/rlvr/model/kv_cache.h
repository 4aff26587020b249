// KVCache: keys/values for incremental decoding. Two parts: an optional shared prefix that every
// row attends to (positions 0..P-1, computed once, e.g. the few-shot block), and per-row slots
// whose positions are tracked per row (-1 = empty slot, e.g. padding), so ragged batches work.
#pragma once
#include <torch/torch.h>

#include <vector>

namespace rlvr {

struct KVCache {
  // Shared prefix, per layer: (Hkv, P, D). Empty vectors when there is no prefix.
  std::vector<torch::Tensor> prefix_k, prefix_v;
  int64_t prefix_len = 0;  // P
  // Per-row slots, per layer: (N, Hkv, S_cap, D); allocated on first use. Empty slots hold
  // zeros (attention may read them, with weight 0).
  std::vector<torch::Tensor> k, v;
  torch::Tensor slot_pos;  // (N, S_cap) int64, position held by each slot, -1 = empty
  int64_t used = 0;        // slots [0, used) are written

  int64_t rows() const { return slot_pos.defined() ? slot_pos.size(0) : 0; }
  int64_t capacity() const { return slot_pos.defined() ? slot_pos.size(1) : 0; }
  // Makes room for `extra` more slots (grows geometrically; new slots are empty).
  void ensure_capacity(int64_t extra);
  // Keeps / reorders / repeats rows: rows = index (M) int64 into the current rows.
  void select_rows(const torch::Tensor& index);
  // Keeps the rows `keep` (strictly increasing) in place: row keep[i] becomes row i. Moves only
  // the written slots and allocates nothing; the tensors become views of their first rows.
  void keep_rows(const std::vector<int64_t>& keep);
  // Turns row 0's written slots into a shared prefix (all its slots must hold positions
  // 0..used-1 in order) and returns a cache holding only that prefix, with no rows.
  KVCache to_prefix() const;
  // Bytes held by the cache tensors.
  int64_t bytes() const;
};

}  // namespace rlvr
