// The Python test harness, its payload and its report (code_harness.h).
#include "rlvr/rewards/code_harness.h"

#include <cstdint>
#include <nlohmann/json.hpp>
#include <random>

namespace rlvr {

namespace {

// Everything the harness uses after the program starts is bound to a local before it starts
// (os.write, compile, exec, BaseException, the original excepthook that prints a failure's
// traceback on stderr), so replacing builtins or module attributes changes nothing here. The
// program runs in its own globals; the report goes to the sandbox's result channel (fd 3, which
// subprocesses do not inherit), never to stdout. A test passes only when its statement ran
// without raising anything (SystemExit included); os._exit or a crash leaves the remaining
// tokens unwritten, that is, failed.
const char* const kHarness = R"PY(import builtins, json, os, sys
def _rlvr_harness():
    data = []
    while True:
        chunk = os.read(0, 65536)
        if not chunk:
            break
        data.append(chunk)
    spec = json.loads(b"".join(data))
    del data
    tok = spec.pop("tokens")
    syntax, ran = (tok["syntax"] + "\n").encode(), (tok["ran"] + "\n").encode()
    passes = [(t + "\n").encode() for t in tok["pass"]]
    del tok
    out = 3
    os.set_inheritable(out, False)
    write, compile_, exec_, enumerate_, base = os.write, compile, exec, enumerate, BaseException
    exc_info, hook = sys.exc_info, sys.__excepthook__
    def report(line):
        try:
            write(out, line)
        except base:
            pass
    def traceback():
        try:
            hook(*exc_info())
        except base:
            pass
    try:
        code = compile_(spec["program"], "solution.py", "exec")
    except base:
        traceback()
        report(syntax)
        return
    g = {"__name__": "__main__", "__builtins__": builtins}
    try:
        exec_(code, g)
    except base:
        traceback()
        return
    report(ran)
    try:
        exec_(compile_(spec["setup"], "test_setup", "exec"), g)
    except base:
        traceback()
        return
    for i, test in enumerate_(spec["tests"]):
        try:
            exec_(compile_(test, "test %d" % i, "exec"), g)
        except base:
            traceback()
            continue
        report(passes[i])
_rlvr_harness()
)PY";

std::string random_token() {
  static thread_local std::random_device rd;  // the kernel's random source
  static const char* const hex = "0123456789abcdef";
  std::string t;
  for (int w = 0; w < 4; ++w) {
    uint32_t v = rd();
    for (int k = 0; k < 8; ++k, v >>= 4) t.push_back(hex[v & 15u]);
  }
  return t;
}

}  // namespace

const std::string& python_test_harness() {
  static const std::string text = kHarness;
  return text;
}

HarnessTokens make_harness_tokens(size_t num_tests) {
  HarnessTokens t;
  t.syntax = random_token();
  t.ran = random_token();
  for (size_t i = 0; i < num_tests; ++i) t.pass.push_back(random_token());
  return t;
}

std::string harness_payload(const std::string& program, const std::string& setup,
                            const std::vector<std::string>& tests, const HarnessTokens& tokens) {
  const nlohmann::json j = {
      {"program", program},
      {"setup", setup},
      {"tests", tests},
      {"tokens", {{"syntax", tokens.syntax}, {"ran", tokens.ran}, {"pass", tokens.pass}}}};
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

HarnessReport read_harness_report(const std::string& channel, const HarnessTokens& tokens) {
  auto has = [&](const std::string& t) { return channel.find(t) != std::string::npos; };
  HarnessReport r;
  r.syntax_error = has(tokens.syntax);
  r.ran = has(tokens.ran);
  for (const auto& t : tokens.pass) r.passed += r.ran && has(t);
  return r;
}

}  // namespace rlvr
