// PCRE2 wrapper for the pre-tokenizer: UTF + UCP (so \s, \w, \d are Unicode-aware, as in the
// Rust/Oniguruma engines HF tokenizers uses), JIT with a fallback to the interpreter, and a
// second compile with PCRE2_MATCH_INVALID_UTF for subjects that are not valid UTF-8.
#define PCRE2_CODE_UNIT_WIDTH 8
#include "rlvr/tokenizer/regex.h"

#include <pcre2.h>

#include "rlvr/core/error.h"

namespace rlvr {

struct Regex::Code {
  pcre2_code* code = nullptr;
  bool jit = false;
  ~Code() { pcre2_code_free(code); }
};

struct RegexScratch::State {
  pcre2_match_data* md = pcre2_match_data_create(1, nullptr);
  pcre2_match_context* mctx = nullptr;
  pcre2_jit_stack* stack = nullptr;
  ~State() {
    pcre2_match_data_free(md);
    pcre2_match_context_free(mctx);
    pcre2_jit_stack_free(stack);
  }
};

RegexScratch::RegexScratch() : s_(std::make_unique<State>()) {
  RLVR_CHECK(s_->md != nullptr, "PCRE2: out of memory");
}
RegexScratch::~RegexScratch() = default;

static std::unique_ptr<Regex::Code> compile(const std::string& pattern, uint32_t options,
                                            const std::string& where) {
  int err = 0;
  PCRE2_SIZE off = 0;
  auto c = std::make_unique<Regex::Code>();
  c->code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()), pattern.size(), options,
                          &err, &off, nullptr);
  if (c->code == nullptr) {
    PCRE2_UCHAR msg[256];
    pcre2_get_error_message(err, msg, sizeof msg);
    fail(where, ": pre-tokenizer regex does not compile at offset ", off, " (",
         reinterpret_cast<const char*>(msg), "): ", pattern);
  }
  c->jit = pcre2_jit_compile(c->code, PCRE2_JIT_COMPLETE) == 0;
  return c;
}

Regex::Regex(const std::string& pattern, bool literal, const std::string& where) {
  uint32_t options = PCRE2_UTF | PCRE2_UCP | (literal ? PCRE2_LITERAL : 0);
  valid_ = compile(pattern, options, where);
  invalid_ = compile(pattern, options | PCRE2_MATCH_INVALID_UTF, where);
}

Regex::~Regex() = default;

bool Regex::find(std::string_view subject, size_t start, bool valid_utf8, RegexScratch& scratch,
                 size_t* mstart, size_t* mend) const {
  const Code& c = valid_utf8 ? *valid_ : *invalid_;
  auto* st = scratch.s_.get();
  auto subj = reinterpret_cast<PCRE2_SPTR>(subject.data());
  int rc;
  for (;;) {
    if (c.jit) {
      rc = pcre2_jit_match(c.code, subj, subject.size(), start, 0, st->md, st->mctx);
    } else {
      rc = pcre2_match(c.code, subj, subject.size(), start, valid_utf8 ? PCRE2_NO_UTF_CHECK : 0,
                       st->md, st->mctx);
    }
    if (rc != PCRE2_ERROR_JIT_STACKLIMIT || st->stack != nullptr) break;
    // Rare: a long run needs more than the default 32 KiB JIT stack; retry with up to 64 MiB.
    st->stack = pcre2_jit_stack_create(1 << 16, 64 << 20, nullptr);
    st->mctx = pcre2_match_context_create(nullptr);
    RLVR_CHECK(st->stack && st->mctx, "PCRE2: out of memory");
    pcre2_jit_stack_assign(st->mctx, nullptr, st->stack);
  }
  if (rc == PCRE2_ERROR_NOMATCH) return false;
  if (rc < 0) {
    PCRE2_UCHAR msg[256];
    pcre2_get_error_message(rc, msg, sizeof msg);
    fail("pre-tokenizer regex match failed: ", reinterpret_cast<const char*>(msg));
  }
  PCRE2_SIZE* ov = pcre2_get_ovector_pointer(st->md);
  *mstart = ov[0];
  *mend = ov[1];
  return true;
}

}  // namespace rlvr
