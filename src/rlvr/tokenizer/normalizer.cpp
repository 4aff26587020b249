// Normalizer from tokenizer.json, backed by utf8proc_map (HF tokenizers uses the
// unicode-normalization crate; both implement UAX #15).
#include "rlvr/tokenizer/normalizer.h"

#include <utf8proc.h>

#include <cstdlib>

#include "rlvr/core/error.h"
#include "rlvr/tokenizer/utf8.h"

namespace rlvr {

static void add_spec(const nlohmann::json& spec, const std::string& where,
                     std::vector<Normalizer::Form>& forms) {
  if (spec.is_null()) return;
  RLVR_CHECK(spec.is_object() && spec.contains("type") && spec["type"].is_string(), where,
             ": normalizer must be null or an object with a \"type\"");
  std::string type = spec["type"].get<std::string>();
  if (type == "NFC") {
    forms.push_back(Normalizer::Form::kNFC);
  } else if (type == "NFD") {
    forms.push_back(Normalizer::Form::kNFD);
  } else if (type == "NFKC") {
    forms.push_back(Normalizer::Form::kNFKC);
  } else if (type == "NFKD") {
    forms.push_back(Normalizer::Form::kNFKD);
  } else if (type == "Sequence") {
    RLVR_CHECK(spec.contains("normalizers") && spec["normalizers"].is_array(), where,
               ": Sequence normalizer needs a \"normalizers\" array");
    for (const auto& sub : spec["normalizers"]) add_spec(sub, where, forms);
  } else {
    fail(where, ": normalizer type '", type,
         "' is not supported (supported: NFC, NFD, NFKC, NFKD, Sequence, null)");
  }
}

Normalizer Normalizer::from_json(const nlohmann::json& spec, const std::string& where) {
  Normalizer n;
  add_spec(spec, where, n.forms_);
  return n;
}

static int form_options(Normalizer::Form form) {
  switch (form) {
    case Normalizer::Form::kNFC: return UTF8PROC_STABLE | UTF8PROC_COMPOSE;
    case Normalizer::Form::kNFD: return UTF8PROC_STABLE | UTF8PROC_DECOMPOSE;
    case Normalizer::Form::kNFKC: return UTF8PROC_STABLE | UTF8PROC_COMPOSE | UTF8PROC_COMPAT;
    case Normalizer::Form::kNFKD: return UTF8PROC_STABLE | UTF8PROC_DECOMPOSE | UTF8PROC_COMPAT;
  }
  return 0;
}

// Normalizes one run of valid UTF-8.
static void append_valid_run(std::string_view run, int options, std::string& out) {
  if (run.empty()) return;
  utf8proc_uint8_t* dst = nullptr;
  utf8proc_ssize_t n = utf8proc_map(reinterpret_cast<const utf8proc_uint8_t*>(run.data()),
                                    static_cast<utf8proc_ssize_t>(run.size()), &dst,
                                    static_cast<utf8proc_option_t>(options));
  if (n < 0) {  // cannot happen for valid UTF-8 except on allocation failure
    std::free(dst);
    fail("utf8proc normalization failed: ", utf8proc_errmsg(n));
  }
  out.append(reinterpret_cast<const char*>(dst), static_cast<size_t>(n));
  std::free(dst);
}

std::string normalize_form(std::string_view in, Normalizer::Form form) {
  int options = form_options(form);
  std::string out;
  out.reserve(in.size() + in.size() / 4);
  size_t i = 0, run = 0;
  while (i < in.size()) {
    size_t k = utf8::valid_char_len(in, i);
    if (k > 0) {
      i += k;
      continue;
    }
    append_valid_run(in.substr(run, i - run), options, out);
    out += in[i];  // an invalid byte passes through
    run = ++i;
  }
  append_valid_run(in.substr(run), options, out);
  return out;
}

bool Normalizer::apply(std::string_view in, std::string& out) const {
  if (forms_.empty() || utf8::is_ascii(in)) return false;
  out = normalize_form(in, forms_[0]);
  for (size_t k = 1; k < forms_.size(); ++k) out = normalize_form(out, forms_[k]);
  if (out == in) return false;
  return true;
}

std::string Normalizer::apply_always(std::string_view in) const {
  std::string out(in);
  for (Form f : forms_) out = normalize_form(out, f);
  return out;
}

}  // namespace rlvr
