#include "loraft/paper/profile.h"

#include <set>
#include <system_error>

#include "loraft/core/error.h"
#include "loraft/core/strings.h"
#include "loraft/data/source.h"

namespace loraft::paper {
namespace fs = std::filesystem;
using io::Json;

namespace {

const std::set<std::string> kKeys{"note", "model", "vocab", "data", "train", "seeds",
                                  "sweep_seeds", "sweep", "loraplus_ratios", "threads", "fetch"};

// The spec with its path made absolute: `<kind>:<path>[:<split>]`, the path right after the
// kind in every form data::parse_dataset_spec reads.
std::string resolve_spec(const std::string& spec, const fs::path& root) {
  const auto colon = spec.find(':');
  if (colon == std::string::npos) return spec;  // parse_dataset_spec reports it
  fs::path rest = spec.substr(colon + 1);
  return rest.is_absolute() ? spec : spec.substr(0, colon + 1) + (root / rest).string();
}

// The integer `key` of object `j`, `fallback` when absent; ConfigError for any other value,
// floats included (nlohmann would convert 1e300 to an integer, which is undefined behaviour).
std::int64_t integer(const Json& j, const char* key, std::int64_t fallback, const std::string& where) {
  if (!j.is_object() || !j.contains(key)) return fallback;
  const Json& v = j.at(key);
  if (!v.is_number_integer()) throw ConfigError(std::string(key) + " is " + v.dump(), where, "an integer");
  return v.get<std::int64_t>();
}

std::string unresolve(const std::string& s, const fs::path& root) {
  const std::string prefix = root.string() + "/";
  auto at = s.find(prefix);
  return at == std::string::npos ? s : s.substr(0, at) + s.substr(at + prefix.size());
}

}  // namespace

const DataSetting& Profile::dataset(const std::string& data_name) const {
  auto it = data.find(data_name);
  if (it == data.end())
    throw ConfigError("profile " + name + " has no data set \"" + data_name + "\"", file.string(),
                      "data." + data_name + " with train and eval specs");
  return it->second;
}

train::TrainConfig Profile::config(train::Method method, std::uint64_t seed) const {
  train::TrainConfig c = base;
  c.method = method;
  c.seed = seed;
  return c;
}

std::vector<std::uint64_t> Profile::sweep_seed_list() const {
  const auto n = std::min<std::size_t>(seeds.size(), static_cast<std::size_t>(sweep_seeds));
  return {seeds.begin(), seeds.begin() + static_cast<std::ptrdiff_t>(n)};
}

Json Profile::to_json(const fs::path& root) const {
  Json d = Json::object();
  for (const auto& [k, v] : data)
    d[k] = Json{{"train", unresolve(v.train, root)}, {"eval", unresolve(v.eval, root)},
                {"train_limit", v.train_limit}, {"eval_limit", v.eval_limit}};
  Json sweep_json = Json::array();
  for (const auto& p : sweep) {
    auto c = config(train::Method::lora, 0);
    c.lora = p.lora;
    sweep_json.push_back(Json{{"label", p.label}, {"lora", c.to_json()["lora"]}});
  }
  return Json{{"name", name},
              {"note", note},
              {"model", unresolve(model.string(), root)},
              {"vocab", unresolve(vocab.string(), root)},
              {"data", d},
              {"train", base.to_json()},
              {"seeds", seeds},
              {"sweep_seeds", sweep_seeds},
              {"sweep", sweep_json},
              {"loraplus_ratios", loraplus_ratios},
              {"threads", threads}};
}

Profile Profile::load(const std::string& name_or_file, const fs::path& root_in) {
  const fs::path root = fs::absolute(root_in).lexically_normal();
  const bool is_file = name_or_file.find('/') != std::string::npos ||
                       fs::path(name_or_file).extension() == ".json";
  Profile p;
  p.file = is_file ? fs::absolute(name_or_file) : root / "paper" / "profiles" / (name_or_file + ".json");
  p.name = p.file.stem().string();
  if (!fs::exists(p.file))
    throw ConfigError("no profile \"" + name_or_file + "\"", p.file.string(),
                      "a profile name (smoke, mini, full) or a profile file");
  const Json j = io::read_json(p.file);
  const std::string where = p.file.string();
  if (!j.is_object()) throw ConfigError("a profile is a JSON object", where);
  for (auto& [key, value] : j.items())
    if (!kKeys.count(key)) throw ConfigError("unknown key \"" + key + "\"", where, "a profile field");

  // nlohmann's own errors (a number where a string belongs, a list of other things) are the
  // ConfigError every other bad value gives.
  try {
    std::map<std::string, std::string> fetch;
    if (j.contains("fetch")) fetch = j["fetch"].get<std::map<std::string, std::string>>();
    // A path the profile needs, made absolute. Missing ones are collected, with the command that
    // fetches each, so that one error names every download before anything runs.
    std::vector<std::string> missing;
    std::set<std::string> missing_paths;  // IMDB's train and test split share one folder
    auto need = [&](const std::string& relative, const std::string& what) {
      fs::path path = fs::path(relative).is_absolute() ? fs::path(relative) : root / relative;
      std::error_code ec;  // a path the file system cannot even look up (too long) is missing too
      if (!fs::exists(path, ec) && missing_paths.insert(relative).second) {
        std::string item = what + " " + relative;
        for (const auto& [prefix, command] : fetch)
          if (starts_with(relative, prefix)) item += " (get it with: " + command + ")";
        missing.push_back(item);
      }
      return path;
    };

    p.note = j.value("note", "");
    const auto model = io::get_field<std::string>(j, "model", where);
    p.model = need(model, "the model");
    const std::string vocab = j.value("vocab", (fs::path(model) / "vocab.txt").string());
    std::error_code ec;
    if (fs::exists(p.model, ec) || vocab.rfind(model, 0) != 0) p.vocab = need(vocab, "the vocabulary");
    else p.vocab = p.model / fs::path(vocab).lexically_relative(model);  // comes with the model's download
    const Json data_json = io::get_field<Json>(j, "data", where);
    for (auto it = data_json.begin(); it != data_json.end(); ++it) {
      const std::string data_name = it.key();
      const Json& d = it.value();
      const std::string dwhere = where + ": data." + data_name;
      DataSetting s;
      for (const char* key : {"train", "eval"}) {
        std::string spec = io::get_field<std::string>(d, key, dwhere);
        auto parsed = data::parse_dataset_spec(spec, dwhere + "." + key);
        need(parsed.path.string(), "the " + data_name + " " + key + " data");
        (std::string(key) == "train" ? s.train : s.eval) = resolve_spec(spec, root);
      }
      s.train_limit = integer(d, "train_limit", 0, dwhere);
      s.eval_limit = integer(d, "eval_limit", 0, dwhere);
      p.data[data_name] = s;
    }
    if (!missing.empty()) {
      std::string list;
      for (const auto& m : missing) list += (list.empty() ? "" : "; ") + m;
      throw ConfigError("profile " + p.name + " needs " + std::to_string(missing.size()) +
                            " missing download(s): " + list,
                        where);
    }
    p.base = train::TrainConfig::from_json(j.value("train", Json::object()), where + ": train");
    p.seeds = {42};
    if (j.contains("seeds")) {
      p.seeds.clear();
      for (const auto& seed : io::get_field<std::vector<Json>>(j, "seeds", where)) {
        if (!seed.is_number_unsigned()) throw ConfigError("seed " + seed.dump(), where, "non-negative integer seeds");
        p.seeds.push_back(seed.get<std::uint64_t>());
      }
    }
    if (p.seeds.empty()) throw ConfigError("seeds is empty", where, "at least one seed");
    p.sweep_seeds = integer(j, "sweep_seeds", 1, where);
    if (p.sweep_seeds < 1) throw ConfigError("sweep_seeds must be at least 1", where);
    for (const auto& point : j.value("sweep", Json::array())) {
      Json c = p.config(train::Method::lora, 0).to_json();
      c["lora"].merge_patch(io::get_field<Json>(point, "lora", where + ": sweep"));
      p.sweep.push_back({io::get_field<std::string>(point, "label", where + ": sweep"),
                         train::TrainConfig::from_json(c, where + ": sweep").lora});
    }
    p.loraplus_ratios = j.value("loraplus_ratios", std::vector<double>{});
    const std::int64_t threads = integer(j, "threads", 0, where);
    if (threads != static_cast<int>(threads)) throw ConfigError("threads " + std::to_string(threads), where, "an int");
    p.threads = static_cast<int>(threads);
  } catch (const io::Json::exception& e) {
    throw ConfigError(std::string("a value of the wrong type: ") + e.what(), where, "a profile as paper/profiles/*.json");
  }
  return p;
}

}  // namespace loraft::paper
