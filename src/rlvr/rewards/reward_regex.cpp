// PCRE2 wrapper for rewards (see reward_regex.h): match limits stand in for timeouts.
#define PCRE2_CODE_UNIT_WIDTH 8
#include "rlvr/rewards/reward_regex.h"

#include <pcre2.h>

#include "rlvr/core/error.h"

namespace rlvr::reward_detail {

struct RewardRegex::Impl {
  pcre2_code* code = nullptr;
  pcre2_match_context* mctx = nullptr;
  ~Impl() {
    if (mctx) pcre2_match_context_free(mctx);
    if (code) pcre2_code_free(code);
  }
};

RewardRegex::RewardRegex(const std::string& pattern, Flags flags)
    : impl_(std::make_unique<Impl>()), pattern_(pattern) {
  uint32_t opts = 0;
  if (flags.utf) opts |= PCRE2_UTF | PCRE2_UCP | PCRE2_MATCH_INVALID_UTF;
  if (flags.caseless) opts |= PCRE2_CASELESS;
  if (flags.multiline) opts |= PCRE2_MULTILINE;
  if (flags.dotall) opts |= PCRE2_DOTALL;
  pcre2_compile_context* cctx = pcre2_compile_context_create(nullptr);
  pcre2_set_newline(cctx, PCRE2_NEWLINE_LF);
  int err = 0;
  PCRE2_SIZE off = 0;
  impl_->code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()), pattern.size(), opts,
                              &err, &off, cctx);
  pcre2_compile_context_free(cctx);
  if (!impl_->code) {
    PCRE2_UCHAR buf[256];
    pcre2_get_error_message(err, buf, sizeof(buf));
    fail("regex '", pattern, "': ", reinterpret_cast<const char*>(buf), " at offset ", off);
  }
  pcre2_jit_compile(impl_->code, PCRE2_JIT_COMPLETE);  // optional speed-up; falls back silently
  impl_->mctx = pcre2_match_context_create(nullptr);
  pcre2_set_match_limit(impl_->mctx, 1000000);
  pcre2_set_depth_limit(impl_->mctx, 10000);
}

RewardRegex::~RewardRegex() = default;

RewardRegex::Result RewardRegex::search(const std::string& subject, size_t start,
                                        Groups* groups) const {
  if (start > subject.size()) return Result::kNoMatch;
  pcre2_match_data* md = pcre2_match_data_create_from_pattern(impl_->code, nullptr);
  int rc = pcre2_match(impl_->code, reinterpret_cast<PCRE2_SPTR>(subject.data()), subject.size(),
                       start, 0, md, impl_->mctx);
  Result res = Result::kNoMatch;
  if (rc > 0 || rc == 0) {
    res = Result::kMatch;
    if (groups) {
      uint32_t n = pcre2_get_ovector_count(md);
      PCRE2_SIZE* ov = pcre2_get_ovector_pointer(md);
      groups->assign(n, {std::string::npos, std::string::npos});
      for (uint32_t i = 0; i < n; ++i) {
        if (ov[2 * i] == PCRE2_UNSET) continue;
        (*groups)[i] = {ov[2 * i], ov[2 * i + 1]};
      }
    }
  } else if (rc != PCRE2_ERROR_NOMATCH) {
    res = Result::kError;
  }
  pcre2_match_data_free(md);
  return res;
}

std::string regex_escape(const std::string& literal) {
  std::string out;
  for (char c : literal) {
    if (std::string("\\^$.|?*+()[]{}/-").find(c) != std::string::npos) out += '\\';
    out += c;
  }
  return out;
}

}  // namespace rlvr::reward_detail
