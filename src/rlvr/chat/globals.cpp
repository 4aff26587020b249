// The global functions a chat template can call (jinja2's range, namespace and dict, and
// transformers' raise_exception and strftime_now), and Template::render.
#include <algorithm>
#include <ctime>

#include "rlvr/chat/renderer.h"
#include "rlvr/core/error.h"

namespace rlvr::jinja {

namespace {

int64_t int_arg(const Value& v, const char* what) {
  if (v.kind() != Kind::Int && v.kind() != Kind::Bool) fail(what, ": '", kind_name(v), "' object cannot be interpreted as an integer");
  return v.i();
}

Value range(Renderer& r, Args& a) {
  if (a.pos.empty() || a.pos.size() > 3 || !a.kw.empty()) fail("range expected 1 to 3 integer arguments");
  const bool one = a.pos.size() == 1;
  const int64_t start = one ? 0 : int_arg(a.pos[0], "range");
  const int64_t stop = int_arg(a.pos[one ? 0 : 1], "range");
  const int64_t step = a.pos.size() == 3 ? int_arg(a.pos[2], "range") : 1;
  if (step == 0) fail("range() arg 3 must not be zero");
  const long double span = static_cast<long double>(stop) - static_cast<long double>(start);
  const long double n = span / static_cast<long double>(step);
  r.check_size(n > 0 ? static_cast<size_t>(std::min<long double>(n + 1, 1e18L)) * sizeof(Value) : 0);
  Items out;
  for (int64_t i = start; step > 0 ? i < stop : i > stop; i += step) {
    r.count_step();
    out.emplace_back(i);
    if ((step > 0 && i > INT64_MAX - step) || (step < 0 && i < INT64_MIN - step)) break;
  }
  return Value::list(std::move(out));
}

Value make_namespace(Renderer&, Args& a) {
  Entries e;
  if (!a.pos.empty()) {
    if (a.pos.size() > 1 || a.pos[0].kind() != Kind::Dict) fail("namespace() takes one mapping and keyword arguments");
    e = a.pos[0].entries();
  }
  for (const auto& [k, v] : a.kw) e.emplace_back(k, v);
  return Value::namespace_(std::move(e));
}

Value make_dict(Renderer&, Args& a) {
  if (!a.pos.empty()) fail("dict() takes keyword arguments only here");
  return Value::dict(a.kw);
}

Value raise_exception(Renderer&, Args& a) {
  const Value msg = a.take(0, "message");
  fail("raise_exception: ", to_str(msg));
}

Value strftime_now(Renderer& r, Args& a) {
  const Value fmt = a.take(0, "format");
  a.done("strftime_now");
  if (!fmt.is_string()) fail("strftime_now() argument must be str, not ", kind_name(fmt));
  if (fmt.str().empty()) return Value("");
  const std::time_t now = r.options().now ? *r.options().now : std::time(nullptr);
  std::tm tm{};
  localtime_r(&now, &tm);
  for (size_t cap = 64; cap <= (size_t{1} << 20); cap *= 4) {
    std::string buf(cap, '\0');
    const size_t n = std::strftime(buf.data(), cap, fmt.str().c_str(), &tm);
    if (n > 0) return Value(buf.substr(0, n));
  }
  return Value("");  // a format that writes nothing
}

const FramePtr& builtins() {
  static const FramePtr frame = [] {
    auto f = std::make_shared<Frame>();
    f->vars = {{"range", Value::function("range", range)},
               {"namespace", Value::function("namespace", make_namespace)},
               {"dict", Value::function("dict", make_dict)},
               {"raise_exception", Value::function("raise_exception", raise_exception)},
               {"strftime_now", Value::function("strftime_now", strftime_now)}};
    return f;
  }();
  return frame;
}

}  // namespace

std::string Template::render(const Entries& vars, const RenderOptions& opt) const {
  auto root = std::make_shared<Frame>(Frame{builtins(), vars, nullptr});
  Renderer r(name_, opt);
  std::string out;
  r.exec(*body_, root, out);
  return out;
}

}  // namespace rlvr::jinja
